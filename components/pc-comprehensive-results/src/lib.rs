//! The "Qualys PC Comprehensive Results" job: refreshes the results that are not Passed.
//!
//! PC Results requests the postures whose status changed since its Start Time, so a
//! control that stays Failed never comes back and its last seen date ages. This job requests
//! the postures of exactly the results the store contains as not Passed, by evaluation date
//! (`evaluation_date` set to its own Start Time) and by host and control
//! (`host_ids`, `control_ids`), never by `status_changes_since`. Its pages parse as PC Results
//! pages do, and the host applies the same result lifecycle: a result now Passed closes.
//!
//! The plan walks the host's `results-not-passed` keys, which come ordered by policy, and
//! gathers each policy's failing hosts and controls. A request returns every pair of its hosts
//! and controls, passing ones included. So for each policy the plan takes the cheaper of two
//! shapes by estimated calls. One is all failing hosts with all failing controls, and the
//! other is one set of requests per group of controls that fail on the same hosts. Pairs that pass come back too,
//! and are stored like any other. The id lists are split so that no request URL is longer than
//! `max_url_length`, because one request with every id fails with "414 Request-URI Too Long".
//!
//! The `bindings` module adapts this plain library to the `pcsync:job` WIT world when built
//! for WebAssembly.

#[cfg(target_arch = "wasm32")]
mod bindings;

use std::collections::{BTreeMap, BTreeSet};

use pcsync_component_common::posture::{
    IdList, PostureFilter, PostureOptions, posture_request, request_url_len, start_time,
};
use pcsync_component_common::{
    Api, Description, JobError, JobHost, LogLevel, PlanSlice, Request, ResultKey, RunContext,
    Table, WIT_VERSION, api_version, format_result_key, positive_integer_parameter,
};

pub use pcsync_component_common::posture::{BATCH_SIZE, Record, process};

/// The job id the host identifies this component by.
pub const JOB_ID: &str = "pc-comprehensive-results";

/// The job parameter that bounds the length of every request URL, in characters.
pub const MAX_URL_LENGTH_PARAMETER: &str = "max_url_length";

/// The URL length used when `max_url_length` is absent or blank. Web servers commonly refuse
/// request lines from about 8 KiB.
pub const DEFAULT_MAX_URL_LENGTH: u32 = 8000;

/// The parameter whose value the host returns as the number of characters of the classic
/// API's base URL (such as `https://qualysapi.qg2.apps.qualys.com`), so that URL lengths
/// count whole.
pub const API_URL_LENGTH_PARAMETER: &str = "api_url_length";

/// The base URL length counted when the host does not give the base URL: longer than any
/// Qualys platform's API URL.
pub const DEFAULT_BASE_URL_LENGTH: usize = 64;

/// Room kept in every URL for the `&id_min=` and up to 20 digits that a truncation WARNING's
/// next-page URL adds to the request's own parameters.
pub const FOLLOW_UP_RESERVE: usize = 28;

/// Keys requested from `results-not-passed` in one call.
pub const KEYS_PER_CALL: u32 = 5000;

/// A plan slice ends at the first end of a policy after this many keys, so one `plan` call
/// stays short however many results a store holds.
pub const KEYS_PER_SLICE: usize = 50_000;

/// Active policies read from the host in one call.
const POLICIES_PER_CALL: u32 = 1000;

/// Describes the job to the host.
pub fn describe() -> Description {
    Description {
        job_id: JOB_ID.to_owned(),
        component_version: env!("CARGO_PKG_VERSION").to_owned(),
        wit_version: WIT_VERSION.to_owned(),
        api: Api::Classic,
        tables: vec![Table::TestResult, Table::Host],
        snapshot: false,
    }
}

/// The settings of one run's requests, from the job parameters and the run context.
#[derive(Debug, Clone)]
pub struct RequestShape {
    pub version: &'static str,
    pub options: PostureOptions,
    /// `evaluation_date`: the run's Start Time.
    pub evaluation_date: Option<String>,
    pub max_url_length: usize,
    pub base_url_length: usize,
}

