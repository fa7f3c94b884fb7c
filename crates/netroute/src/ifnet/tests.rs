//! Unit tests of the interface layer; address tests run one generic body per family.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use psref::Domain;

use super::*;
use crate::addr::{AddrError, Family, IfIndex, LinkAddr, ScopedAddr, ZoneId};

fn table() -> IfTable {
    IfTable::new(Arc::new(Domain::new()))
}

fn fake_table(clock: Arc<FakeClock>) -> IfTable {
    IfTable::with_config(Arc::new(Domain::new()), IfTableConfig::default(), clock)
}

fn eth(name: &str) -> IfConfig {
    IfConfig::new(name).flags(IfFlags::UP | IfFlags::BROADCAST | IfFlags::MULTICAST)
}

fn idx(n: u32) -> IfIndex {
    IfIndex::new(n).unwrap()
}

fn events(s: &mut Subscription) -> Vec<Event> {
    s.drain()
        .into_iter()
        .map(|n| match n {
            Notice::Event { event, .. } => event,
            Notice::Lost { count } => panic!("lost {count}"),
        })
        .collect()
}

// ------------------------------------------------------------------------ interfaces

#[test]
fn attach_and_lookups() {
    let t = table();
    let lla = LinkAddr::new(&[2, 0, 0, 0, 0, 1]).unwrap();
    let a = t.attach(eth("eth0").mtu(9000).lladdr(lla)).unwrap();
    let b = t
        .attach(IfConfig::new("lo0").flags(IfFlags::LOOPBACK | IfFlags::UP))
        .unwrap();
    assert_eq!((a.get(), b.get()), (1, 2));
    let r = t.get_by_index(a).unwrap();
    assert_eq!(r.name(), "eth0");
    assert_eq!(r.mtu(), 9000);
    assert_eq!(r.lladdr(), Some(&lla));
    assert!(r.is_up() && r.is_active() && r.is_intact());
    assert_eq!(r.zones().ifindex(), a);
    assert_eq!(t.get("lo0").unwrap().index(), b);
    assert!(t.get("lo0").unwrap().zones().is_loopback());
    // All digits means an index (if_get).
    assert_eq!(t.get("2").unwrap().name(), "lo0");
    assert!(t.get("0").is_none());
    assert!(t.get("99999999999").is_none());
    assert!(t.get("eth1").is_none());
    assert!(t.get("").is_none());
    assert_eq!(t.get_by_lla(&[2, 0, 0, 0, 0, 1]).unwrap().index(), a);
    assert!(t.get_by_lla(&[2, 0, 0, 0, 0, 2]).is_none());
    assert!(t.get_by_index(idx(3)).is_none());
    assert!(t.get_by_index(idx(u32::MAX)).is_none());
    assert_eq!(t.indices(), vec![a, b]);
    // Inside a caller's read section (one section for a route and its interface).
    let g = t.domain().read();
    assert_eq!(t.byindex(&g, a).unwrap().name(), "eth0");
    assert_eq!(t.unit(&g, "1").unwrap().name(), "eth0");
}

