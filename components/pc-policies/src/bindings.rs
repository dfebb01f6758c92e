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

use crate::{Policy, Stamp};

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
        // The body is read from its first byte even if the host handed over a page that was
        // read before.
        page.rewind();
        let body = common::PageReader::new(|max| page.read(max));
        crate::process(&request, body, &mut WitHost)
            .map(process_output_to_wit)
            .map_err(job_error_to_wit)
    }
}

export!(Component);

/// The host imports, for the plain library.
struct WitHost;

impl common::JobHost for WitHost {
    type Record = Policy;

    fn log(&mut self, level: common::LogLevel, message: &str) {
        host::log(level_to_wit(level), message);
    }

    fn emit(&mut self, records: Vec<Policy>) -> Result<(), String> {
        let records: Vec<wit::Record> = records
            .into_iter()
            .map(|policy| wit::Record::Policy(policy_to_wit(policy)))
            .collect();
        host::emit(&records)
    }

    fn parameter(&mut self, name: &str) -> Option<String> {
        host::parameter(name)
    }
}

pcsync_component_common::wit_conversions!();

fn stamp_to_wit(stamp: Stamp) -> wit::Stamp {
    wit::Stamp {
        datetime: stamp.datetime,
        by: stamp.by,
    }
}

fn policy_to_wit(policy: Policy) -> wit::Policy {
    wit::Policy {
        id: policy.id,
        title: policy.title,
        created: stamp_to_wit(policy.created),
        last_modified: stamp_to_wit(policy.last_modified),
        last_evaluated: policy.last_evaluated,
        status: policy.status,
        locked: policy.locked,
        technology_ids: policy.technology_ids,
        source: policy
            .source
            .into_iter()
            .map(|field| wit::SourceField {
                name: field.name,
                value: field.value,
            })
            .collect(),
    }
}
