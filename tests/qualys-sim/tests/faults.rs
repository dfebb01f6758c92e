//! Injected faults over HTTP: status, headers and body of each, rule matching, and the
//! in-flight measure.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{LIST_PATH, PASSWORD, USERNAME, client, list, send, start_default};
use qualys_sim::{Api, Endpoint, Fault, FaultRule};

const QUERY: &str = "action=list";

fn inject(sim: &qualys_sim::Simulator, fault: Fault) {
    sim.inject(FaultRule::new(Endpoint::PolicyList, fault).on_request(1));
}

#[test]
fn concurrency_1960_shape() {
    let sim = start_default();
    inject(&sim, Fault::Concurrency1960 { calls_to_finish: 3 });
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 409);
    assert_eq!(reply.header("content-type"), Some("application/xml"));
    assert_eq!(reply.header("x-concurrency-limit-running"), Some("4"));
    assert_eq!(reply.header("x-concurrency-limit-limit"), Some("2"));
    let root = reply.xml();
    assert_eq!(root.name, "SIMPLE_RETURN");
    assert_eq!(root.text_at("RESPONSE/CODE"), "1960");
    assert_eq!(
        root.text_at("RESPONSE/ITEM_LIST/ITEM/KEY"),
        "CALLS_TO_FINISH"
    );
    assert_eq!(root.text_at("RESPONSE/ITEM_LIST/ITEM/VALUE"), "3");

    let second = list(&sim, QUERY);
    assert_eq!(second.status, 200, "rule for request 1 fired on request 2");
}

#[test]
fn rate_limit_1965_like_sample() {
    let sim = start_default();
    // 23 hours, 57 minutes and 54 seconds.
    inject(
        &sim,
        Fault::RateLimit1965 {
            seconds_to_wait: 86_274,
            header: true,
        },
    );
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 409);
    // A real Qualys 409 body with only DATETIME and VALUE changed, spaces included.
    let expected = "<SIMPLE_RETURN>\n  <RESPONSE>\n  <DATETIME>2026-12-04T10:00:00Z </DATETIME>\n  \
                    <CODE>1965</CODE>\n  <TEXT> This API cannot be run again for another 23 \
                    hours, 57 minutes and 54 seconds.</TEXT>\n  <ITEM_LIST>\n  <ITEM>\n  \
                    <KEY>SECONDS_TO_WAIT</KEY>\n  <VALUE>86274</VALUE>\n  </ITEM>\n  \
                    </ITEM_LIST>\n  </RESPONSE>\n</SIMPLE_RETURN>\n";
    assert_eq!(reply.body, expected);
    assert_eq!(reply.header("x-ratelimit-towait-sec"), Some("86274"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(reply.header("x-ratelimit-limit"), Some("300"));
}

#[test]
fn rate_limit_without_header() {
    let sim = start_default();
    inject(
        &sim,
        Fault::RateLimit1965 {
            seconds_to_wait: 60,
            header: false,
        },
    );
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 409);
    assert_eq!(reply.header("x-ratelimit-towait-sec"), Some("0"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("299"));
    let root = reply.xml();
    assert_eq!(root.text_at("RESPONSE/ITEM_LIST/ITEM/VALUE"), "60");
    assert_eq!(
        root.text_at("RESPONSE/TEXT"),
        " This API cannot be run again for another 0 hours, 1 minutes and 0 seconds."
    );
}

#[test]
fn too_many_requests_shape() {
    let sim = start_default();
    inject(
        &sim,
        Fault::TooManyRequests {
            retry_after_secs: Some(30),
        },
    );
    sim.inject(
        FaultRule::new(
            Endpoint::PolicyList,
            Fault::TooManyRequests {
                retry_after_secs: None,
            },
        )
        .on_request(2),
    );
    let first = list(&sim, QUERY);
    assert_eq!(first.status, 429);
    assert_eq!(first.header("retry-after"), Some("30"));
    let second = list(&sim, QUERY);
    assert_eq!(second.status, 429);
    assert_eq!(second.header("retry-after"), None);
}

#[test]
fn server_errors_plain() {
    let sim = start_default();
    for (number, code) in [(1, 500), (2, 503), (3, 42)] {
        sim.inject(
            FaultRule::new(Endpoint::PolicyList, Fault::ServerError(code)).on_request(number),
        );
    }
    let cases = [
        (500, "500 Internal Server Error"),
        (503, "503 Service Unavailable"),
        (500, "500 Internal Server Error"),
    ];
    for (status, text) in cases {
        let reply = list(&sim, QUERY);
        assert_eq!(reply.status, status);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(reply.body.trim_end(), text);
    }
}

#[test]
fn simple_return_inside_200() {
    let sim = start_default();
    inject(
        &sim,
        Fault::SimpleReturn200 {
            code: 1920,
            text: "Blocked <for> now & later".to_string(),
        },
    );
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 200);
    let root = reply.xml();
    assert_eq!(root.name, "SIMPLE_RETURN");
    assert_eq!(root.text_at("RESPONSE/CODE"), "1920");
    assert_eq!(root.text_at("RESPONSE/TEXT"), "Blocked <for> now & later");
    assert_eq!(root.text_at("RESPONSE/DATETIME"), "2026-12-04T10:00:00Z");
}