impl RequestShape {
    /// Reads the settings. Fails with [`JobError::InvalidParameter`] for a parameter the job
    /// cannot use or a Start Time that is not a UTC datetime.
    pub fn from_host<H: JobHost>(context: &RunContext, host: &mut H) -> Result<Self, JobError> {
        let version = api_version(host)?;
        let options = PostureOptions::from_parameters(host)?;
        let evaluation_date = start_time(context)?;
        let max_url_length =
            positive_integer_parameter(host, MAX_URL_LENGTH_PARAMETER, DEFAULT_MAX_URL_LENGTH)?;
        let base_url_length = host
            .parameter(API_URL_LENGTH_PARAMETER)
            .and_then(|length| length.trim().parse::<usize>().ok())
            .filter(|length| *length > 0)
            .unwrap_or(DEFAULT_BASE_URL_LENGTH);
        Ok(Self {
            version,
            options,
            evaluation_date,
            max_url_length: max_url_length as usize,
            base_url_length,
        })
    }

    /// Builds the requests for one policy's failing `hosts` and `controls`: every host and
    /// control is in at least one request, and no URL is longer than `max_url_length` (with room for
    /// a next-page `id_min`).
    ///
    /// Fails with [`JobError::InvalidParameter`] when `max_url_length` leaves no room for one
    /// host id and one control id.
    pub fn policy_requests(
        &self,
        policy_id: u64,
        hosts: &BTreeSet<u64>,
        controls: &BTreeSet<u64>,
    ) -> Result<Vec<PlannedRequest>, JobError> {
        let request = |controls: &IdList, hosts: &IdList| {
            let filter = PostureFilter {
                status_changes_since: None,
                evaluation_date: self.evaluation_date.clone(),
                control_ids: Some(controls.as_str().to_owned()),
                host_ids: Some(hosts.as_str().to_owned()),
            };
            posture_request(self.version, policy_id, &self.options, &filter)
        };
        let empty = IdList::default();
        let fixed =
            request_url_len(self.base_url_length, &request(&empty, &empty)) + FOLLOW_UP_RESERVE;
        let largest = |ids: &BTreeSet<u64>| {
            let mut list = IdList::default();
            list.push(ids.last().copied().unwrap_or(0));
            list.encoded_len()
        };
        let too_short = || {
            JobError::InvalidParameter(format!(
                "{MAX_URL_LENGTH_PARAMETER} {} is too short for policy {policy_id}: a request \
                 with one host id and one control id needs {} characters; raise it",
                self.max_url_length,
                fixed + largest(hosts) + largest(controls)
            ))
        };
        let budget = self
            .max_url_length
            .checked_sub(fixed)
            .ok_or_else(too_short)?;

        // All controls in each request when they leave room for a host, else halves of the
        // budget for each list.
        let all_controls = IdList::split(controls.iter().copied(), usize::MAX).unwrap_or_default();
        let control_lists = match all_controls.first() {
            Some(list) if list.encoded_len() + largest(hosts) <= budget => all_controls,
            _ => IdList::split(controls.iter().copied(), budget / 2).ok_or_else(too_short)?,
        };
        let mut requests = Vec::new();
        for controls in &control_lists {
            let room = budget - controls.encoded_len();
            let host_lists = IdList::split(hosts.iter().copied(), room).ok_or_else(too_short)?;
            for hosts in &host_lists {
                requests.push(PlannedRequest {
                    request: request(controls, hosts),
                    pairs: (hosts.count() * controls.count()) as u64,
                });
            }
        }
        Ok(requests)
    }

