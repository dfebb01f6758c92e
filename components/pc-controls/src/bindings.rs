//! The `pcsync:job` WIT binding: converts between the plain types of this crate and the WIT
//! types, and forwards the host imports.

wit_bindgen::generate!({
    world: "job-component",
    path: "../../wit",
});

use exports::pcsync::job::job::Guest;
use pcsync::job::host;
use pcsync::job::types as wit;
use pcsync_component_common as common;

use crate::{Control, Record};

struct Component;

impl Guest for Component {
    fn describe() -> wit::Description {
        description_to_wit(crate::describe())
    }

    fn plan(
        context: wit::RunContext,
        cursor: Option<String>,
    ) -> Result<wit::PlanSlice, wit::JobError> {
        let context = common::RunContext {
            run_id: context.run_id,
            start_time: context.start_time,
        };
        crate::plan(&context, cursor.as_deref(), &mut WitHost)
            .map(plan_slice_to_wit)
            .map_err(job_error_to_wit)
    }

    fn process(
        request: wit::Request,
        page: &host::Page,
    ) -> Result<wit::ProcessOutput, wit::JobError> {
        let request = request_from_wit(request);
        let status = page.status();
        // The body is read from its first byte even if the host handed over a page that was
        // read before.
        page.rewind();
        let body = common::PageReader::new(|max| page.read(max));
        crate::process(&request, status, body, &mut WitHost)
            .map(process_output_to_wit)
            .map_err(job_error_to_wit)
    }
}

export!(Component);

/// The host imports, for the plain library.
struct WitHost;

impl common::JobHost for WitHost {
    type Record = Record;

    fn log(&mut self, level: common::LogLevel, message: &str) {
        host::log(level_to_wit(level), message);
    }

    fn emit(&mut self, records: Vec<Record>) -> Result<(), String> {
        let records: Vec<wit::Record> = records.into_iter().map(record_to_wit).collect();
        host::emit(&records)
    }

    fn parameter(&mut self, name: &str) -> Option<String> {
        host::parameter(name)
    }
}

pcsync_component_common::wit_conversions!();

fn record_to_wit(record: Record) -> wit::Record {
    match record {
        Record::Test(control) => wit::Record::Test(control_to_wit(*control)),
        Record::Technology(technology) => wit::Record::Technology(wit::Technology {
            id: technology.id,
            name: technology.name,
            source: source_to_wit(technology.source),
        }),
        Record::AuthSrc(auth_src) => wit::Record::AuthSrc(wit::AuthSrc {
            id: auth_src.id,
            name: auth_src.name,
            source: source_to_wit(auth_src.source),
        }),
        Record::Citation(citation) => wit::Record::Citation(wit::Citation {
            auth_src_id: citation.auth_src_id,
            control_id: citation.control_id,
            reference: citation.reference,
            source: source_to_wit(citation.source),
        }),
    }
}

fn named_id_to_wit(named: common::NamedId) -> wit::NamedId {
    wit::NamedId {
        id: named.id,
        name: named.name,
    }
}

fn control_to_wit(control: Control) -> wit::Control {
    wit::Control {
        id: control.id,
        statement: control.statement,
        category: control.category.map(named_id_to_wit),
        sub_category: control.sub_category.map(named_id_to_wit),
        criticality: optional_criticality_to_wit(control.criticality),
        check_type: control.check_type,
        comment: control.comment,
        ignore_error: control.ignore_error,
        active: control.active,
        created: control.created,
        updated: control.updated,
        remediation: control.remediation,
        technologies: control
            .technologies
            .into_iter()
            .map(|technology| wit::ControlTechnology {
                technology_id: technology.technology_id,
                name: technology.name,
                rationale: technology.rationale,
            })
            .collect(),
        frameworks: control
            .frameworks
            .into_iter()
            .map(|framework| wit::ControlFramework {
                framework_id: framework.framework_id,
                framework_name: framework.framework_name,
                references: framework.references,
            })
            .collect(),
        source: source_to_wit(control.source),
    }
}