#[test]
fn generic_return_shape() {
    let sim = start_default();
    inject(&sim, Fault::GenericReturn);
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 200);
    let root = reply.xml();
    assert_eq!(root.name, "GENERIC_RETURN");
    let api = root.child("API").expect("API element");
    assert_eq!(api.attribute("name"), Some("api/5.0/fo/compliance/policy/"));
    assert_eq!(api.attribute("username"), Some(USERNAME));
    let returned = root.child("RETURN").expect("RETURN element");
    assert_eq!(returned.attribute("status"), Some("FAILED"));
    assert_eq!(returned.attribute("number"), Some("999"));
    assert_eq!(
        returned.text,
        "Internal error. Please contact customer support."
    );
}

#[test]
fn empty_200_has_no_body() {
    let sim = start_default();
    inject(&sim, Fault::Empty200);
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), Some("0"));
    assert_eq!(reply.body, "");
    assert!(reply.header("x-ratelimit-remaining").is_some());
}

#[test]
fn keep_alive_whitespace_prefix() {
    let sim = start_default();
    let normal = list(&sim, QUERY).body;
    sim.inject(
        FaultRule::new(
            Endpoint::PolicyList,
            Fault::KeepAliveWhitespace { bytes: 300 },
        )
        .on_request(2),
    );
    let started = Instant::now();
    let reply = list(&sim, QUERY);
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 200);
    let (prefix, rest) = reply.body.split_at(300);
    assert!(
        prefix.bytes().all(|b| b == b' ' || b == b'\n'),
        "prefix not whitespace"
    );
    assert!(prefix.contains('\n'), "prefix has no newline");
    assert_eq!(rest, normal);
    assert!(
        elapsed >= Duration::from_millis(50),
        "no pause: {elapsed:?}"
    );
}

#[test]
fn slow_body_same_bytes() {
    let sim = start_default();
    let normal = list(&sim, QUERY).body;
    let chunk_bytes = 4_000;
    let chunks = normal.len().div_ceil(chunk_bytes) as u32;
    assert!(
        chunks >= 3,
        "body too short for the test: {} bytes",
        normal.len()
    );
    sim.inject(
        FaultRule::new(
            Endpoint::PolicyList,
            Fault::SlowBody {
                chunk_bytes,
                delay_ms: 40,
            },
        )
        .on_request(2),
    );
    let started = Instant::now();
    let reply = list(&sim, QUERY);
    let elapsed = started.elapsed();
    assert_eq!(reply.body, normal);
    let minimum = Duration::from_millis(40) * (chunks - 1);
    assert!(
        elapsed >= minimum,
        "took {elapsed:?}, expected at least {minimum:?}"
    );
}

/// Sends one HTTP/1.1 request on a fresh connection and returns everything the server sent
/// until it closed the connection.
fn raw_exchange(sim: &qualys_sim::Simulator, path_and_query: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(sim.address()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let login = base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {login}\r\n\
         X-Requested-With: raw\r\nConnection: close\r\n\r\n",
        sim.address()
    );
    stream.write_all(request.as_bytes()).expect("write request");
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    received
}