    /// Estimates the HTTP calls of `requests`: each one, plus a call for every further page
    /// of `truncation_limit` postures that its host and control pairs could fill. A pair
    /// with several technologies or instances has more postures, which the estimate leaves
    /// out.
    pub fn estimated_calls(&self, requests: &[PlannedRequest]) -> u64 {
        let per_page = u64::from(self.options.truncation_limit.max(1));
        requests
            .iter()
            .map(|planned| planned.pairs.div_ceil(per_page).max(1))
            .sum()
    }
}

/// A posture info request with the number of host and control pairs it covers.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    pub request: Request,
    pub pairs: u64,
}

/// The failing hosts and controls of one policy, as the plan gathers them.
///
/// Its memory follows the policy's failing host and control pairs, 8 bytes each, because
/// `hosts_by_control` lists them all.
struct PolicyGroup {
    policy_id: u64,
    hosts: BTreeSet<u64>,
    /// The failing hosts of each control, in ascending order because keys arrive ordered by
    /// host within a policy.
    hosts_by_control: BTreeMap<u64, Vec<u64>>,
    results: u64,
    last_key: ResultKey,
}

impl PolicyGroup {
    fn new(key: &ResultKey) -> Self {
        Self {
            policy_id: key.policy_id,
            hosts: BTreeSet::new(),
            hosts_by_control: BTreeMap::new(),
            results: 0,
            last_key: key.clone(),
        }
    }

    fn add(&mut self, key: ResultKey) {
        self.hosts.insert(key.host_id);
        let hosts = self.hosts_by_control.entry(key.control_id).or_default();
        if hosts.last() != Some(&key.host_id) {
            hosts.push(key.host_id);
        }
        self.results += 1;
        self.last_key = key;
    }

    /// Chooses the requests for this policy from two plans, by the fewer estimated calls:
    ///
    /// - every failing host with every failing control, in as few URLs as fit, which also
    ///   returns the pairs that pass;
    /// - for each set of controls that fail on exactly the same hosts, those hosts and
    ///   controls, which returns few pairs that pass but can take more requests.
    ///
    /// A tie goes to the first plan, which has fewer requests.
    fn requests(
        self,
        shape: &RequestShape,
    ) -> Result<(Vec<PlannedRequest>, &'static str), JobError> {
        let controls: BTreeSet<u64> = self.hosts_by_control.keys().copied().collect();
        let every_pair = shape.policy_requests(self.policy_id, &self.hosts, &controls)?;
        if self.hosts_by_control.len() < 2 {
            return Ok((every_pair, "every pair"));
        }

        let mut controls_by_hosts: BTreeMap<Vec<u64>, BTreeSet<u64>> = BTreeMap::new();
        for (control, hosts) in self.hosts_by_control {
            controls_by_hosts.entry(hosts).or_default().insert(control);
        }
        let mut by_host_set = Vec::new();
        for (hosts, controls) in controls_by_hosts {
            let hosts: BTreeSet<u64> = hosts.into_iter().collect();
            by_host_set.extend(shape.policy_requests(self.policy_id, &hosts, &controls)?);
        }

        if shape.estimated_calls(&by_host_set) < shape.estimated_calls(&every_pair) {
            Ok((by_host_set, "controls grouped by failing hosts"))
        } else {
            Ok((every_pair, "every pair"))
        }
    }
}

/// The counts of one plan slice, for its log line.
#[derive(Default)]
struct SliceReport {
    policies: u64,
    results: u64,
    skipped_policies: u64,
    skipped_results: u64,
}

