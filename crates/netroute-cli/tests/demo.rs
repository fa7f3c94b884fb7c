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