#[test]
fn cut_mid_body_drops_connection() {
    let sim = start_default();
    let normal = list(&sim, QUERY).body;
    sim.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::CutMidBody { after_bytes: 700 },
    ));

    let response = client()
        .get(format!("{}{LIST_PATH}?{QUERY}", sim.base_url()))
        .basic_auth(USERNAME, Some(PASSWORD))
        .header("X-Requested-With", "t")
        .send()
        .expect("headers arrive");
    assert_eq!(response.status().as_u16(), 200);
    let length = normal.len().to_string();
    assert_eq!(
        response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(length.as_str())
    );
    assert!(
        response.text().is_err(),
        "incomplete body read without error"
    );

    let received = raw_exchange(&sim, &format!("{LIST_PATH}?{QUERY}"));
    let text = String::from_utf8_lossy(&received);
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    assert!(head.starts_with("HTTP/1.1 200"), "head: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {length}")),
        "head: {head}"
    );
    assert_eq!(body.len(), 700);
    assert_eq!(body, &normal[..700]);
}

#[test]
fn remaining_zero_headers() {
    let sim = start_default();
    inject(&sim, Fault::RemainingZero { to_wait_secs: 17 });
    let reply = list(&sim, QUERY);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(reply.header("x-ratelimit-towait-sec"), Some("17"));
    assert_eq!(reply.xml().name, "POLICY_LIST_OUTPUT");
}

#[test]
fn rule_times_then_normal() {
    let sim = start_default();
    sim.inject(FaultRule::new(Endpoint::PolicyList, Fault::ServerError(503)).times(2));
    let statuses: Vec<u16> = (0..3).map(|_| list(&sim, QUERY).status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    let recorded: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(recorded, statuses);

    sim.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::ServerError(500),
    ));
    assert_eq!(list(&sim, QUERY).status, 500);
    sim.clear_faults();
    assert_eq!(list(&sim, QUERY).status, 200);
}

#[test]
fn faults_skip_bad_login() {
    let sim = start_default();
    sim.inject(FaultRule::new(Endpoint::PolicyList, Fault::Empty200).times(1));
    let reply = send(
        client()
            .get(format!("{}{LIST_PATH}?{QUERY}", sim.base_url()))
            .header("X-Requested-With", "t"),
    );
    assert_eq!(reply.status, 401);
    let reply = list(&sim, QUERY);
    assert_eq!(
        reply.body, "",
        "fault did not fire on the next good request"
    );
}

#[test]
fn max_in_flight_counts_overlap() {
    let sim = start_default();
    for _ in 0..3 {
        assert_eq!(list(&sim, QUERY).status, 200);
    }
    assert_eq!(
        sim.max_in_flight(Api::Classic),
        1,
        "sequential requests overlapped"
    );

    sim.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::Delay { ms: 400 },
    ));
    let replies = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| list(&sim, QUERY))).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("request thread"))
            .collect::<Vec<_>>()
    });
    assert!(replies.iter().all(|reply| reply.status == 200));
    assert_eq!(sim.max_in_flight(Api::Classic), 4);
    assert_eq!(sim.max_in_flight(Api::Gateway), 0);
    let mut running: Vec<String> = replies
        .iter()
        .map(|reply| {
            reply
                .header("x-concurrency-limit-running")
                .unwrap_or("")
                .to_string()
        })
        .collect();
    running.sort();
    assert_eq!(running, ["1", "2", "3", "4"]);

    sim.reset_max_in_flight(Api::Classic);
    assert_eq!(sim.max_in_flight(Api::Classic), 0);
}

#[test]
fn slow_body_counts_in_flight() {
    let sim = start_default();
    sim.inject(FaultRule::new(
        Endpoint::PolicyList,
        Fault::SlowBody {
            chunk_bytes: 3_000,
            delay_ms: 60,
        },
    ));
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| list(&sim, QUERY));
        let deadline = Instant::now() + Duration::from_secs(5);
        while sim.requests().is_empty() {
            assert!(Instant::now() < deadline, "slow request never arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
        sim.clear_faults();
        let quick = list(&sim, QUERY);
        assert_eq!(quick.header("x-concurrency-limit-running"), Some("2"));
        assert_eq!(slow.join().expect("slow request").status, 200);
    });
    assert_eq!(sim.max_in_flight(Api::Classic), 2);
}
