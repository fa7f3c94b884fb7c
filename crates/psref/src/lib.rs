//! Passive serialization and passive references, after NetBSD's `pserialize(9)` and
//! `psref(9)`, for userspace Rust.
//!
//! # The idea
//!
//! Readers of a shared structure (a routing table, an interface list) should not pay for
//! the rare writer: no lock, no atomic read-modify-write, no store to a cache line another
//! thread writes. NetBSD gets there with two tools, both reproduced here:
//!
//! * **pserialize** — a *read section* ([`Domain::read`]) announces "I may be looking at
//!   shared objects" with one store to the thread's own record. A writer unlinks an object,
//!   calls [`Domain::synchronize`] (`pserialize_perform`), which returns once every section
//!   open at the call has ended, and may then free the object. Sections must be short and
//!   must not wait for writers.
//! * **psref** — inside a section a reader may turn a found object into a passive
//!   reference ([`PsRef`], `psref_acquire`) that outlives the section and may be held while
//!   blocking, but never leaves its thread. Acquire and release write only the thread's own
//!   table. Destroying the object (`psref_target_destroy`) first makes new acquisitions
//!   impossible (unlink + synchronize), then polls every thread's table until no entry
//!   references it. The destroyer does the expensive part.
//!
//! ```
//! use psref::{Domain, Slot};
//!
//! let domain = Domain::new();
//! let route = Slot::new(String::from("192.0.2.0/24 via 198.51.100.1"), &domain);
//!
//! // Reader: find it in a read section, keep a reference after the section.
//! let held = {
//!     let guard = domain.read();
//!     route.load(&guard).map(|r| r.acquire())
//! };
//! assert_eq!(held.as_deref().map(String::as_str), Some("192.0.2.0/24 via 198.51.100.1"));
//! drop(held);
//!
//! // Writer: replace it; the old object is destroyed once nobody can see it.
//! if let Some(old) = route.store(String::from("192.0.2.0/24 via 198.51.100.2"), &domain) {
//!     old.destroy(); // synchronize, wait for references, drop
//! }
//! ```
//!
//! # Cost model (see BENCHMARKS.md for measured figures)
//!
//! A read section is a thread-local lookup, one load of the epoch and one store; its fence
//! is a compiler fence when the kernel offers `membarrier(2)` (the writer then forces a
//! real barrier on every running thread) and a `SeqCst` fence otherwise ([`barrier`]).
//! A reference is two stores into a thread-owned table. A synchronize costs one membarrier
//! plus the wait for the slowest open section: writers batch ([`Batch`]). The membarrier
//! also costs every *running* reader an interrupt (several µs on a KVM guest), so a domain
//! whose readers open one section per batch of work and whose writer synchronizes often
//! is better off fenced ([`Domain::fenced`]: the reader fences, the writer interrupts
//! nobody); the protocol is fixed per domain at creation.
//!
//! # Differences from NetBSD
//!
//! * A [`Domain`] bundles one pserialize instance and one psref class; it is a value, not a
//!   global, so independent stacks in one process never wait for each other.
//! * References are bound to a thread (`!Send`) rather than a CPU with preemption
//!   disabled: userspace cannot pin a thread cheaply, and per-thread tables give the same
//!   "no shared write" property.
//! * NetBSD trusts the caller (KASSERTs). Here the types do most of the checking: a
//!   reference can only be taken from an object found inside a section, cannot outlive the
//!   slot it came from, and cannot change threads; an object can only be freed through the
//!   destroy protocol; the remaining misuse (synchronize inside a section, destroying what
//!   you hold) panics instead of deadlocking.
//!
//! # Misuse that does not compile
//!
//! A reference cannot move to another thread (it lives in that thread's table):
//! ```compile_fail
//! # use psref::{Domain, Slot};
//! let d = Domain::new();
//! let s = Slot::new(1u32, &d);
//! let r = d.with_read(|g| s.load(g).unwrap().acquire());
//! std::thread::scope(|sc| { sc.spawn(move || drop(r)); });
//! ```
//! Neither can a read section:
//! ```compile_fail
//! # use psref::Domain;
//! let d = Domain::new();
//! let g = d.read();
//! std::thread::scope(|sc| { sc.spawn(move || drop(g)); });
//! ```
//! An object found in a section cannot be used after the section without a reference:
//! ```compile_fail
//! # use psref::{Domain, Slot};
//! let d = Domain::new();
//! let s = Slot::new(1u32, &d);
//! let found = { let g = d.read(); s.load(&g).unwrap() };
//! println!("{}", *found);
//! ```
//! A reference cannot outlive the slot it came from (dropping a slot frees its object):
//! ```compile_fail
//! # use psref::{Domain, Slot};
//! let d = Domain::new();
//! let r = {
//!     let s = Slot::new(1u32, &d);
//!     d.with_read(|g| s.load(g).unwrap().acquire())
//! };
//! println!("{}", *r);
//! ```
//! Acquiring needs an object found inside a section: there is no other way to get one.
//!
//! # Checked by
//!
//! loom models of every protocol (`tests/loom.rs`, fallback fences; mutations selected with
//! `PSREF_MUTATION=…` make them fail), Miri on the unit and integration tests, and
//! a multi-thread canary stress test (`tests/stress.rs`).
#![warn(missing_docs)]

pub mod barrier;
mod domain;
mod record;
mod slot;
mod sync;
mod target;

pub use domain::{Domain, DrainReport, Holder, ReadGuard, Reader};
pub use slot::{Batch, PsRef, Retired, Shared, Slot};
pub use target::Target;
