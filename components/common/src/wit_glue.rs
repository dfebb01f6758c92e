//! Macros that write a component's `pcsync:job` WIT binding: the conversions between this
//! crate's plain types and the WIT types that every component needs, and the whole binding of
//! a results job.
//!
//! wit-bindgen generates the WIT types inside each component crate, so conversions to them
//! cannot be plain functions here. The macros expand them in the crate that calls them, in a
//! module where `wit_bindgen::generate!` has made `pcsync::job::host` and
//! `pcsync::job::types` (imported as `host` and `wit`).

/// Expands the conversions between the plain types of this crate and the WIT types that every
/// component uses: log level, API, method, table, description, request, plan slice, process
/// output, job error, source fields and criticality.
#[macro_export]
macro_rules! wit_conversions {
    () => {
        #[allow(dead_code)]
        fn level_to_wit(level: $crate::LogLevel) -> host::Level {
            match level {
                $crate::LogLevel::Trace => host::Level::Trace,
                $crate::LogLevel::Debug => host::Level::Debug,
                $crate::LogLevel::Info => host::Level::Info,
                $crate::LogLevel::Warn => host::Level::Warn,
                $crate::LogLevel::Error => host::Level::Error,
            }
        }

        #[allow(dead_code)]
        fn api_to_wit(api: $crate::Api) -> wit::Api {
            match api {
                $crate::Api::Classic => wit::Api::Classic,
                $crate::Api::Gateway => wit::Api::Gateway,
            }
        }

        #[allow(dead_code)]
        fn api_from_wit(api: wit::Api) -> $crate::Api {
            match api {
                wit::Api::Classic => $crate::Api::Classic,
                wit::Api::Gateway => $crate::Api::Gateway,
            }
        }

        #[allow(dead_code)]
        fn method_to_wit(method: $crate::Method) -> wit::Method {
            match method {
                $crate::Method::Get => wit::Method::Get,
                $crate::Method::Post => wit::Method::Post,
            }
        }

        #[allow(dead_code)]
        fn method_from_wit(method: wit::Method) -> $crate::Method {
            match method {
                wit::Method::Get => $crate::Method::Get,
                wit::Method::Post => $crate::Method::Post,
            }
        }

        #[allow(dead_code)]
        fn table_to_wit(table: $crate::Table) -> wit::Table {
            match table {
                $crate::Table::Policy => wit::Table::Policy,
                $crate::Table::Test => wit::Table::Test,
                $crate::Table::PolicyTest => wit::Table::PolicyTest,
                $crate::Table::Technology => wit::Table::Technology,
                $crate::Table::AuthSrc => wit::Table::AuthSrc,
                $crate::Table::Citation => wit::Table::Citation,
                $crate::Table::TestResult => wit::Table::TestResult,
                $crate::Table::Host => wit::Table::Host,
                $crate::Table::PolicyHostId => wit::Table::PolicyHostId,
            }
        }

        #[allow(dead_code)]
        fn description_to_wit(description: $crate::Description) -> wit::Description {
            wit::Description {
                job_id: description.job_id,
                component_version: description.component_version,
                wit_version: description.wit_version,
                api: api_to_wit(description.api),
                tables: description.tables.into_iter().map(table_to_wit).collect(),
                snapshot: description.snapshot,
            }
        }

        #[allow(dead_code)]
        fn request_to_wit(request: $crate::Request) -> wit::Request {
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

        #[allow(dead_code)]
        fn request_from_wit(request: wit::Request) -> $crate::Request {
            $crate::Request {
                api: api_from_wit(request.api),
                method: method_from_wit(request.method),
                path: request.path,
                query: request.query,
                body: request.body.map(|body| $crate::Body {
                    content_type: body.content_type,
                    data: body.data,
                }),
                gzip: request.gzip,
                tag: request.tag,
            }
        }

        #[allow(dead_code)]
        fn plan_slice_to_wit(slice: $crate::PlanSlice) -> wit::PlanSlice {
            wit::PlanSlice {
                requests: slice.requests.into_iter().map(request_to_wit).collect(),
                cursor: slice.cursor,
            }
        }

        #[allow(dead_code)]
        fn process_output_to_wit(output: $crate::ProcessOutput) -> wit::ProcessOutput {
            wit::ProcessOutput {
                follow_ups: output.follow_ups.into_iter().map(request_to_wit).collect(),
                warnings: output.warnings,
                response_datetime: output.response_datetime,
                complete_policies: output.complete_policies,
            }
        }

        #[allow(dead_code)]
        fn job_error_to_wit(error: $crate::JobError) -> wit::JobError {
            match error {
                $crate::JobError::InvalidPage(message) => wit::JobError::InvalidPage(message),
                $crate::JobError::Qualys(error) => wit::JobError::Qualys(wit::QualysError {
                    code: error.code,
                    text: error.text,
                    items: error.items,
                }),
                $crate::JobError::Host(message) => wit::JobError::Host(message),
                $crate::JobError::InvalidParameter(message) => {
                    wit::JobError::InvalidParameter(message)
                }
            }
        }

        #[allow(dead_code)]
        fn source_to_wit(source: Vec<$crate::SourceField>) -> Vec<wit::SourceField> {
            source
                .into_iter()
                .map(|field| wit::SourceField {
                    name: field.name,
                    value: field.value,
                })
                .collect()
        }

        #[allow(dead_code)]
        fn optional_criticality_to_wit(
            criticality: Option<$crate::Criticality>,
        ) -> Option<wit::Criticality> {
            criticality.map(|criticality| wit::Criticality {
                label: criticality.label,
                value: criticality.value,
            })
        }
    };
}

/// Expands the whole WIT binding of a results job whose crate has `describe`, `plan` and
/// `process` functions over [`crate::posture::Record`]: `wit_bindgen::generate!`, the export,
/// the host imports (with `active-policies` and `results-not-passed`) and every conversion.
#[macro_export]
// `crate::describe`, `crate::plan` and `crate::process` are the calling crate's own functions.
#[allow(clippy::crate_in_macro_def)]
macro_rules! results_component {
    () => {
        wit_bindgen::generate!({
            world: "job-component",
            path: "../../wit",
        });

        use exports::pcsync::job::job::Guest;
        use pcsync::job::host;
        use pcsync::job::types as wit;

        $crate::wit_conversions!();

        struct Component;

        impl Guest for Component {
            fn describe() -> wit::Description {
                description_to_wit(crate::describe())
            }

            fn plan(
                context: wit::RunContext,
                cursor: Option<String>,
            ) -> Result<wit::PlanSlice, wit::JobError> {
                let context = $crate::RunContext {
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
                // `process` reads the body twice. Each read starts from the first byte, also
                // when the host hands over a page that was read before.
                let open_body = || {
                    page.rewind();
                    $crate::PageReader::new(|max| page.read(max))
                };
                crate::process(&request, status, open_body, &mut WitHost)
                    .map(process_output_to_wit)
                    .map_err(job_error_to_wit)
            }
        }

        export!(Component);

        /// The host imports, for the plain library.
        struct WitHost;

        impl $crate::JobHost for WitHost {
            type Record = $crate::posture::Record;

            fn log(&mut self, level: $crate::LogLevel, message: &str) {
                host::log(level_to_wit(level), message);
            }

            fn emit(&mut self, records: Vec<$crate::posture::Record>) -> Result<(), String> {
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
            ) -> (Vec<$crate::PolicyRef>, Option<String>) {
                let (policies, next) = host::active_policies(cursor, limit);
                let policies = policies
                    .into_iter()
                    .map(|policy| $crate::PolicyRef {
                        id: policy.id,
                        title: policy.title,
                        last_evaluated: policy.last_evaluated,
                        import_disabled: policy.import_disabled,
                    })
                    .collect();
                (policies, next)
            }

            fn results_not_passed(
                &mut self,
                cursor: Option<&str>,
                limit: u32,
            ) -> (Vec<$crate::ResultKey>, Option<String>) {
                let (keys, next) = host::results_not_passed(cursor, limit);
                let keys = keys
                    .into_iter()
                    .map(|key| $crate::ResultKey {
                        policy_id: key.policy_id,
                        host_id: key.host_id,
                        control_id: key.control_id,
                        technology_id: key.technology_id,
                        instance: key.instance,
                    })
                    .collect();
                (keys, next)
            }
        }

        fn record_to_wit(record: $crate::posture::Record) -> wit::Record {
            match record {
                $crate::posture::Record::TestResult(result) => {
                    wit::Record::TestResult(test_result_to_wit(*result))
                }
                $crate::posture::Record::Host(host) => wit::Record::Host(scanned_host_to_wit(host)),
            }
        }

        fn test_result_to_wit(result: $crate::TestResult) -> wit::TestResult {
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

        fn scanned_host_to_wit(host: $crate::ScannedHost) -> wit::ScannedHost {
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
    };
}
