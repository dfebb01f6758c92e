//! The plan of PC Comprehensive Results over a fake host: which results get requests, what the
//! requests ask for, and that no request URL is longer than `max_url_length`.

use std::collections::{BTreeMap, BTreeSet};

use pc_comprehensive_results::{
    DEFAULT_MAX_URL_LENGTH, FOLLOW_UP_RESERVE, KEYS_PER_SLICE, Record, describe, plan,
};
use pcsync_component_common::posture::request_url_len;
use pcsync_component_common::{
    JobError, JobHost, LogLevel, PolicyRef, Request, ResultKey, RunContext, Table,
    format_result_key,
};

const START: &str = "2026-11-27T10:00:00Z";

/// A host with results that are not Passed, active policies and parameters.
#[derive(Default)]
struct FakeHost {
    keys: Vec<ResultKey>,
    policies: Vec<PolicyRef>,
    parameters: BTreeMap<String, String>,
    logs: Vec<(LogLevel, String)>,
    /// When set, `results_not_passed` returns this cursor with no keys.
    stuck_cursor: Option<String>,
}

impl FakeHost {
    fn with_keys(mut self, keys: impl IntoIterator<Item = ResultKey>) -> Self {
        self.keys.extend(keys);
        self.keys.sort();
        self
    }

    fn with_policy(mut self, id: u64, import_disabled: bool) -> Self {
        self.policies.push(PolicyRef {
            id,
            title: format!("policy {id}"),
            last_evaluated: None,
            import_disabled,
        });
        self
    }

    fn with_parameter(mut self, name: &str, value: &str) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }
}

impl JobHost for FakeHost {
    type Record = Record;

    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    fn emit(&mut self, _records: Vec<Record>) -> Result<(), String> {
        Err("plan must not emit".into())
    }

    fn parameter(&mut self, name: &str) -> Option<String> {
        self.parameters.get(name).cloned()
    }

    fn active_policies(
        &mut self,
        cursor: Option<&str>,
        limit: u32,
    ) -> (Vec<PolicyRef>, Option<String>) {
        let after: u64 = cursor.map_or(0, |text| text.parse().unwrap());
        let page: Vec<PolicyRef> = self
            .policies
            .iter()
            .filter(|policy| cursor.is_none() || policy.id > after)
            .take(limit as usize)
            .cloned()
            .collect();
        let next = (page.len() == limit as usize).then(|| page.last().unwrap().id.to_string());
        (page, next)
    }

    fn results_not_passed(
        &mut self,
        cursor: Option<&str>,
        limit: u32,
    ) -> (Vec<ResultKey>, Option<String>) {
        if let Some(stuck) = &self.stuck_cursor {
            return (Vec::new(), Some(stuck.clone()));
        }
        let start = match cursor {
            None => 0,
            Some(text) => self
                .keys
                .iter()
                .position(|key| format_result_key(key) == text)
                .map_or(self.keys.len(), |index| index + 1),
        };
        let page: Vec<ResultKey> = self.keys[start..]
            .iter()
            .take(limit as usize)
            .cloned()
            .collect();
        let next =
            (start + page.len() < self.keys.len()).then(|| format_result_key(page.last().unwrap()));
        (page, next)
    }
}

fn key(policy: u64, host: u64, control: u64) -> ResultKey {
    ResultKey::new(policy, host, control, 45, None)
}

fn context() -> RunContext {
    RunContext {
        run_id: "7".into(),
        start_time: Some(START.into()),
    }
}

fn param<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn ids(request: &Request, name: &str) -> BTreeSet<u64> {
    param(request, name)
        .unwrap_or_else(|| panic!("request without {name}: {request:?}"))
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect()
}

/// Returns the (policy, host, control) triples the requests cover.
fn covered(requests: &[Request]) -> BTreeSet<(u64, u64, u64)> {
    let mut covered = BTreeSet::new();
    for request in requests {
        let policy: u64 = request.tag.parse().unwrap();
        for host in ids(request, "host_ids") {
            for control in ids(request, "control_ids") {
                covered.insert((policy, host, control));
            }
        }
    }
    covered
}

