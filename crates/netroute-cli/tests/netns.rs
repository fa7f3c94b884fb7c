//! End to end against the Linux kernel: build interfaces, addresses and routes in a fresh
//! network namespace (documentation ranges only: 192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8::/32), take `netroute snapshot` inside it, then compare
//! `netroute get --json` with the kernel's own answers (`ip -j route get fibmatch` for the
//! route, gateway and interface; `ip -j route get` for the source) on every destination.
//!
//! No packet is sent: both ends of the two veth pairs live in the
//! namespace, and route lookups do not transmit. The namespace is deleted by a drop guard
//! even when an assertion fails. Skipped, with the reason printed, when not running as
//! root or when `ip netns` does not work.
//!
//! Known, accepted differences (excluded or not compared):
//! - broadcast and network addresses (`192.0.2.255`, `192.0.2.0`) and IPv6 subnet-router
//!   anycast addresses: Linux answers from its local table (`broadcast`, `anycast`), the
//!   stack (as NetBSD) with the connected route;
//! - IPv6 source addresses: the kernel applies RFC 6724; `get` uses the route's address
//!   until `netroute::select` lands (differences are printed, not asserted).

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::netroute;
use serde_json::Value;

/// Deletes the namespace when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn ip(ns: &str, args: &str) {
    let mut full = vec!["-n", ns];
    full.extend(args.split_whitespace());
    let out = Command::new("ip").args(&full).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        full.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip -j route get [fibmatch] DST` in the namespace: the first object, or the error text.
fn kernel_get(ns: &str, dst: &str, fibmatch: bool) -> Result<Value, String> {
    let mut args = vec!["-n", ns, "-j", "route", "get"];
    if fibmatch {
        args.push("fibmatch");
    }
    args.push(dst);
    let out = Command::new("ip").args(&args).output().expect("run ip");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    v.get(0).cloned().ok_or_else(|| "empty answer".to_owned())
}

fn setup(ns: &str) {
    let cmds = [
        "link set lo up",
        "link add veth0 type veth peer name veth1",
        "link add veth2 type veth peer name veth3",
        "link set veth0 addrgenmode none",
        "link set veth1 addrgenmode none",
        "link set veth2 addrgenmode none",
        "link set veth3 addrgenmode none",
        "link set veth0 up",
        "link set veth1 up",
        "link set veth2 up",
        "link set veth3 up",
        "addr add 192.0.2.1/24 dev veth0",
        "addr add 2001:db8:1::1/64 dev veth0 nodad",
        "addr add fe80::1/64 dev veth0 nodad",
        "addr add 198.51.100.1/24 dev veth1",
        "addr add 2001:db8:2::1/64 dev veth1 nodad",
        "addr add fe80::2/64 dev veth1 nodad",
        "addr add 203.0.113.1/26 dev veth2",
        "addr add 2001:db8:3::1/64 dev veth2 nodad",
        "route add default via 192.0.2.254 dev veth0",
        "route add 203.0.113.128/25 via 198.51.100.254",
        "route add 203.0.113.128/25 via 192.0.2.250 metric 50",
        "route add 198.51.100.77/32 via 192.0.2.253",
        "route add unreachable 203.0.113.144/28",
        "route add prohibit 203.0.113.160/27",
        "route add blackhole 203.0.113.192/27",
        "route add 203.0.113.96/27 dev veth2",
        "-6 route add default via fe80::fe dev veth0 metric 1024",
        "-6 route add 2001:db8:100::/48 via 2001:db8:2::fe",
        "-6 route add 2001:db8:101::/48 via fe80::fd dev veth1 metric 300",
        "-6 route add blackhole 2001:db8:200::/48",
        "-6 route add unreachable 2001:db8:300::/48",
        "-6 route add prohibit 2001:db8:400::/48",
        "-6 route add 2001:db8:500::/48 dev veth2",
    ];
    for c in cmds {
        ip(ns, c);
    }
}

fn destinations() -> Vec<String> {
    let mut d = Vec::new();
    for i in 1..=254u32 {
        // 203.0.113.0/24 crosses every route of the test; skip the local broadcast of
        // veth2's /26 (Linux answers it from its local table).
        if i != 63 {
            d.push(format!("203.0.113.{i}"));
        }
    }
    for i in [1, 2, 7, 100, 253, 254] {
        d.push(format!("192.0.2.{i}"));
    }
    for i in [1, 7, 77, 78, 200, 254] {
        d.push(format!("198.51.100.{i}"));
    }
    for s in [
        "2001:db8:1::1",
        "2001:db8:1::5",
        "2001:db8:1::ffff",
        "2001:db8:2::1",
        "2001:db8:2::9",
        "2001:db8:3::4",
        "2001:db8:100::1",
        "2001:db8:100:ffff::1",
        "2001:db8:101::1",
        "2001:db8:200::1",
        "2001:db8:300::1",
        "2001:db8:400::1",
        "2001:db8:500::1",
        "2001:db8:ffff::1",
        "2001:db8::1",
    ] {
        d.push(s.to_owned());
    }
    for i in 0..64u32 {
        d.push(format!("2001:db8:{:x}::{:x}", i * 0x101 % 0x600, i + 1));
    }
    // Normalised (as `get` prints them) and unique.
    let mut seen = std::collections::HashSet::new();
    d.into_iter()
        .map(|s| s.parse::<std::net::IpAddr>().unwrap().to_string())
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// The kernel's answer in `get --json` terms: ("route", gateway, dev) or the error word.
fn kernel_answer(ns: &str, dst: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let m = match kernel_get(ns, dst, true) {
        Ok(m) => m,
        // ENETUNREACH (no route) or EHOSTUNREACH (an IPv4 `unreachable` route).
        Err(e) if e.contains("unreachable") || e.contains("No route to host") => {
            return Err("unreachable".into());
        }
        Err(e) if e.contains("Permission denied") => return Err("prohibited".into()),
        Err(e) if e.contains("Invalid argument") => return Err("blackhole".into()),
        Err(e) => panic!("ip route get fibmatch {dst}: {e}"),
    };
    match m.get("type").and_then(Value::as_str) {
        Some("blackhole") => return Err("blackhole".into()),
        Some("unreachable") => return Err("unreachable".into()),
        Some("prohibit") => return Err("prohibited".into()),
        _ => {}
    }
    let v6 = dst.contains(':');
    let mut route = m["dst"].as_str().unwrap_or("?").to_owned();
    if route == "default" {
        route = if v6 { "::/0" } else { "0.0.0.0/0" }.to_owned();
    } else if !route.contains('/') {
        route.push_str(if v6 { "/128" } else { "/32" });
    }
    let gw = m.get("gateway").and_then(Value::as_str).map(str::to_owned);
    let dev = m.get("dev").and_then(Value::as_str).map(str::to_owned);
    Ok((route, gw, dev))
}

#[test]
fn snapshot_and_get_agree_with_the_kernel() {
    if !is_root() {
        println!("SKIPPED snapshot_and_get_agree_with_the_kernel: not running as root");
        return;
    }
    let name = format!("nr-cli-{}", std::process::id());
    let created = Command::new("ip").args(["netns", "add", &name]).output();
    match created {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            println!(
                "SKIPPED snapshot_and_get_agree_with_the_kernel: ip netns add failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("SKIPPED snapshot_and_get_agree_with_the_kernel: no `ip` command: {e}");
            return;
        }
    }
    let ns = Netns(name);
    setup(&ns.0);

    // The snapshot, taken inside the namespace.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_netroute"),
            "snapshot",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let snap: Value = serde_json::from_str(&text).unwrap();
    let ifs: Vec<&str> = snap["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    for n in ["lo", "veth0", "veth1", "veth2"] {
        assert!(ifs.contains(&n), "{ifs:?}");
    }
    assert!(text.contains("\"fe80::1%veth0\""), "{text}");
    assert!(text.contains("\"nodad\""), "{text}");
    assert!(text.contains("\"prohibit\""), "{text}");
    let path = common::tmp("netns-stack.json");
    std::fs::write(&path, &text).unwrap();
    let stack = path.display().to_string();

    let show = netroute(&["show", "--stack", &stack], None);
    assert_eq!(show.code, 0, "{}", show.stderr);

    // Our answers, streamed.
    let dsts = destinations();
    let input: String = dsts.iter().map(|d| format!("{d}\n")).collect();
    let r = netroute(
        &["get", "--stack", &stack, "--json", "--stdin"],
        Some(&input),
    );
    assert!(r.code == 0 || r.code == 4, "{}", r.stderr);
    let ours: HashMap<String, Value> = r
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["dst"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    assert_eq!(ours.len(), dsts.len());

    let strip_zone = |s: &str| s.split('%').next().unwrap_or("").to_owned();
    let mut mismatches = Vec::new();
    let mut src_notes = Vec::new();
    let mut compared = 0;
    let mut routed = 0;
    for d in &dsts {
        let o = &ours[d];
        let k = kernel_answer(&ns.0, d);
        match (&k, o.get("error").and_then(Value::as_str)) {
            (Err(kw), Some(ow)) => {
                if kw != ow {
                    mismatches.push(format!("{d}: kernel {kw}, ours {ow}"));
                }
            }
            (Err(kw), None) => mismatches.push(format!("{d}: kernel {kw}, ours {o}")),
            (Ok(ka), Some(ow)) => mismatches.push(format!("{d}: kernel {ka:?}, ours {ow}")),
            (Ok((route, gw, dev)), None) => {
                routed += 1;
                let og = o["gateway"].as_str().map(strip_zone);
                let od = o["dev"].as_str().map(str::to_owned);
                if o["route"].as_str() != Some(route) || og != *gw || od != *dev {
                    mismatches.push(format!(
                        "{d}: kernel {route} via {gw:?} dev {dev:?}, ours {} via {og:?} dev {od:?}",
                        o["route"]
                    ));
                }
                // The source: the kernel's `ip route get` prefsrc.
                if let Ok(g) = kernel_get(&ns.0, d, false) {
                    let ks = g.get("prefsrc").and_then(Value::as_str).map(str::to_owned);
                    let os = o["src"].as_str().map(strip_zone);
                    if ks != os {
                        src_notes.push(format!("{d}: kernel src {ks:?}, ours {os:?}"));
                    }
                }
            }
        }
        compared += 1;
    }
    println!("compared {compared} destinations with the kernel ({routed} routed, the rest errors)");
    assert!(
        routed > 200 && compared - routed > 50,
        "{routed} of {compared}"
    );
    for n in &src_notes {
        println!("source differs: {n}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    let v4_src: Vec<_> = src_notes.iter().filter(|n| !n.contains(':')).collect();
    assert!(v4_src.is_empty(), "IPv4 sources differ: {v4_src:?}");
}

/// A namespace with 100,000 IPv6 routes (all inside 2001:db8::/32): the dump spans many
/// receive buffers, every route reaches the stack file and `get` answers from them.
#[test]
fn large_table_snapshot() {
    if !is_root() {
        println!("SKIPPED large_table_snapshot: not running as root");
        return;
    }
    let name = format!("nr-cli-big-{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &name]).output() {
        Ok(o) if o.status.success() => {}
        other => {
            println!("SKIPPED large_table_snapshot: ip netns add failed: {other:?}");
            return;
        }
    }
    let ns = Netns(name);
    for c in [
        "link set lo up",
        "link add veth0 type veth peer name veth1",
        "link set veth0 addrgenmode none",
        "link set veth1 addrgenmode none",
        "link set veth0 up",
        "link set veth1 up",
        "addr add 2001:db8:1::1/64 dev veth0 nodad",
    ] {
        ip(&ns.0, c);
    }
    const N: u32 = 100_000;
    let mut batch = String::with_capacity(N as usize * 48);
    for i in 0..N {
        batch.push_str(&format!(
            "route add 2001:db8:{:x}:{:x}::/64 via 2001:db8:1::{:x}\n",
            0x100 + (i >> 16),
            i & 0xffff,
            2 + (i % 7)
        ));
    }
    let bfile = common::tmp("big-batch.txt");
    std::fs::write(&bfile, &batch).unwrap();
    let out = Command::new("ip")
        .args(["-n", &ns.0, "-batch", &bfile.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let snap = common::tmp("big-stack.json");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_netroute"),
            "snapshot",
            "-o",
            &snap.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&snap).unwrap();
    let f = netroute::StackFile::from_json(&text).unwrap();
    let gw_routes = f.routes.iter().filter(|r| r.gateway.is_some()).count();
    assert_eq!(gw_routes, N as usize);

    let probes = [
        "2001:db8:100:0::1",
        "2001:db8:101:869f::5",
        "2001:db8:100:ffff::9",
    ];
    let r = netroute(
        &["get", "--json", "--stack", &snap.display().to_string()],
        None,
    );
    assert_eq!(r.code, 2, "no destination is a usage error");
    let mut args = vec!["get", "--json", "--stack"];
    let s = snap.display().to_string();
    args.push(&s);
    args.extend(probes);
    let r = netroute(&args, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (line, p) in r.stdout.lines().zip(probes) {
        let v: Value = serde_json::from_str(line).unwrap();
        let (route, gw, dev) = kernel_answer(&ns.0, p).unwrap();
        assert_eq!(v["route"].as_str(), Some(route.as_str()), "{p}");
        assert_eq!(v["gateway"].as_str().map(str::to_owned), gw, "{p}");
        assert_eq!(v["dev"].as_str().map(str::to_owned), dev, "{p}");
    }
}
