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

use crate::Record;

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
        // `process` reads the body twice. Each read starts from the first byte, also when the
        // host hands over a page that was read before.
        let open_body = || {
            page.rewind();
            common::PageReader::new(|max| page.read(max))
        };
        crate::process(&request, status, open_body, &mut WitHost)
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

    fn active_policies(
        &mut self,
        cursor: Option<&str>,
        limit: u32,
    ) -> (Vec<common::PolicyRef>, Option<String>) {
        let (policies, next) = host::active_policies(cursor, limit);
        let policies = policies
            .into_iter()
            .map(|policy| common::PolicyRef {
                id: policy.id,
                title: policy.title,
                last_evaluated: policy.last_evaluated,
                import_disabled: policy.import_disabled,
            })
            .collect();
        (policies, next)
    }
}

fn level_to_wit(level: common::LogLevel) -> host::Level {
    match level {
        common::LogLevel::Trace => host::Level::Trace,
        common::LogLevel::Debug => host::Level::Debug,
        common::LogLevel::Info => host::Level::Info,
        common::LogLevel::Warn => host::Level::Warn,
        common::LogLevel::Error => host::Level::Error,
    }
}

fn api_to_wit(api: common::Api) -> wit::Api {
    match api {
        common::Api::Classic => wit::Api::Classic,
        common::Api::Gateway => wit::Api::Gateway,
    }
}

fn api_from_wit(api: wit::Api) -> common::Api {
    match api {
        wit::Api::Classic => common::Api::Classic,
        wit::Api::Gateway => common::Api::Gateway,
    }
}

fn method_to_wit(method: common::Method) -> wit::Method {
    match method {
        common::Method::Get => wit::Method::Get,
        common::Method::Post => wit::Method::Post,
    }
}

fn method_from_wit(method: wit::Method) -> common::Method {
    match method {
        wit::Method::Get => common::Method::Get,
        wit::Method::Post => common::Method::Post,
    }
}

fn table_to_wit(table: common::Table) -> wit::Table {
    match table {
        common::Table::Policy => wit::Table::Policy,
        common::Table::Test => wit::Table::Test,
        common::Table::PolicyTest => wit::Table::PolicyTest,
        common::Table::Technology => wit::Table::Technology,
        common::Table::AuthSrc => wit::Table::AuthSrc,
        common::Table::Citation => wit::Table::Citation,
        common::Table::TestResult => wit::Table::TestResult,
        common::Table::Host => wit::Table::Host,
        common::Table::PolicyHostId => wit::Table::PolicyHostId,
    }
}

fn description_to_wit(description: common::Description) -> wit::Description {
    wit::Description {
        job_id: description.job_id,
        component_version: description.component_version,
        wit_version: description.wit_version,
        api: api_to_wit(description.api),
        tables: description.tables.into_iter().map(table_to_wit).collect(),
        snapshot: description.snapshot,
    }
}

fn request_to_wit(request: common::Request) -> wit::Request {
    wit::Request {
        api: api_to_wit(request.api),
        method: method_to_wit(request.method),
        path: request.path,
        query: request.query,
        body: request.body.map(|body| wit::Body {
            content_type: body.content_type,
            data: body.data,
        }),
        gzip: request.gzip,
        tag: request.tag,
    }
}

fn request_from_wit(request: wit::Request) -> common::Request {
    common::Request {
        api: api_from_wit(request.api),
        method: method_from_wit(request.method),
        path: request.path,
        query: request.query,
        body: request.body.map(|body| common::Body {
            content_type: body.content_type,
            data: body.data,
        }),
        gzip: request.gzip,
        tag: request.tag,
    }
}

fn plan_slice_to_wit(slice: common::PlanSlice) -> wit::PlanSlice {
    wit::PlanSlice {
        requests: slice.requests.into_iter().map(request_to_wit).collect(),
        cursor: slice.cursor,
    }
}

fn process_output_to_wit(output: common::ProcessOutput) -> wit::ProcessOutput {
    wit::ProcessOutput {
        follow_ups: output.follow_ups.into_iter().map(request_to_wit).collect(),
        warnings: output.warnings,
        response_datetime: output.response_datetime,
        complete_policies: output.complete_policies,
    }
}

fn job_error_to_wit(error: common::JobError) -> wit::JobError {
    match error {
        common::JobError::InvalidPage(message) => wit::JobError::InvalidPage(message),
        common::JobError::Qualys(error) => wit::JobError::Qualys(wit::QualysError {
            code: error.code,
            text: error.text,
            items: error.items,
        }),
        common::JobError::Host(message) => wit::JobError::Host(message),
        common::JobError::InvalidParameter(message) => wit::JobError::InvalidParameter(message),
    }
}

fn source_to_wit(source: Vec<common::SourceField>) -> Vec<wit::SourceField> {
    source
        .into_iter()
        .map(|field| wit::SourceField {
            name: field.name,
            value: field.value,
        })
        .collect()
}

fn optional_criticality_to_wit(
    criticality: Option<common::Criticality>,
) -> Option<wit::Criticality> {
    criticality.map(|criticality| wit::Criticality {
        label: criticality.label,
        value: criticality.value,
    })
}

fn record_to_wit(record: Record) -> wit::Record {
    match record {
        Record::TestResult(result) => wit::Record::TestResult(test_result_to_wit(*result)),
        Record::Host(host) => wit::Record::Host(scanned_host_to_wit(host)),
    }
}

fn test_result_to_wit(result: common::TestResult) -> wit::TestResult {
    wit::TestResult {
        key: wit::ResultKey {
            policy_id: result.key.policy_id,
            host_id: result.key.host_id,
            control_id: result.key.control_id,
            technology_id: result.key.technology_id,
            instance: result.key.instance,
        },
        status: result.status,
        previous_status: result.previous_status,
        first_fail_date: result.first_fail_date,
        last_fail_date: result.last_fail_date,
        first_pass_date: result.first_pass_date,
        last_pass_date: result.last_pass_date,
        posture_modified_date: result.posture_modified_date,
        evaluation_date: result.evaluation_date,
        criticality: optional_criticality_to_wit(result.criticality),
        control_statement: result.control_statement,
        control_reference: result.control_reference,
        remediation: result.remediation,
        expected_values: result.expected_values,
        actual_values: result.actual_values,
        source: source_to_wit(result.source),
    }
}

fn scanned_host_to_wit(host: common::ScannedHost) -> wit::ScannedHost {
    wit::ScannedHost {
        id: host.id,
        ip: host.ip,
        dns: host.dns,
        netbios: host.netbios,
        os: host.os,
        tracking_method: host.tracking_method,
        cloud_resource_id: host.cloud_resource_id,
        last_scan_date: host.last_scan_date,
        source: source_to_wit(host.source),
    }
}
