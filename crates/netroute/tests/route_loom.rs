//! loom model of the route cache's core race: `RouteCache::validate` (generation
//! compare, slot load, id compare, psref acquire) against a concurrent `RTM_DELETE`
//! (FIB unpublish + generation bump, synchronize, slot emptied, references drained).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p netroute --test route_loom --profile loom`
//!
//! Properties checked in every interleaving:
//! * a validated route is intact and is the cached route;
//! * `delete` returns only after the reader released its reference;
//! * a validation that begins after `delete` returned never yields the route (the
//!   issue's "a validated route is never one whose delete completed before validate
//!   began");
//! * after `delete` returned, table lookups find nothing;
//! * a lookup racing the delete of a more specific route finds it or the covering
//!   route, never nothing.
//!
//! Checked to fail when broken (by hand, 2 preemptions, debug build, seconds):
//! `delete` not draining references (`mem::forget` of its `Batch`) fails
//! `validate_vs_delete`; `delete` emptying the slot without first synchronizing after
//! the FIB unpublish fails `lookup_vs_delete_of_a_more_specific_route`.
#![cfg(loom)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use netroute::ifnet::{IfConfig, IfFlags, IfTable};
use netroute::psref::Domain;
use netroute::route::{RouteCache, RouteKey, RouteSpec, RouteTables};

fn setup() -> Arc<RouteTables> {
    let ifs = Arc::new(IfTable::new(Arc::new(Domain::new())));
    let rt = RouteTables::new(Arc::clone(&ifs));
    let i = ifs
        .attach(IfConfig::new("eth0").flags(IfFlags::UP))
        .expect("attach");
    // An interface route keeps the setup (run in every execution) short.
    rt.add(&RouteSpec::new("10.0.0.0/8".parse().unwrap()).dev(i))
        .expect("add");
    rt
}

#[test]
fn validate_vs_delete() {
    let mut b = loom::model::Builder::new();
    // The setup's synchronizes (single-threaded) count as branches too.
    b.max_branches = 100_000;
    b.check(|| {
        let rt = setup();
        let dst = Ipv4Addr::new(10, 1, 2, 3);
        // The cache is filled before the race (on the reader's own thread).
        let deleted = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        let reader = {
            let (rt, deleted, held, released) =
                (rt.clone(), deleted.clone(), held.clone(), released.clone());
            let mut cache = RouteCache::new();
            cache.set_dst(dst).expect("set_dst");
            let id = cache.init_noclone(&rt).map(|r| r.id()).expect("fill");
            thread::spawn(move || {
                let done_before = deleted.load(Ordering::SeqCst);
                if let Some(r) = cache.validate(&rt) {
                    assert!(!done_before, "validated a route whose delete had completed");
                    held.store(true, Ordering::SeqCst);
                    assert!(r.is_intact());
                    assert_eq!(r.id(), id);
                    thread::yield_now();
                    assert!(r.is_intact());
                    released.store(true, Ordering::SeqCst);
                    drop(r);
                }
            })
        };
        rt.delete(&RouteKey::new("10.0.0.0/8".parse().unwrap()))
            .expect("delete");
        deleted.store(true, Ordering::SeqCst);
        if held.load(Ordering::SeqCst) {
            assert!(
                released.load(Ordering::SeqCst),
                "delete returned while a reference was held"
            );
        }
        assert!(rt.lookup(dst, false).is_none());
        reader.join().unwrap();
    });
}

/// The same race through `validate_shared` in the reader's own open section: the entry
/// it returns is intact until the section ends, and never one whose delete completed
/// before the section began.
#[test]
fn validate_shared_vs_delete() {
    let mut b = loom::model::Builder::new();
    b.max_branches = 100_000;
    b.check(|| {
        let rt = setup();
        let dst = Ipv4Addr::new(10, 1, 2, 3);
        let deleted = Arc::new(AtomicBool::new(false));
        let reader = {
            let (rt, deleted) = (rt.clone(), deleted.clone());
            let mut cache = RouteCache::new();
            cache.set_dst(dst).expect("set_dst");
            let id = cache.init_noclone(&rt).map(|r| r.id()).expect("fill");
            thread::spawn(move || {
                let done_before = deleted.load(Ordering::SeqCst);
                let domain = Arc::clone(rt.domain());
                let g = domain.read();
                if let Some(e) = cache.validate_shared(&rt, &g) {
                    assert!(!done_before, "validated a route whose delete had completed");
                    assert!(e.get().is_intact());
                    assert_eq!(e.get().id(), id);
                    thread::yield_now();
                    assert!(e.get().is_intact());
                }
            })
        };
        rt.delete(&RouteKey::new("10.0.0.0/8".parse().unwrap()))
            .expect("delete");
        deleted.store(true, Ordering::SeqCst);
        assert!(rt.lookup(dst, false).is_none());
        reader.join().unwrap();
    });
}

/// Deleting a more specific route while a covering one stays: a concurrent lookup gets
/// one of the two, never nothing (the two-phase delete: FIB unpublish, synchronize,
/// then the slot is emptied).
#[test]
fn lookup_vs_delete_of_a_more_specific_route() {
    let mut b = loom::model::Builder::new();
    b.max_branches = 100_000;
    b.check(|| {
        let rt = setup();
        let i = rt.ifs().indices()[0];
        let more = rt
            .add(&RouteSpec::new("10.1.0.0/16".parse().unwrap()).dev(i))
            .expect("add")
            .id;
        let reader = {
            let rt = rt.clone();
            thread::spawn(move || {
                let r = rt
                    .lookup(Ipv4Addr::new(10, 1, 2, 3), false)
                    .expect("a covering route exists throughout");
                assert!(r.is_intact());
            })
        };
        rt.delete(&RouteKey::new("10.1.0.0/16".parse().unwrap()))
            .expect("delete");
        assert_ne!(
            rt.lookup(Ipv4Addr::new(10, 1, 2, 3), false).map(|r| r.id()),
            Some(more)
        );
        reader.join().unwrap();
    });
}