#[test]
fn attach_bad_input_changes_nothing() {
    let t = table();
    let mut sub = t.subscribe(64);
    t.attach(eth("eth0")).unwrap();
    let _ = events(&mut sub);
    let cases: Vec<(IfConfig, IfError)> = vec![
        (
            eth("eth0"),
            IfError::DuplicateName {
                name: "eth0".into(),
            },
        ),
        (
            eth("a-very-long-name"),
            IfError::NameTooLong {
                name: "a-very-long-name".into(),
                max: IF_NAME_MAX,
            },
        ),
        (eth(""), IfError::InvalidName { name: "".into() }),
        (eth("123"), IfError::InvalidName { name: "123".into() }),
        (eth("a%b"), IfError::InvalidName { name: "a%b".into() }),
        (eth("a b"), IfError::InvalidName { name: "a b".into() }),
        (
            eth("eth1").mtu(10),
            IfError::BadMtu {
                mtu: 10,
                min: MTU_MIN,
                max: MTU_MAX,
            },
        ),
        (
            eth("eth1").mtu(70000),
            IfError::BadMtu {
                mtu: 70000,
                min: MTU_MIN,
                max: MTU_MAX,
            },
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(t.attach(cfg), Err(want));
    }
    assert_eq!(t.indices(), vec![idx(1)]);
    assert!(events(&mut sub).is_empty());
    // The next attach still gets index 2: no index was consumed.
    assert_eq!(t.attach(eth("eth1")), Ok(idx(2)));
}

#[test]
fn table_full_and_index_reuse_after_free() {
    let t = IfTable::with_config(
        Arc::new(Domain::new()),
        IfTableConfig {
            max_interfaces: 3,
            max_addresses: 2,
        },
        Arc::new(SystemClock::new()),
    );
    for n in 0..3 {
        t.attach(eth(&format!("e{n}"))).unwrap();
    }
    assert_eq!(
        t.attach(eth("e3")),
        Err(IfError::TableFull {
            what: "interfaces",
            max: 3
        })
    );
    let old = t.get_by_index(idx(2)).unwrap().attach_id();
    t.detach(idx(2)).unwrap();
    assert_eq!(t.attach(eth("e9")), Ok(idx(2)), "lowest free index reused");
    let new = t.get_by_index(idx(2)).unwrap();
    assert_eq!(new.name(), "e9");
    assert_ne!(new.attach_id(), old, "attach ids are never reused");
    drop(new);
    // Address table full.
    t.add_addr(idx(1), AddrSpec::new([192, 0, 2, 1], 24))
        .unwrap();
    t.add_addr(idx(1), AddrSpec::new([192, 0, 2, 2], 24))
        .unwrap();
    assert_eq!(
        t.add_addr(idx(1), AddrSpec::new([192, 0, 2, 3], 24)),
        Err(IfError::TableFull {
            what: "addresses",
            max: 2
        })
    );
    assert_eq!(t.addr_count(), 2);
    t.remove_addr(idx(1), Ipv4Addr::new(192, 0, 2, 1)).unwrap();
    t.add_addr(idx(1), AddrSpec::new([192, 0, 2, 3], 24))
        .unwrap();
}

#[test]
fn flags_and_mtu_change_in_place_and_notify() {
    let t = table();
    let i = t.attach(IfConfig::new("eth0")).unwrap();
    let mut sub = t.subscribe(16);
    let held = t.get_by_index(i).unwrap();
    assert_eq!(
        t.set_flags(i, IfFlags::UP | IfFlags::RUNNING, IfFlags::empty()),
        Ok(IfFlags::UP | IfFlags::RUNNING)
    );
    assert!(held.is_up(), "a held reference sees the change");
    // No change, no event.
    t.set_flags(i, IfFlags::UP, IfFlags::empty()).unwrap();
    t.set_mtu(i, 1280).unwrap();
    assert_eq!(held.mtu(), 1280);
    assert_eq!(
        t.set_mtu(i, 0),
        Err(IfError::BadMtu {
            mtu: 0,
            min: MTU_MIN,
            max: MTU_MAX
        })
    );
    assert_eq!(
        t.set_mtu(idx(7), 1500),
        Err(IfError::NoSuchIndex { index: 7 })
    );
    assert_eq!(
        t.set_flags(idx(7), IfFlags::UP, IfFlags::empty()),
        Err(IfError::NoSuchIndex { index: 7 })
    );
    assert_eq!(held.mtu(), 1280);
    assert_eq!(
        events(&mut sub),
        vec![
            Event::IfInfo {
                index: i,
                flags: IfFlags::UP | IfFlags::RUNNING,
                mtu: 1500
            },
            Event::IfInfo {
                index: i,
                flags: IfFlags::UP | IfFlags::RUNNING,
                mtu: 1280
            },
        ]
    );
}

#[test]
fn detach_order_with_recording_hook() {
    let t = Arc::new(table());
    let i = t.attach(eth("eth0")).unwrap();
    let j = t.attach(eth("eth1")).unwrap();
    t.add_addr(i, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    t.add_addr(
        i,
        AddrSpec::new("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 64),
    )
    .unwrap();
    t.add_addr(j, AddrSpec::new([198, 51, 100, 1], 24)).unwrap();
    let mut sub = t.subscribe(64);
    // The hook records what it sees when called: the interface is already invisible and
    // its addresses are gone, other interfaces are untouched.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (t2, seen2) = (Arc::downgrade(&t), seen.clone());
    t.set_route_hook(Arc::new(move |index: IfIndex| {
        let t = t2.upgrade().unwrap();
        seen2.lock().unwrap().push(format!(
            "hook {index}: visible={} addrs={} other={}",
            t.get_by_index(index).is_some(),
            t.addrs_of(index, None).len(),
            t.addrs_of(idx(2), None).len()
        ));
    }));
    t.detach(i).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["hook 1: visible=false addrs=0 other=1"]
    );
    assert!(t.get("eth0").is_none());
    assert!(t.ifa_ifwithaddr(Ipv4Addr::new(192, 0, 2, 1)).is_none());
    assert!(t.ifa_ifwithaddr(Ipv4Addr::new(198, 51, 100, 1)).is_some());
    let ev = events(&mut sub);
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert!(
        matches!(ev[0], Event::IfInfo { index, flags, .. } if index == i && !flags.contains(IfFlags::UP))
    );
    assert!(matches!(ev[1], Event::DelAddr { index, .. } if index == i));
    assert!(matches!(ev[2], Event::DelAddr { index, .. } if index == i));
    assert_eq!(
        ev[3],
        Event::IfAnnounce {
            index: i,
            name: "eth0".into(),
            what: Announce::Departure
        }
    );
    // A second detach of the same index, and of a never-attached one, fail.
    assert_eq!(t.detach(i), Err(IfError::NoSuchIndex { index: 1 }));
    assert_eq!(t.detach(idx(42)), Err(IfError::NoSuchIndex { index: 42 }));
    assert_eq!(t.indices(), vec![j]);
}

#[test]
fn detach_waits_for_references() {
    let t = table();
    let i = t.attach(eth("eth0")).unwrap();
    t.add_addr(i, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    let released = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let ifp = t.get_by_index(i).unwrap();
            let ia = t.ifa_ifwithaddr(Ipv4Addr::new(192, 0, 2, 1)).unwrap();
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            assert!(ifp.is_intact() && ia.is_intact());
            assert!(!ifp.is_active(), "detach has begun");
            assert!(ia.is_removed(), "address purged");
            released.store(true, Ordering::SeqCst);
            drop((ifp, ia));
        });
        rx.recv().unwrap();
        let start = Instant::now();
        t.detach(i).unwrap();
        assert!(
            released.load(Ordering::SeqCst),
            "detach returned before release"
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
    });
}

