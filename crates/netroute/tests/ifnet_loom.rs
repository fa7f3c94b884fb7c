//! loom model of the interface layer's core race: a reader's lookup-then-acquire
//! (`if_get_byindex`, `ifa_ifwithaddr_psref`) against a concurrent `if_detach`.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p netroute --test ifnet_loom --profile loom`
//!
//! The synchronization itself lives in `psref` (whose own loom models check the
//! protocol, with the payload accesses tracked); here loom explores the interleavings of
//! the table's use of it. Properties checked in every interleaving:
//! * a lookup returns either the intact interface (canary alive, still named as
//!   attached) or nothing;
//! * if the reader got a reference, `detach` returned only after the reader released it;
//! * after `detach` returned, lookups by index, name and address find nothing.
//!
//! Checked to fail when broken (by hand; 2 preemptions, a few seconds in a debug build):
//! `detach` not waiting for the interface's references (`mem::forget` of its `Retired`)
//! fails `lookup_then_acquire_vs_detach`; the address purge not waiting (`mem::forget`
//! of its `Batch`) fails `address_lookup_vs_detach`. The latter is caught only because
//! the reader-visible flags (`removed`, `deactivated`) are loom atomics under
//! `cfg(loom)` (`src/ifnet/sync.rs`): with std atomics loom's DPOR never scheduled the
//! reader ahead of the purge.
#![cfg(loom)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use loom::thread;
use netroute::addr::IfIndex;
use netroute::ifnet::{AddrSpec, IfConfig, IfFlags, IfTable};
use netroute::psref::Domain;

fn setup(with_addr: bool) -> (Arc<IfTable>, IfIndex) {
    let t = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let i = t
        .attach(IfConfig::new("eth0").flags(IfFlags::UP))
        .expect("attach");
    if with_addr {
        t.add_addr(i, AddrSpec::new([192, 0, 2, 1], 24))
            .expect("add_addr");
    }
    (t, i)
}

#[test]
fn lookup_then_acquire_vs_detach() {
    loom::model(|| {
        let (t, i) = setup(false);
        let got = Arc::new(AtomicU8::new(0));
        let released = Arc::new(AtomicBool::new(false));
        let reader = {
            let (t, got, released) = (t.clone(), got.clone(), released.clone());
            thread::spawn(move || {
                if let Some(ifp) = t.get_by_index(i) {
                    got.store(1, Ordering::Relaxed);
                    assert!(ifp.is_intact());
                    assert_eq!(ifp.name(), "eth0");
                    thread::yield_now();
                    assert!(ifp.is_intact());
                    released.store(true, Ordering::Relaxed);
                    drop(ifp);
                }
            })
        };
        t.detach(i).expect("detach");
        if got.load(Ordering::Relaxed) == 1 {
            assert!(
                released.load(Ordering::Relaxed),
                "detach returned while a reference was held"
            );
        }
        assert!(t.get_by_index(i).is_none());
        assert!(t.get("eth0").is_none());
        reader.join().unwrap();
    });
}

#[test]
fn address_lookup_vs_detach() {
    loom::model(|| {
        let (t, i) = setup(true);
        let got = Arc::new(AtomicU8::new(0));
        let released = Arc::new(AtomicBool::new(false));
        let reader = {
            let (t, got, released) = (t.clone(), got.clone(), released.clone());
            thread::spawn(move || {
                if let Some(ia) = t.ifa_ifwithaddr(Ipv4Addr::new(192, 0, 2, 1)) {
                    got.store(1, Ordering::Relaxed);
                    assert!(ia.is_intact());
                    assert_eq!(ia.ifindex(), i);
                    thread::yield_now();
                    assert!(ia.is_intact());
                    released.store(true, Ordering::Relaxed);
                    drop(ia);
                }
            })
        };
        t.detach(i).expect("detach");
        if got.load(Ordering::Relaxed) == 1 {
            assert!(
                released.load(Ordering::Relaxed),
                "address purge returned while a reference was held"
            );
        }
        assert!(t.ifa_ifwithaddr(Ipv4Addr::new(192, 0, 2, 1)).is_none());
        reader.join().unwrap();
    });
}
