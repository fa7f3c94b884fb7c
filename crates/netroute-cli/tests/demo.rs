//! The README's main command works and reports what it promises.

use std::process::Command;

fn demo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netroute"))
        .arg("demo")
        .args(args)
        .output()
        .expect("run netroute")
}

#[test]
fn demo_json_report_is_complete_and_safe() {
    let out = demo(&[
        "--json",
        "--scale",
        "0.01",
        "--seconds",
        "0.5",
        "--threads",
        "2",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["stale_uses"], 0);
    assert_eq!(v["threads"], 2);
    assert_eq!(v["interface_detaches"], 1);
    let p4 = v["prefixes_v4"].as_u64().unwrap();
    assert!((10_000..=11_000).contains(&p4), "{p4}");
    assert!(v["lookups"].as_u64().unwrap() > 0);
    assert!(v["fib_updates_applied"].as_u64().unwrap() > 0);
    assert!(v["timewait_live"].as_u64().unwrap() > 0);
    assert!(
        v["routes"].as_u64().unwrap() >= p4,
        "every table prefix is an rtentry"
    );
    assert!(v["route_cache_lookups"].as_u64().unwrap() > 0);
    let rate = v["route_cache_hit_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate));
}

#[test]
fn demo_rejects_bad_arguments_with_a_message() {
    let out = demo(&["--seconds", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seconds"));
    let out = demo(&["--scale", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scale"));
}

#[test]
fn demo_reads_table_and_update_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let table = dir.join("table.txt");
    let updates = dir.join("updates.txt");
    let out = demo(&[
        "--json",
        "--seconds",
        "0.3",
        "--threads",
        "1",
        "--table",
        table.to_str().unwrap(),
        "--updates",
        updates.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    // The file's three IPv4 prefixes and one IPv6 prefix replace the synthetic tables.
    assert_eq!(v["prefixes_v4"], 3);
    assert_eq!(v["prefixes_v6"], 1);
    assert!(v["tables"].as_str().unwrap().contains("table.txt"));
    assert!(
        v["updates_source"]
            .as_str()
            .unwrap()
            .contains("updates.txt")
    );
    assert!(v["fib_updates_applied"].as_u64().unwrap() > 0);
    assert_eq!(v["stale_uses"], 0);
}

#[test]
fn demo_bad_table_is_bad_input() {
    let dir = std::env::temp_dir().join(format!("netroute-demo-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("t.txt");
    std::fs::write(&f, "192.0.2.0/24\nnonsense\n").unwrap();
    let out = demo(&["--table", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t.txt:2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