/// Plans one slice of a run: the requests for whole policies' results that are not Passed,
/// read from the host after `cursor`. The slice's cursor is the text form of the last key it
/// covered. Results of policies that are not active, or whose import is disabled, get no
/// request.
///
/// Fails with [`JobError::InvalidParameter`] if a job parameter has a value the job cannot use
/// or the Start Time is not a UTC datetime, checked before any result is read.
pub fn plan<H: JobHost>(
    context: &RunContext,
    cursor: Option<&str>,
    host: &mut H,
) -> Result<PlanSlice, JobError> {
    let shape = RequestShape::from_host(context, host)?;
    let policies = policy_states(host);

    let mut report = SliceReport::default();
    let mut requests = Vec::new();
    let mut group: Option<PolicyGroup> = None;
    let mut keys_read = 0usize;
    let mut cursor = cursor.map(str::to_owned);
    let next_cursor = 'read: loop {
        let (keys, next) = host.results_not_passed(cursor.as_deref(), KEYS_PER_CALL);
        for key in keys {
            if let Some(done) = group.take_if(|group| group.policy_id != key.policy_id) {
                let last_key = format_result_key(&done.last_key);
                plan_policy(&shape, done, &policies, &mut requests, &mut report, host)?;
                if keys_read >= KEYS_PER_SLICE {
                    break 'read Some(last_key);
                }
            }
            group.get_or_insert_with(|| PolicyGroup::new(&key)).add(key);
            keys_read += 1;
        }
        match next {
            // A cursor that does not move would read the same keys forever.
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                host.log(
                    LogLevel::Warn,
                    &format!(
                        "results-not-passed returned the cursor it was given ({next:?}); \
                         ending the plan here"
                    ),
                );
                break 'read None;
            }
            Some(next) => cursor = Some(next),
            None => break 'read None,
        }
    };
    if next_cursor.is_none()
        && let Some(done) = group.take()
    {
        plan_policy(&shape, done, &policies, &mut requests, &mut report, host)?;
    }

    host.log(
        LogLevel::Info,
        &format!(
            "planned {} posture info requests for {} results that are not Passed in {} \
             policies, evaluated since {}; skipped {} results in {} policies that are inactive, \
             unknown or import-disabled; next cursor {next_cursor:?}",
            requests.len(),
            report.results,
            report.policies,
            shape.evaluation_date.as_deref().unwrap_or("the beginning"),
            report.skipped_results,
            report.skipped_policies,
        ),
    );
    Ok(PlanSlice {
        requests,
        cursor: next_cursor,
    })
}

/// Adds the requests of one policy's group, or counts it as skipped when the policy is not
/// active or its import is disabled.
fn plan_policy<H: JobHost>(
    shape: &RequestShape,
    group: PolicyGroup,
    policies: &BTreeMap<u64, bool>,
    requests: &mut Vec<Request>,
    report: &mut SliceReport,
    host: &mut H,
) -> Result<(), JobError> {
    match policies.get(&group.policy_id) {
        Some(false) => {
            let (policy_id, results) = (group.policy_id, group.results);
            let (hosts, controls) = (group.hosts.len(), group.hosts_by_control.len());
            let (added, plan) = group.requests(shape)?;
            host.log(
                LogLevel::Debug,
                &format!(
                    "policy {policy_id}: {results} results that are not Passed on {hosts} hosts \
                     and {controls} controls; {} requests ({plan}), about {} calls",
                    added.len(),
                    shape.estimated_calls(&added)
                ),
            );
            requests.extend(added.into_iter().map(|planned| planned.request));
            report.policies += 1;
            report.results += results;
        }
        _ => {
            report.skipped_policies += 1;
            report.skipped_results += group.results;
        }
    }
    Ok(())
}

/// Reads every active policy's id, with whether its import is disabled.
fn policy_states<H: JobHost>(host: &mut H) -> BTreeMap<u64, bool> {
    let mut policies = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = host.active_policies(cursor.as_deref(), POLICIES_PER_CALL);
        let empty = page.is_empty();
        for policy in page {
            policies.insert(policy.id, policy.import_disabled);
        }
        match next {
            Some(next) if !empty && cursor.as_deref() != Some(next.as_str()) => {
                cursor = Some(next);
            }
            Some(next) => {
                host.log(
                    LogLevel::Warn,
                    &format!(
                        "active-policies returned cursor {next:?} after cursor {cursor:?} \
                         without progress; using the {} policies read so far",
                        policies.len()
                    ),
                );
                break;
            }
            None => break,
        }
    }
    policies
}