/// Plans every slice, as the host does, and returns every request and the number of slices.
fn plan_all(host: &mut FakeHost) -> Result<(Vec<Request>, usize), JobError> {
    let mut requests = Vec::new();
    let mut cursor: Option<String> = None;
    let mut slices = 0;
    loop {
        let slice = plan(&context(), cursor.as_deref(), host)?;
        slices += 1;
        requests.extend(slice.requests);
        match slice.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((requests, slices)),
        }
    }
}

#[test]
fn describe_results_job() {
    let description = describe();
    assert_eq!(description.job_id, "pc-comprehensive-results");
    assert_eq!(description.tables, vec![Table::TestResult, Table::Host]);
    assert!(!description.snapshot);
}

#[test]
fn plan_filters_active_policies_by_evaluation() {
    let mut host = FakeHost::default()
        .with_policy(10, false)
        .with_policy(20, true)
        .with_keys([
            key(10, 1001, 71),
            key(10, 1001, 72),
            key(10, 1002, 72),
            key(20, 1001, 71),
            key(30, 1003, 73),
        ]);
    let (requests, slices) = plan_all(&mut host).unwrap();
    assert_eq!(slices, 1);
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.tag, "10");
    assert_eq!(param(request, "policy_id"), Some("10"));
    assert_eq!(param(request, "evaluation_date"), Some(START));
    assert_eq!(param(request, "status_changes_since"), None);
    assert_eq!(param(request, "details"), Some("All"));
    assert_eq!(ids(request, "host_ids"), BTreeSet::from([1001, 1002]));
    assert_eq!(ids(request, "control_ids"), BTreeSet::from([71, 72]));

    let (_, summary) = host
        .logs
        .iter()
        .find(|(level, _)| *level == LogLevel::Info)
        .unwrap();
    assert!(
        summary.contains("skipped 2 results in 2 policies"),
        "{summary}"
    );
}

#[test]
fn plan_5000_hosts_under_url_limit() {
    let hosts = 2_000_000..2_005_000u64;
    let controls = [1071, 1072, 2244, 10_455];
    let keys = hosts
        .clone()
        .flat_map(|host| controls.iter().map(move |control| key(10, host, *control)));
    let base_url_length = "https://qualysapi.qg2.apps.qualys.com".len();
    let mut host = FakeHost::default()
        .with_policy(10, false)
        .with_parameter("api_url_length", &base_url_length.to_string())
        .with_keys(keys);
    let (requests, _) = plan_all(&mut host).unwrap();

    assert!(requests.len() > 1, "{} requests", requests.len());
    for request in &requests {
        let length = request_url_len(base_url_length, request) + FOLLOW_UP_RESERVE;
        assert!(
            length <= DEFAULT_MAX_URL_LENGTH as usize,
            "a URL of {length} characters"
        );
    }
    let expected: BTreeSet<(u64, u64, u64)> = hosts
        .flat_map(|host| controls.iter().map(move |control| (10, host, *control)))
        .collect();
    assert_eq!(covered(&requests), expected);
    // Every host is in exactly one request: the controls fit in each.
    let host_mentions: usize = requests
        .iter()
        .map(|request| ids(request, "host_ids").len())
        .sum();
    assert_eq!(host_mentions, 5000);
}

#[test]
fn plan_splits_long_control_list() {
    let controls = 100_000..103_000u64;
    let keys = controls
        .clone()
        .flat_map(|control| [key(10, 5001, control), key(10, 5002, control)]);
    let mut host = FakeHost::default()
        .with_policy(10, false)
        .with_parameter("max_url_length", "2000")
        .with_keys(keys);
    let (requests, _) = plan_all(&mut host).unwrap();
    for request in &requests {
        let length = request_url_len(pc_comprehensive_results::DEFAULT_BASE_URL_LENGTH, request)
            + FOLLOW_UP_RESERVE;
        assert!(length <= 2000, "a URL of {length} characters");
    }
    let expected: BTreeSet<(u64, u64, u64)> = controls
        .flat_map(|control| [(10, 5001, control), (10, 5002, control)])
        .collect();
    assert_eq!(covered(&requests), expected);
}

