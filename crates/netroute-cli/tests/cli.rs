//! End-to-end tests of `show` and `get` on a fixture stack file: output shapes, JSON
//! schemas, exit codes and the errors bad stack files give.

mod common;

use common::{fixture, netroute, tmp};
use serde_json::Value;

fn stack() -> String {
    fixture("stack.json").display().to_string()
}

#[test]
fn show_prints_a_netstat_table() {
    let r = netroute(&["show", "--stack", &stack()], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout;
    assert!(
        out.starts_with("Routing tables\n\nInternet:\nDestination"),
        "{out}"
    );
    assert!(out.contains("Internet6:"), "{out}");
    let line = |dst: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(dst))
            .unwrap_or_else(|| panic!("no line for {dst} in\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("default"),
        ["default", "192.0.2.254", "UGS", "-", "0", "-", "eth0"]
    );
    assert_eq!(
        line("203.0.113.0/24"),
        [
            "203.0.113.0/24",
            "198.51.100.254",
            "UGS",
            "-",
            "0",
            "1400",
            "eth1"
        ]
    );
    assert_eq!(line("203.0.113.128/25")[1..3], ["-", "USB"]);
    assert_eq!(line("203.0.113.64/26")[2], "URSP");
    assert_eq!(line("192.0.2.1")[2], "UHl");
    assert_eq!(line("192.0.2.0/24")[..3], ["192.0.2.0/24", "link#2", "UC"]);
    assert_eq!(line("fe80::1%eth0")[2], "UHl");
    let v4 = netroute(&["show", "--stack", &stack(), "-4"], None);
    assert!(!v4.stdout.contains("Internet6:") && v4.stdout.contains("Internet:"));
    let v6 = netroute(&["show", "--stack", &stack(), "-6"], None);
    assert!(v6.stdout.contains("Internet6:") && !v6.stdout.contains("Internet:\n"));
}

#[test]
fn show_json_lists_routes() {
    let r = netroute(&["show", "--stack", &stack(), "--json", "-6"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let routes = v.as_array().unwrap();
    let r2 = routes
        .iter()
        .find(|r| r["dst"] == "2001:db8:2::/48")
        .unwrap();
    assert_eq!(r2["gateway"], "fe80::fe%eth0");
    assert_eq!(r2["dev"], "eth0");
    assert_eq!(r2["metric"], 1024);
    assert_eq!(r2["flags"], serde_json::json!(["up", "gateway", "static"]));
    assert!(
        routes
            .iter()
            .all(|r| r["dst"].as_str().unwrap().contains(':'))
    );
}

fn get_json(addrs: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["get", "--json", "--stack"];
    let s = stack();
    args.push(&s);
    args.extend_from_slice(addrs);
    let r = netroute(&args, None);
    let v = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (r.code, v)
}

#[test]
fn get_json_answers_one_object_per_line() {
    let (code, v) = get_json(&[
        "198.51.100.7",
        "203.0.113.5",
        "8.8.8.8",
        "2001:db8:2::5",
        "fe80::2%eth0",
        "192.0.2.1",
    ]);
    assert_eq!(code, 0);
    let want = [
        r#"{"dst":"198.51.100.7","route":"198.51.100.0/24","gateway":null,"dev":"eth1","src":"198.51.100.1","flags":["up","connected"]}"#,
        r#"{"dst":"203.0.113.5","route":"203.0.113.0/24","gateway":"198.51.100.254","dev":"eth1","src":"198.51.100.1","flags":["up","gateway","static"]}"#,
        r#"{"dst":"8.8.8.8","route":"0.0.0.0/0","gateway":"192.0.2.254","dev":"eth0","src":"192.0.2.1","flags":["up","gateway","static"]}"#,
        r#"{"dst":"2001:db8:2::5","route":"2001:db8:2::/48","gateway":"fe80::fe%eth0","dev":"eth0","src":"2001:db8:1::1","flags":["up","gateway","static"]}"#,
        r#"{"dst":"fe80::2%eth0","route":"fe80::/64","gateway":null,"dev":"eth0","src":"fe80::1%eth0","flags":["up","connected"]}"#,
        r#"{"dst":"192.0.2.1","route":"192.0.2.1/32","gateway":null,"dev":"eth0","src":"192.0.2.1","flags":["up","host","local"]}"#,
    ];
    for (got, want) in v.iter().zip(want) {
        assert_eq!(*got, serde_json::from_str::<Value>(want).unwrap());
    }
    assert_eq!(v.len(), want.len());
}

#[test]
fn get_reports_errors_and_exit_code_4() {
    let (code, v) = get_json(&[
        "203.0.113.200",
        "203.0.113.70",
        "2001:db8:3::1",
        "2001:db8:9::1",
        "192.0.2.9",
    ]);
    assert_eq!(code, 4);
    let errs: Vec<&str> = v
        .iter()
        .map(|o| o["error"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        errs,
        ["blackhole", "prohibited", "unreachable", "unreachable", "-"]
    );
    assert_eq!(
        v[0],
        serde_json::json!({"dst": "203.0.113.200", "error": "blackhole"})
    );
}

#[test]
fn get_plain_mirrors_ip_route_get() {
    let r = netroute(
        &["get", "--stack", &stack(), "203.0.113.5", "203.0.113.200"],
        None,
    );
    assert_eq!(r.code, 4);
    assert_eq!(
        r.stdout,
        "203.0.113.5 via 198.51.100.254 dev eth1 src 198.51.100.1 route 203.0.113.0/24 flags UGS\n\
         203.0.113.200 blackhole\n"
    );
}

#[test]
fn get_stdin_streams_many_queries() {
    let mut input = String::new();
    for i in 0..20_000u32 {
        input.push_str(&format!("198.51.100.{}\n", i % 256));
        if i % 1000 == 0 {
            input.push_str("# comment\n\n");
        }
    }
    let r = netroute(
        &["get", "--stack", &stack(), "--json", "--stdin"],
        Some(&input),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 20_000);
    assert!(r.stdout.lines().all(|l| l.contains("\"dev\":\"eth1\"")));
}

#[test]
fn get_bad_destinations_are_bad_input() {
    let r = netroute(
        &["get", "--stack", &stack(), "--stdin"],
        Some("192.0.2.7\nnot-an-address\nfe80::2\n"),
    );
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout.lines().count(), 1);
    assert!(
        r.stderr
            .contains("stdin:2: bad destination bad address \"not-an-address\""),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("stdin:3: bad destination fe80::2: a link-local destination needs its zone"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let r = netroute(&["get", "--stack", &stack()], None);
    assert_eq!(r.code, 2);
    let r = netroute(&["show"], None);
    assert_eq!(r.code, 2);
    for cmd in [
        "show", "get", "order", "snapshot", "bench", "stress", "demo",
    ] {
        let r = netroute(&[cmd, "--help"], None);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("Example"), "{cmd}: {}", r.stdout);
        assert!(r.stdout.contains("Exit codes"), "{cmd}: {}", r.stdout);
    }
}

fn bad_stack(name: &str, text: &str) -> (String, common::Run) {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    let ps = p.display().to_string();
    let r = netroute(&["show", "--stack", &ps], None);
    (ps, r)
}

fn fixture_text() -> String {
    std::fs::read_to_string(fixture("stack.json")).unwrap()
}

#[test]
fn bad_stack_files_name_file_line_and_expectation() {
    let cases = [
        (
            "flag.json",
            fixture_text().replace("[\"blackhole\"]", "[\"blackhol\"]"),
            "line 15, column 54: unknown route flag \"blackhol\" (expected one of: up, gateway",
        ),
        (
            "prefix.json",
            fixture_text().replace("203.0.113.64/26", "203.0.113.64/33"),
            "line 16, column 30: bad prefix \"203.0.113.64/33\": expected address/length",
        ),
        (
            "field.json",
            fixture_text().replace("\"mtu\": 1400", "\"mut\": 1400"),
            "line 14, column 93: unknown field `mut`, expected one of",
        ),
        (
            "ifflag.json",
            fixture_text().replace("\"loopback\"", "\"lopback\""),
            "line 3, column 69: unknown interface flag \"lopback\"",
        ),
        (
            "addrflag.json",
            fixture_text().replace("[\"nodad\"]}]}", "[\"nodadd\"]}]}"),
            "line 8, column 81: unknown address flag \"nodadd\"",
        ),
        (
            "dev.json",
            fixture_text().replace(
                "\"dev\": \"eth0\", \"flags\": [\"up\", \"gateway\"]",
                "\"dev\": \"eth7\", \"flags\": [\"up\", \"gateway\"]",
            ),
            "routes[0] (0.0.0.0/0): unknown interface \"eth7\"",
        ),
        (
            "notjson.json",
            "{\"interfaces\": [".to_owned(),
            "line 1, column 16: EOF while parsing a list",
        ),
    ];
    for (name, text, want) in cases {
        let (path, r) = bad_stack(name, &text);
        assert_eq!(r.code, 3, "{name}: {}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!("netroute: {path}: ")),
            "{name}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
    }
    let r = netroute(&["show", "--stack", "/nonexistent/stack.json"], None);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("/nonexistent/stack.json: cannot open"),
        "{}",
        r.stderr
    );
}

#[test]
fn gzip_stack_file_is_read_transparently() {
    use std::io::Write;
    let p = tmp("stack.json.data");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(fixture_text().as_bytes()).unwrap();
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    let r = netroute(
        &["get", "--stack", &p.display().to_string(), "198.51.100.7"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("198.51.100.7 dev eth1"),
        "{}",
        r.stdout
    );
}

#[test]
fn order_sorts_destinations_like_getaddrinfo() {
    // 2001:db8:3::/48 is a reject route: no usable source, so it sorts last (rule 1).
    // IPv6 global (precedence 40) before IPv4 (35); the link-local IPv6 destination has
    // a link-local source of matching scope (rule 2) and a smaller scope than a global
    // one (rule 8) — it goes before the global ones only by rule 2 vs their sources.
    let s = stack();
    let r = netroute(
        &[
            "order",
            "--stack",
            &s,
            "--json",
            "192.0.2.77",
            "2001:db8:3::9",
            "2001:db8:2::5",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let want: Value = serde_json::from_str(
        r#"[{"dst":"2001:db8:2::5","src":"2001:db8:1::1"},
            {"dst":"192.0.2.77","src":"192.0.2.1"},
            {"dst":"2001:db8:3::9","src":null}]"#,
    )
    .unwrap();
    assert_eq!(v, want);
    // Plain output: the same order, one per line.
    let r = netroute(
        &[
            "order",
            "--stack",
            &s,
            "192.0.2.77",
            "2001:db8:3::9",
            "2001:db8:2::5",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "2001:db8:2::5\n192.0.2.77\n2001:db8:3::9\n");
    // Zones are kept and printed back.
    let r = netroute(&["order", "--stack", &s, "--json", "fe80::2%eth0"], None);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v[0]["dst"], "fe80::2%eth0");
    assert_eq!(v[0]["src"], "fe80::1%eth0");
}

#[test]
fn order_bad_input_exits_3_and_prints_nothing() {
    let s = stack();
    let r = netroute(
        &["order", "--stack", &s, "192.0.2.1", "not-an-address"],
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not-an-address"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let r = netroute(&["order", "--stack", &s, "fe80::1"], None);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("zone"), "{}", r.stderr);
    let r = netroute(&["order", "--stack", &s], None);
    assert_eq!(r.code, 2, "at least one address");
}

#[test]
fn snapshot_writes_a_stack_file_of_this_namespace() {
    let p = tmp("snapshot.json");
    let ps = p.display().to_string();
    let r = netroute(&["snapshot", "-o", &ps], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let f = netroute::StackFile::from_json(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert!(
        f.interfaces
            .iter()
            .any(|i| i.flags.contains(netroute::ifnet::IfFlags::LOOPBACK)),
        "{f:?}"
    );
    let r = netroute(&["snapshot"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(netroute::StackFile::from_json(&r.stdout).is_ok());
}

#[test]
fn stack_file_round_trips() {
    // Stack::to_file of the fixture's stack reads back to the same routes.
    let text = fixture_text();
    let f = netroute::StackFile::from_json(&text).unwrap();
    let s = netroute::Stack::from_file(&f).unwrap();
    let again = netroute::Stack::from_file(&s.to_file()).unwrap();
    assert_eq!(again.to_file(), s.to_file());
}
