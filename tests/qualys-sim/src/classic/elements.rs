//! Control details that the policy export and the control list share: controls with their
//! technologies and frameworks resolved, and the one-line elements that show them.

use std::collections::HashMap;

use crate::dataset::{Control, Criticality, Dataset, Framework, Technology};
use crate::xml::Line;

/// A control copied out of the data set with the names of its technologies and frameworks,
/// so that it can be rendered after the data set's lock is released.
///
/// Technology and framework ids that the data set does not contain (a test removed them) are
/// left out.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedControl {
    pub(crate) control: Control,
    /// Technologies with their rationale, in the control's order.
    pub(crate) technologies: Vec<(Technology, String)>,
    /// Frameworks with their references, in the control's order.
    pub(crate) frameworks: Vec<(Framework, Vec<String>)>,
}

/// Technologies and frameworks of a data set by id.
pub(crate) struct Lookup<'a> {
    technologies: HashMap<u64, &'a Technology>,
    frameworks: HashMap<u64, &'a Framework>,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(dataset: &'a Dataset) -> Self {
        Self {
            technologies: dataset.technologies.iter().map(|t| (t.id, t)).collect(),
            frameworks: dataset.frameworks.iter().map(|f| (f.id, f)).collect(),
        }
    }

    pub(crate) fn technology(&self, id: u64) -> Option<&'a Technology> {
        self.technologies.get(&id).copied()
    }

    pub(crate) fn resolve(&self, control: &Control) -> ResolvedControl {
        let technologies = control
            .technologies
            .iter()
            .filter_map(|(id, rationale)| {
                let technology = self.technologies.get(id)?;
                Some(((*technology).clone(), rationale.clone()))
            })
            .collect();
        let frameworks = control
            .frameworks
            .iter()
            .filter_map(|(id, references)| {
                let framework = self.frameworks.get(id)?;
                Some(((*framework).clone(), references.clone()))
            })
            .collect();
        ResolvedControl {
            control: control.clone(),
            technologies,
            frameworks,
        }
    }
}

/// Returns `<CRITICALITY><LABEL><![CDATA[SERIOUS]]></LABEL><VALUE>3</VALUE></CRITICALITY>`.
pub(crate) fn criticality_line(criticality: Criticality) -> Line {
    let mut line = Line::new();
    line.open("CRITICALITY")
        .cdata("LABEL", criticality.label())
        .number("VALUE", criticality.value())
        .close("CRITICALITY");
    line
}

/// Returns `<TECHNOLOGY><ID>..</ID><NAME>..</NAME></TECHNOLOGY>`, with a RATIONALE child after
/// NAME when `rationale` is given.
pub(crate) fn technology_line(technology: &Technology, rationale: Option<&str>) -> Line {
    let mut line = Line::new();
    line.open("TECHNOLOGY")
        .number("ID", technology.id)
        .cdata("NAME", &technology.name);
    if let Some(rationale) = rationale {
        line.cdata("RATIONALE", rationale);
    }
    line.close("TECHNOLOGY");
    line
}

/// Returns `<FRAMEWORK><ID>..</ID><NAME>..</NAME><REFERENCE_LIST><REFERENCE>..</REFERENCE>
/// </REFERENCE_LIST></FRAMEWORK>` on one line.
pub(crate) fn framework_line(framework: &Framework, references: &[String]) -> Line {
    let mut line = Line::new();
    line.open("FRAMEWORK")
        .number("ID", framework.id)
        .cdata("NAME", &framework.name)
        .open("REFERENCE_LIST");
    for reference in references {
        line.cdata("REFERENCE", reference);
    }
    line.close("REFERENCE_LIST").close("FRAMEWORK");
    line
}