#[test]
fn plan_short_url_limit_names_parameter() {
    let mut host = FakeHost::default()
        .with_policy(10, false)
        .with_parameter("max_url_length", "200")
        .with_keys([key(10, 1001, 71)]);
    let error = plan_all(&mut host).unwrap_err();
    let JobError::InvalidParameter(message) = error else {
        panic!("expected an invalid parameter, got {error:?}");
    };
    assert!(message.contains("max_url_length 200"), "{message}");
    assert!(message.contains("policy 10"), "{message}");
    assert!(message.contains("raise it"), "{message}");
}

#[test]
fn plan_rejects_invalid_parameters() {
    let mut host = FakeHost::default().with_parameter("max_url_length", "8k");
    let error = plan(&context(), None, &mut host).unwrap_err();
    assert!(
        matches!(&error, JobError::InvalidParameter(message) if message.contains("max_url_length")),
        "{error:?}"
    );

    let mut host = FakeHost::default();
    let context = RunContext {
        run_id: "7".into(),
        start_time: Some("last week".into()),
    };
    let error = plan(&context, None, &mut host).unwrap_err();
    assert!(
        matches!(&error, JobError::InvalidParameter(message) if message.contains("last week")),
        "{error:?}"
    );
}

#[test]
fn plan_slices_end_between_policies() {
    // Three policies of 30 000 keys each: the first slice ends after the second policy, the
    // first end of a policy past KEYS_PER_SLICE keys.
    const { assert!(KEYS_PER_SLICE < 60_000) };
    let keys = [10u64, 20, 30].into_iter().flat_map(|policy| {
        (0..30_000u64).map(move |index| key(policy, 1_000 + index / 10, 70 + index % 10))
    });
    let mut host = FakeHost::default()
        .with_policy(10, false)
        .with_policy(20, false)
        .with_policy(30, false)
        .with_keys(keys);

    let first = plan(&context(), None, &mut host).unwrap();
    let cursor = first.cursor.clone().expect("a second slice");
    assert!(cursor.starts_with("20:"), "{cursor}");
    let tags: BTreeSet<&str> = first.requests.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags, BTreeSet::from(["10", "20"]));

    let second = plan(&context(), Some(&cursor), &mut host).unwrap();
    assert_eq!(second.cursor, None);
    let tags: BTreeSet<&str> = second.requests.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags, BTreeSet::from(["30"]));
}

#[test]
fn plan_stuck_cursor_ends_with_warning() {
    let mut host = FakeHost {
        stuck_cursor: Some("10:1:1:1:os".into()),
        ..FakeHost::default()
    };
    let slice = plan(&context(), Some("10:1:1:1:os"), &mut host).unwrap();
    assert_eq!(slice.cursor, None);
    assert!(
        host.logs
            .iter()
            .any(|(level, message)| *level == LogLevel::Warn && message.contains("cursor")),
        "{:?}",
        host.logs
    );
}

#[test]
fn plan_groups_controls_by_failing_hosts() {
    // 300 controls that each fail on 7 hosts of their own: asking for every pair would return
    // 2100 × 300 postures, almost all passing.
    let keys = (0..300u64).flat_map(|control| {
        (0..7u64).map(move |index| key(10, 100_000 + control * 7 + index, 5_000 + control))
    });
    let failing: BTreeSet<(u64, u64, u64)> = keys
        .clone()
        .map(|key| (key.policy_id, key.host_id, key.control_id))
        .collect();
    let mut host = FakeHost::default().with_policy(10, false).with_keys(keys);
    let (requests, _) = plan_all(&mut host).unwrap();

    let covered = covered(&requests);
    assert!(covered.is_superset(&failing));
    assert_eq!(covered.len(), failing.len(), "no passing pair is asked for");
    assert_eq!(requests.len(), 300);
}

#[test]
fn plan_keeps_every_pair_when_cheaper() {
    // Two controls failing on nearly the same 100 hosts: every pair is one request of one
    // page, while grouping by failing hosts needs two.
    let keys = (0..100u64)
        .map(|index| key(10, 100_000 + index, 71))
        .chain((0..99u64).map(|index| key(10, 100_000 + index, 72)));
    let mut host = FakeHost::default().with_policy(10, false).with_keys(keys);
    let (requests, _) = plan_all(&mut host).unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(ids(&requests[0], "control_ids"), BTreeSet::from([71, 72]));
    assert_eq!(ids(&requests[0], "host_ids").len(), 100);
}