// ------------------------------------------------------------------------ addresses

/// The family-specific values the generic address tests need.
trait Fam {
    const FAMILY: Family;
    /// Host `n` of the test subnet (`192.0.2.n/24`, `2001:db8::n/64`).
    fn host(n: u8) -> IpAddr;
    /// Host `n` of a longer prefix inside the subnet, and that prefix's length.
    fn inner(n: u8) -> (IpAddr, u8);
    /// An address of no configured subnet.
    fn elsewhere() -> IpAddr;
    const LEN: u8;
    fn key(ip: IpAddr) -> IfaAddr {
        match ip {
            IpAddr::V4(a) => IfaAddr::V4(a),
            IpAddr::V6(a) => IfaAddr::V6(ScopedAddr::new(a, None).unwrap()),
        }
    }
}

struct V4;
struct V6;

impl Fam for V4 {
    const FAMILY: Family = Family::Inet;
    const LEN: u8 = 24;
    fn host(n: u8) -> IpAddr {
        Ipv4Addr::new(192, 0, 2, n).into()
    }
    fn inner(n: u8) -> (IpAddr, u8) {
        (Ipv4Addr::new(192, 0, 2, 128 + n).into(), 25)
    }
    fn elsewhere() -> IpAddr {
        Ipv4Addr::new(203, 0, 113, 1).into()
    }
}

impl Fam for V6 {
    const FAMILY: Family = Family::Inet6;
    const LEN: u8 = 64;
    fn host(n: u8) -> IpAddr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n.into()).into()
    }
    fn inner(n: u8) -> (IpAddr, u8) {
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0x8000, 0, 0, n.into()).into(),
            65,
        )
    }
    fn elsewhere() -> IpAddr {
        Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1).into()
    }
}

fn addr_lifecycle<F: Fam>() {
    let t = table();
    let a = t.attach(eth("eth0")).unwrap();
    let b = t.attach(eth("eth1")).unwrap();
    let mut sub = t.subscribe(64);
    let k1 = t.add_addr(a, AddrSpec::new(F::host(1), F::LEN)).unwrap();
    assert_eq!(k1, F::key(F::host(1)));
    let (inner, inner_len) = F::inner(1);
    t.add_addr(b, AddrSpec::new(inner, inner_len)).unwrap();
    // Exact.
    let r = t.ifa_ifwithaddr(F::key(F::host(1))).unwrap();
    assert_eq!(
        (r.ifindex(), r.family(), r.prefix_len()),
        (a, F::FAMILY, F::LEN)
    );
    assert!(r.flags6().is_empty());
    assert!(t.ifa_ifwithaddr(F::key(F::host(2))).is_none());
    // Longest matching subnet.
    assert_eq!(t.ifa_ifwithnet(F::key(F::host(9))).unwrap().ifindex(), a);
    assert_eq!(t.ifa_ifwithnet(F::key(F::inner(9).0)).unwrap().ifindex(), b);
    assert!(t.ifa_ifwithnet(F::key(F::elsewhere())).is_none());
    // By interface.
    assert_eq!(t.addr_on(a, k1).unwrap().ifindex(), a);
    assert!(t.addr_on(b, k1).is_none());
    assert_eq!(t.first_addr(b, F::FAMILY).unwrap().addr(), F::key(inner));
    assert_eq!(t.addrs_of(a, Some(F::FAMILY)).len(), 1);
    // ifaof_ifpforaddr: subnet match, else the first of the family.
    assert_eq!(
        t.ifaof_ifpforaddr(F::key(F::host(7)), a).unwrap().addr(),
        k1
    );
    assert_eq!(
        t.ifaof_ifpforaddr(F::key(F::elsewhere()), a)
            .unwrap()
            .addr(),
        k1
    );
    // The same address may sit on another interface, but not twice on one.
    assert_eq!(
        t.add_addr(a, AddrSpec::new(F::host(1), F::LEN)),
        Err(IfError::AddressExists {
            addr: k1,
            index: a.get()
        })
    );
    t.add_addr(b, AddrSpec::new(F::host(1), F::LEN)).unwrap();
    assert_eq!(t.addr_count(), 3);
    // A counted reference outlives removal; the psref must go first.
    let counted = r.counted();
    drop(r);
    t.remove_addr(a, k1).unwrap();
    assert!(counted.is_removed() && counted.is_intact());
    assert_eq!(
        t.ifa_ifwithaddr(k1).unwrap().ifindex(),
        b,
        "the other copy remains"
    );
    assert_eq!(
        t.remove_addr(a, k1),
        Err(IfError::NoSuchAddress {
            addr: k1,
            index: a.get()
        })
    );
    let ev = events(&mut sub);
    let news = ev
        .iter()
        .filter(|e| matches!(e, Event::NewAddr { .. }))
        .count();
    let dels: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e, Event::DelAddr { .. }))
        .collect();
    assert_eq!(news, 3);
    assert_eq!(
        dels,
        [&Event::DelAddr {
            index: a,
            addr: k1,
            prefix_len: F::LEN
        }]
    );
}

