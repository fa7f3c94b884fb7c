//! `netroute bench --quick`: every group is measured, next to its peers, and the plot is
//! written.

use std::process::Command;

#[test]
fn bench_quick_json_and_plot() {
    let dir = std::env::temp_dir().join(format!("netroute-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("bench.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_netroute"))
        .args(["bench", "--quick", "--json", "--plot"])
        .arg(&svg)
        .output()
        .expect("run netroute");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let rows = v["rows"].as_array().expect("rows");
    let find = |group: &str, name: &str| {
        rows.iter()
            .find(|r| r["group"] == group && r["name"] == name)
            .unwrap_or_else(|| panic!("no row {group} / {name}"))
    };
    for fam in ["v4", "v6"] {
        for set in ["in-table", "uniform"] {
            let g = format!("fib-{fam}/{set}");
            assert!(find(&g, "prefix-trie")["value"].as_f64().unwrap() > 0.0);
            let ours = find(&g, "ours batch");
            assert!(ours["value"].as_f64().unwrap() > 0.0);
            assert!(
                ours["ratio"].as_f64().unwrap() > 0.0,
                "ratio against the peer"
            );
        }
        // Every other peer crate answered like prefix-trie (else it is left out) and
        // was measured in every group.
        for set in ["memory", "build", "in-table", "uniform", "dependent"] {
            for peer in ["ts_bart", "poptrie", "treebitmap", "iptrie LC-trie"] {
                let r = find(&format!("fib-{fam}/{set}"), peer);
                assert!(r["value"].as_f64().unwrap() > 0.0, "{fam} {set} {peer}");
                assert!(r["ratio"].as_f64().unwrap() > 0.0, "{fam} {set} {peer}");
            }
        }
        // The concurrent-update peers ran (the RwLock reader may starve: rate 0).
        for peer in [
            "prefix-trie in a RwLock",
            "prefix-trie in an ArcSwap, copied per publication (≥ 50 ms)",
        ] {
            assert!(
                find(&format!("replay-{fam}/updates"), peer)["value"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
            let g = format!("replay-{fam}/one reader thread, {peer}");
            assert!(find(&g, "reader idle")["value"].as_f64().unwrap() > 0.0);
            assert!(find(&g, "reader during replay")["value"].as_f64().unwrap() >= 0.0);
        }
        let r = find(
            &format!("replay-{fam}/one reader thread"),
            "reader during replay",
        );
        assert!(r["ratio"].as_f64().unwrap() > 0.0);
        assert!(
            find(
                &format!("replay-{fam}/updates"),
                "SharedFib::apply (batches of 1,024)"
            )["value"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    assert!(
        find(
            "route/per-packet",
            "RouteCache::validate_shared (32 flows/section)"
        )["ratio"]
            .as_f64()
            .unwrap()
            > 1.0
    );
    assert!(
        find(
            "route/withdraw, one forwarder reading",
            "RouteTables::delete_many, batches of 1,024"
        )["ratio"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(
        find("vtw-v4/memory (90% full)", "VTW")["value"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(v["cpu_has"].is_array());
    let timeline = &v["replay_timeline"];
    assert!(timeline["end"].as_u64().unwrap() >= timeline["start"].as_u64().unwrap());
    let drawn = std::fs::read_to_string(&svg).expect("svg written");
    assert!(drawn.starts_with("<svg") && drawn.contains("prefix-trie"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_bad_table_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("netroute-bench-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("t.txt");
    std::fs::write(&f, "# a table\n192.0.2.0/24\n10.0.0.0/33\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netroute"))
        .args(["bench", "--quick", "--table"])
        .arg(&f)
        .output()
        .expect("run netroute");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t.txt:3"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