#[test]
fn addr_lifecycle_v4() {
    addr_lifecycle::<V4>();
}

#[test]
fn addr_lifecycle_v6() {
    addr_lifecycle::<V6>();
}

fn addr_bad_input<F: Fam>() {
    let t = table();
    let a = t.attach(IfConfig::new("eth0").flags(IfFlags::UP)).unwrap();
    t.add_addr(a, AddrSpec::new(F::host(1), F::LEN)).unwrap();
    let mut sub = t.subscribe(16);
    let max = if F::FAMILY == Family::Inet { 32 } else { 128 };
    let other_family: IpAddr = match F::host(2) {
        IpAddr::V4(_) => "2001:db8::2".parse().unwrap(),
        IpAddr::V6(_) => "192.0.2.2".parse().unwrap(),
    };
    let mcast: IpAddr = match F::host(2) {
        IpAddr::V4(_) => "224.0.0.1".parse().unwrap(),
        IpAddr::V6(_) => "ff02::1".parse().unwrap(),
    };
    let unspec: IpAddr = match F::host(2) {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let bad: Vec<(IfIndex, AddrSpec)> = vec![
        (a, AddrSpec::new(F::host(1), F::LEN)),
        (idx(9), AddrSpec::new(F::host(2), F::LEN)),
        (a, AddrSpec::new(F::host(2), max + 1)),
        (a, AddrSpec::new(mcast, F::LEN)),
        (a, AddrSpec::new(unspec, F::LEN)),
        // A destination on an interface without POINTOPOINT.
        (a, AddrSpec::new(F::host(2), F::LEN).with_dst(F::host(3))),
        // A broadcast address on an interface without BROADCAST.
        (
            a,
            AddrSpec::new(F::host(2), F::LEN).with_broadcast(Ipv4Addr::BROADCAST),
        ),
        (
            a,
            AddrSpec::new(F::host(2), F::LEN).with_lifetime(Lifetime {
                valid: Some(Duration::from_secs(1)),
                preferred: Some(Duration::from_secs(2)),
            }),
        ),
    ];
    for (i, spec) in bad {
        let r = t.add_addr(i, spec.clone());
        assert!(r.is_err(), "{spec:?} accepted");
    }
    // Point-to-point with a peer of the other family.
    let p = t
        .attach(IfConfig::new("ppp0").flags(IfFlags::POINTOPOINT))
        .unwrap();
    assert!(matches!(
        t.add_addr(p, AddrSpec::new(F::host(5), F::LEN).with_dst(other_family)),
        Err(IfError::BadCompanion {
            what: "destination",
            ..
        })
    ));
    let _ = events(&mut sub);
    assert_eq!(t.addr_count(), 1);
    assert_eq!(t.addrs_of(a, None).len(), 1);
    assert!(t.addrs_of(p, None).is_empty());
    // Removing what is not there.
    assert!(matches!(
        t.remove_addr(a, F::key(F::host(2))),
        Err(IfError::NoSuchAddress { .. })
    ));
    assert!(matches!(
        t.remove_addr(idx(9), F::key(F::host(1))),
        Err(IfError::NoSuchAddress { .. })
    ));
    assert_eq!(t.addr_count(), 1);
    assert!(events(&mut sub).is_empty());
}

#[test]
fn addr_bad_input_v4() {
    addr_bad_input::<V4>();
    let t = table();
    let a = t.attach(eth("eth0")).unwrap();
    // IPv6 flags or lifetimes on an IPv4 address.
    assert!(matches!(
        t.add_addr(
            a,
            AddrSpec::new([192, 0, 2, 1], 24).with_flags(In6Flags::TENTATIVE)
        ),
        Err(IfError::Ipv6Only { .. })
    ));
    assert_eq!(t.addr_count(), 0);
}

#[test]
fn addr_bad_input_v6() {
    addr_bad_input::<V6>();
    let t = table();
    let a = t.attach(eth("eth0")).unwrap();
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    // A zone that is not the interface's.
    let foreign = ScopedAddr::new(ll, ZoneId::new(7)).unwrap();
    assert_eq!(
        t.add_addr(a, AddrSpec::scoped(foreign, 64)),
        Err(IfError::Addr(AddrError::ZoneMismatch {
            addr: ll,
            zone: ZoneId::new(7).unwrap(),
            expected: ZoneId::new(1).unwrap()
        }))
    );
    // ::1 only on a loopback interface.
    assert_eq!(
        t.add_addr(a, AddrSpec::new(Ipv6Addr::LOCALHOST, 128)),
        Err(IfError::Addr(AddrError::LoopbackOnNonLoopback))
    );
    // A broadcast address on an IPv6 address.
    assert!(matches!(
        t.add_addr(a, AddrSpec::new(ll, 64).with_broadcast(Ipv4Addr::BROADCAST)),
        Err(IfError::BadCompanion {
            what: "broadcast",
            ..
        })
    ));
    assert_eq!(t.addr_count(), 0);
    let lo = t
        .attach(IfConfig::new("lo0").flags(IfFlags::LOOPBACK))
        .unwrap();
    t.add_addr(lo, AddrSpec::new(Ipv6Addr::LOCALHOST, 128))
        .unwrap();
}

#[test]
fn ipv4_broadcast_and_point_to_point() {
    let t = table();
    let e = t.attach(eth("eth0")).unwrap();
    let p = t
        .attach(IfConfig::new("ppp0").flags(IfFlags::UP | IfFlags::POINTOPOINT))
        .unwrap();
    t.add_addr(e, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    t.add_addr(
        p,
        AddrSpec::new([10, 0, 0, 1], 32).with_dst(Ipv4Addr::new(10, 0, 0, 2)),
    )
    .unwrap();
    // ifa_ifwithaddr also matches the broadcast address of BROADCAST interfaces.
    let b = t.ifa_ifwithaddr(Ipv4Addr::new(192, 0, 2, 255)).unwrap();
    assert_eq!(
        (b.ifindex(), b.broadcast()),
        (e, Some(Ipv4Addr::new(192, 0, 2, 255)))
    );
    // Point-to-point peers.
    let d = t.ifa_ifwithdstaddr(Ipv4Addr::new(10, 0, 0, 2)).unwrap();
    assert_eq!(d.ifindex(), p);
    assert_eq!(d.dst(), Some(IfaAddr::V4(Ipv4Addr::new(10, 0, 0, 2))));
    assert!(t.ifa_ifwithdstaddr(Ipv4Addr::new(10, 0, 0, 1)).is_none());
    assert_eq!(
        t.ifa_ifwithnet(Ipv4Addr::new(10, 0, 0, 2))
            .unwrap()
            .ifindex(),
        p
    );
    assert_eq!(
        t.ifaof_ifpforaddr(Ipv4Addr::new(10, 0, 0, 2), p)
            .unwrap()
            .ifindex(),
        p
    );
    // An explicit broadcast address.
    t.add_addr(
        e,
        AddrSpec::new([198, 51, 100, 1], 24).with_broadcast(Ipv4Addr::new(198, 51, 100, 7)),
    )
    .unwrap();
    assert!(t.ifa_ifwithaddr(Ipv4Addr::new(198, 51, 100, 7)).is_some());
    assert!(t.ifa_ifwithaddr(Ipv4Addr::new(198, 51, 100, 255)).is_none());
}

#[test]
fn ipv6_link_local_zones() {
    let t = table();
    let a = t.attach(eth("eth0")).unwrap();
    let b = t.attach(eth("eth1")).unwrap();
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    let ka = t.add_addr(a, AddrSpec::new(ll, 64)).unwrap();
    let kb = t.add_addr(b, AddrSpec::new(ll, 64)).unwrap();
    assert_eq!(
        ka,
        IfaAddr::V6(ScopedAddr::new(ll, ZoneId::new(1)).unwrap())
    );
    assert_eq!(
        kb,
        IfaAddr::V6(ScopedAddr::new(ll, ZoneId::new(2)).unwrap())
    );
    assert_eq!(ka.to_string(), "fe80::1%1");
    assert_eq!(t.ifa_ifwithaddr(ka).unwrap().ifindex(), a);
    assert_eq!(t.ifa_ifwithaddr(kb).unwrap().ifindex(), b);
    let peer =
        |z| IfaAddr::V6(ScopedAddr::new("fe80::99".parse().unwrap(), ZoneId::new(z)).unwrap());
    assert_eq!(t.ifa_ifwithnet(peer(2)).unwrap().ifindex(), b);
    assert_eq!(t.ifa_ifwithnet(peer(1)).unwrap().ifindex(), a);
    assert!(t.ifa_ifwithnet(peer(3)).is_none());
    // An explicit zone that matches is accepted.
    let ll2 = ScopedAddr::new("fe80::2".parse().unwrap(), ZoneId::new(1)).unwrap();
    t.add_addr(a, AddrSpec::scoped(ll2, 64)).unwrap();
    // Removing needs the zone: the same bytes on eth1 are another address.
    assert!(t.remove_addr(a, kb).is_err());
    t.remove_addr(b, kb).unwrap();
    assert!(t.ifa_ifwithaddr(ka).is_some());
}

#[test]
fn ipv6_flags_and_lifetimes_with_fake_clock() {
    let clock = Arc::new(FakeClock::new());
    let t = fake_table(clock.clone());
    let a = t.attach(eth("eth0")).unwrap();
    let g1: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let g2: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let k1 = t
        .add_addr(
            a,
            AddrSpec::new(g1, 64)
                .with_flags(In6Flags::TENTATIVE | In6Flags::AUTOCONF)
                .with_lifetime(Lifetime {
                    valid: Some(Duration::from_secs(10)),
                    preferred: Some(Duration::from_secs(5)),
                }),
        )
        .unwrap();
    let k2 = t.add_addr(a, AddrSpec::new(g2, 64)).unwrap();
    let mut sub = t.subscribe(16);
    // DAD completes.
    assert_eq!(
        t.set_addr_flags(a, k1, In6Flags::empty(), In6Flags::TENTATIVE),
        Ok(In6Flags::AUTOCONF)
    );
    let r = t.ifa_ifwithaddr(k1).unwrap();
    let now = || t.clock().now();
    assert_eq!(r.valid_remaining(now()), Some(Duration::from_secs(10)));
    assert!(!r.is_deprecated(now()));
    drop(r);
    clock.advance(Duration::from_secs(6));
    let rep = t.expire();
    assert_eq!(rep.deprecated, vec![(a, k1)]);
    assert!(rep.removed.is_empty());
    let r = t.ifa_ifwithaddr(k1).unwrap();
    assert!(r.flags6().contains(In6Flags::DEPRECATED) && r.is_deprecated(now()));
    assert_eq!(r.valid_remaining(now()), Some(Duration::from_secs(4)));
    drop(r);
    clock.advance(Duration::from_secs(4));
    let rep = t.expire();
    assert_eq!(rep.removed, vec![(a, k1)]);
    assert!(t.ifa_ifwithaddr(k1).is_none());
    let r2 = t.ifa_ifwithaddr(k2).unwrap();
    assert_eq!(r2.valid_remaining(now()), None, "infinite lifetime");
    assert!(!r2.is_expired(now()));
    drop(r2);
    assert_eq!(
        events(&mut sub),
        vec![
            Event::ChgAddr {
                index: a,
                addr: k1,
                flags: In6Flags::AUTOCONF
            },
            Event::ChgAddr {
                index: a,
                addr: k1,
                flags: In6Flags::AUTOCONF | In6Flags::DEPRECATED
            },
            Event::DelAddr {
                index: a,
                addr: k1,
                prefix_len: 64
            }
        ]
    );
    // Flags on an IPv4 address or a missing one.
    t.add_addr(a, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    assert!(matches!(
        t.set_addr_flags(
            a,
            Ipv4Addr::new(192, 0, 2, 1),
            In6Flags::DEPRECATED,
            In6Flags::empty()
        ),
        Err(IfError::Ipv6Only { .. })
    ));
    assert!(matches!(
        t.set_addr_flags(a, k1, In6Flags::DEPRECATED, In6Flags::empty()),
        Err(IfError::NoSuchAddress { .. })
    ));
}

// ------------------------------------------------------------------------ moptions, events

#[test]
fn multicast_options_survive_detach_safely() {
    let t = table();
    let i = t.attach(eth("eth0")).unwrap();
    let mut mo = MulticastOptions::new();
    assert_eq!((mo.hops, mo.loopback), (DEFAULT_MULTICAST_HOPS, true));
    assert_eq!(mo.interface(&t).map(|r| r.is_none()), Ok(true));
    assert_eq!(
        mo.set_interface(&t, idx(5)),
        Err(IfError::NoSuchIndex { index: 5 })
    );
    assert_eq!(mo.index(), None, "unchanged on error");
    mo.set_interface(&t, i).unwrap();
    assert_eq!(mo.interface(&t).unwrap().unwrap().name(), "eth0");
    t.detach(i).unwrap();
    assert_eq!(
        mo.interface(&t).err(),
        Some(IfError::InterfaceGone { index: 1 })
    );
    // The index is reused by another interface: still gone for these options.
    assert_eq!(t.attach(eth("eth9")), Ok(i));
    assert_eq!(
        mo.interface(&t).err(),
        Some(IfError::InterfaceGone { index: 1 })
    );
    mo.clear_interface();
    assert_eq!(mo.interface(&t).map(|r| r.is_none()), Ok(true));
}

#[test]
fn announce_events() {
    let t = table();
    let mut sub = t.subscribe(16);
    let i = t.attach(eth("eth0")).unwrap();
    let k = t.add_addr(i, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    assert_eq!(
        events(&mut sub),
        vec![
            Event::IfAnnounce {
                index: i,
                name: "eth0".into(),
                what: Announce::Arrival
            },
            Event::NewAddr {
                index: i,
                addr: k,
                prefix_len: 24
            },
        ]
    );
}

#[test]
fn tables_in_different_domains_are_independent() {
    let (t1, t2) = (table(), table());
    t1.attach(eth("eth0")).unwrap();
    assert!(t2.get("eth0").is_none());
    t2.attach(eth("eth0")).unwrap();
    t1.detach(idx(1)).unwrap();
    assert!(t2.get("eth0").is_some());
}

#[test]
fn link_local_and_local_subnet() {
    let t = table();
    let a = t.attach(eth("eth0")).unwrap();
    t.add_addr(
        a,
        AddrSpec::new("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 64),
    )
    .unwrap();
    assert!(t.link_local_of(a, In6Flags::empty()).is_none());
    let tentative = t
        .add_addr(
            a,
            AddrSpec::new("fe80::1".parse::<Ipv6Addr>().unwrap(), 64)
                .with_flags(In6Flags::TENTATIVE),
        )
        .unwrap();
    let usable = In6Flags::TENTATIVE | In6Flags::DUPLICATED;
    assert!(t.link_local_of(a, usable).is_none());
    assert_eq!(
        t.link_local_of(a, In6Flags::empty()).unwrap().addr(),
        tentative
    );
    t.set_addr_flags(a, tentative, In6Flags::empty(), In6Flags::TENTATIVE)
        .unwrap();
    assert_eq!(t.link_local_of(a, usable).unwrap().addr(), tentative);

    t.add_addr(a, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    assert!(t.is_local_subnet(Ipv4Addr::new(192, 0, 2, 200)));
    assert!(!t.is_local_subnet(Ipv4Addr::new(198, 51, 100, 1)));
    let g = |s: &str| ScopedAddr::new(s.parse().unwrap(), None).unwrap();
    assert!(t.is_local_subnet(g("2001:db8::77")));
    assert!(!t.is_local_subnet(g("2001:db8:1::77")));
    assert!(t.is_local_subnet(g("::1")));
    let ll = ScopedAddr::new("fe80::9".parse().unwrap(), ZoneId::new(5)).unwrap();
    assert!(t.is_local_subnet(ll));
}

#[test]
fn set_lifetime_refreshes_and_refuses_bad_input() {
    let clock = Arc::new(FakeClock::new());
    let t = fake_table(clock.clone());
    let a = t.attach(eth("eth0")).unwrap();
    let short = Lifetime {
        valid: Some(Duration::from_secs(10)),
        preferred: Some(Duration::from_secs(5)),
    };
    let k = t
        .add_addr(
            a,
            AddrSpec::new("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 64).with_lifetime(short),
        )
        .unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(t.expire().deprecated, vec![(a, k)]);
    // Refresh: valid again, no longer deprecated.
    t.set_lifetime(a, k, short).unwrap();
    let r = t.addr_on(a, k).unwrap();
    assert!(!r.is_deprecated(t.clock().now()));
    assert_eq!(
        r.valid_remaining(t.clock().now()),
        Some(Duration::from_secs(10))
    );
    drop(r);
    // Bad input changes nothing.
    let bad = Lifetime {
        valid: Some(Duration::from_secs(1)),
        preferred: Some(Duration::from_secs(2)),
    };
    assert_eq!(t.set_lifetime(a, k, bad), Err(IfError::BadLifetime));
    assert!(matches!(
        t.set_lifetime(idx(9), k, short),
        Err(IfError::NoSuchAddress { .. })
    ));
    let k4 = t.add_addr(a, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    assert!(matches!(
        t.set_lifetime(a, k4, short),
        Err(IfError::Ipv6Only { .. })
    ));
    t.set_lifetime(a, k4, Lifetime::INFINITE).unwrap();
    assert_eq!(
        t.addr_on(a, k).unwrap().valid_remaining(t.clock().now()),
        Some(Duration::from_secs(10))
    );
}

// ------------------------------------------------------------------------ differential

mod differential {
    //! Random add/remove sequences against a naive model (a list in insertion order):
    //! every lookup must agree with a brute-force scan, and every refused operation must
    //! leave the model and the table equal.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Add {
            ifx: u32,
            v6: bool,
            host: u8,
            len: u8,
        },
        Remove {
            ifx: u32,
            v6: bool,
            host: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1..=3u32, any::<bool>(), 0..8u8, 0..=4u8).prop_map(|(ifx, v6, host, l)| Op::Add {
                ifx,
                v6,
                host,
                len: [8, 16, 24, 28, 30][usize::from(l)],
            }),
            2 => (1..=4u32, any::<bool>(), 0..8u8).prop_map(|(ifx, v6, host)| Op::Remove { ifx, v6, host }),
        ]
    }

    /// Host `h` of a small space where prefixes of different lengths overlap.
    fn ip(v6: bool, h: u8) -> IpAddr {
        if v6 {
            Ipv6Addr::new(0x2001, 0xdb8, 0, u16::from(h / 4), 0, 0, 0, u16::from(h)).into()
        } else {
            Ipv4Addr::new(10, 0, h / 4, h).into()
        }
    }

    fn key(a: IpAddr) -> IfaAddr {
        match a {
            IpAddr::V4(a) => IfaAddr::V4(a),
            IpAddr::V6(a) => IfaAddr::V6(ScopedAddr::new(a, None).unwrap()),
        }
    }

    /// The prefix length scaled to the family (IPv6 lengths are 64 more, /8 → /72).
    fn plen(v6: bool, len: u8) -> u8 {
        if v6 { len + 64 } else { len }
    }

    #[derive(Clone)]
    struct Entry {
        ifx: IfIndex,
        addr: IfaAddr,
        net: crate::addr::IpNet,
    }

    fn contains(e: &Entry, a: &IfaAddr) -> bool {
        match (e.net, a) {
            (crate::addr::IpNet::V4(n), IfaAddr::V4(x)) => n.contains(x),
            (crate::addr::IpNet::V6(n), IfaAddr::V6(x)) => n.contains(&x.addr()),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn lookups_match_a_naive_model(ops in proptest::collection::vec(op(), 1..40)) {
            let t = table();
            for n in 0..3 {
                t.attach(IfConfig::new(format!("e{n}")).flags(IfFlags::UP)).unwrap();
            }
            let mut model: Vec<Entry> = Vec::new();
            for op in ops {
                match op {
                    Op::Add { ifx, v6, host, len } => {
                        let i = idx(ifx);
                        let a = ip(v6, host);
                        let l = plen(v6, len);
                        let exists = model.iter().any(|e| e.ifx == i && e.addr == key(a));
                        let r = t.add_addr(i, AddrSpec::new(a, l));
                        if exists {
                            prop_assert!(matches!(r, Err(IfError::AddressExists { .. })), "duplicate accepted");
                        } else {
                            prop_assert_eq!(r, Ok(key(a)));
                            let net = crate::addr::IpNet::new(a, l).unwrap().trunc();
                            model.push(Entry { ifx: i, addr: key(a), net });
                        }
                    }
                    Op::Remove { ifx, v6, host } => {
                        let i = idx(ifx);
                        let k = key(ip(v6, host));
                        let pos = model.iter().position(|e| e.ifx == i && e.addr == k);
                        let r = t.remove_addr(i, k);
                        match pos {
                            Some(p) => {
                                prop_assert_eq!(r, Ok(()));
                                model.remove(p);
                            }
                            None => prop_assert!(matches!(r, Err(IfError::NoSuchAddress { .. })), "missing removed"),
                        }
                    }
                }
                prop_assert_eq!(t.addr_count(), model.len());
                for v6 in [false, true] {
                    for h in 0..8 {
                        let q = key(ip(v6, h));
                        let fam = q.family();
                        // ifa_ifwithaddr: the first-added exact match.
                        let want = model.iter().find(|e| e.addr == q).map(|e| e.ifx);
                        prop_assert_eq!(t.ifa_ifwithaddr(q).map(|a| a.ifindex()), want);
                        // ifa_ifwithnet: longest prefix, first added on ties.
                        let mut best: Option<&Entry> = None;
                        for e in model.iter().filter(|e| e.addr.family() == fam) {
                            if contains(e, &q) && best.is_none_or(|b| e.net.prefix_len() > b.net.prefix_len()) {
                                best = Some(e);
                            }
                        }
                        let got = t.ifa_ifwithnet(q).map(|a| (a.ifindex(), a.addr()));
                        prop_assert_eq!(got, best.map(|e| (e.ifx, e.addr)));
                        // ifaof_ifpforaddr on each interface.
                        for ifx in 1..=3 {
                            let i = idx(ifx);
                            let mine: Vec<&Entry> = model.iter().filter(|e| e.ifx == i && e.addr.family() == fam).collect();
                            let want = mine.iter().find(|e| e.addr == q).or_else(|| {
                                let mut best: Option<&&Entry> = None;
                                for e in &mine {
                                    if contains(e, &q) && best.is_none_or(|b| e.net.prefix_len() > b.net.prefix_len()) {
                                        best = Some(e);
                                    }
                                }
                                best
                            }).or(mine.first()).map(|e| e.addr);
                            prop_assert_eq!(t.ifaof_ifpforaddr(q, i).map(|a| a.addr()), want);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn error_messages_name_the_input() {
    let k = IfaAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let table: Vec<(IfError, &str)> = vec![
        (
            IfError::DuplicateName {
                name: "eth0".into(),
            },
            "an interface named \"eth0\" already exists",
        ),
        (
            IfError::NoSuchIndex { index: 7 },
            "no interface with index 7",
        ),
        (
            IfError::InterfaceGone { index: 3 },
            "the interface with index 3 is gone",
        ),
        (
            IfError::TableFull {
                what: "interfaces",
                max: 4,
            },
            "the table is full (4 interfaces)",
        ),
        (
            IfError::AddressExists { addr: k, index: 2 },
            "192.0.2.1 already exists on interface 2",
        ),
        (
            IfError::Ipv6Only {
                addr: k.ip(),
                what: "IPv6 flags",
            },
            "IPv6 flags apply only to IPv6 addresses, not to 192.0.2.1",
        ),
        (
            IfError::Addr(AddrError::LoopbackOnNonLoopback),
            "::1 can only belong to a loopback interface",
        ),
    ];
    for (e, want) in table {
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn walks_inside_a_callers_read_section() {
    let t = table();
    let a = t.attach(eth("eth0")).unwrap();
    let b = t.attach(eth("eth1")).unwrap();
    t.add_addr(a, AddrSpec::new([192, 0, 2, 1], 24)).unwrap();
    t.add_addr(b, AddrSpec::new([198, 51, 100, 1], 24)).unwrap();
    t.add_addr(
        b,
        AddrSpec::new("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 64),
    )
    .unwrap();
    let held: IfAddrRef<'_> = {
        let g = t.domain().read();
        let v4: Vec<IfIndex> = t.addrs_in(&g, Family::Inet).map(|a| a.ifindex()).collect();
        assert_eq!(v4, vec![a, b]);
        assert_eq!(t.addrs_in(&g, Family::Inet6).count(), 1);
        assert_eq!(t.addrs_of_in(&g, b, None).count(), 2);
        assert_eq!(t.addrs_of_in(&g, b, Some(Family::Inet6)).count(), 1);
        assert_eq!(t.addrs_of_in(&g, idx(9), None).count(), 0);
        // Keep one past the section.
        let first = t.addrs_in(&g, Family::Inet6).next().unwrap();
        IfAddrRef::from(first.acquire())
    };
    assert_eq!(held.ifindex(), b);
    drop(held);
    t.detach(b).unwrap();
    let g = t.domain().read();
    assert_eq!(t.addrs_in(&g, Family::Inet).count(), 1);
}
