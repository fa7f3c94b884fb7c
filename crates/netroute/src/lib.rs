//! netroute: the routing core of NetBSD's MP-safe network stack, in Rust.
//!
//! The library re-creates, for userspace network stacks, what NetBSD built between 2016
//! and 2018 when it made its network stack MP-safe: a routing table whose entries are
//! protected by passive references and passive serialization, route caches that are
//! invalidated whenever the table changes, interfaces and addresses found by index under
//! the same protection, source address selection, and compact TIME_WAIT state.
//!
//! The synchronization primitives live in the [`psref`] crate, re-exported here; it is the
//! only crate of the workspace with `unsafe` concurrency code.
//!
//! Everything hangs off one explicit context value, [`Stack`], which owns the interface
//! table, both route tables, both TIME_WAIT tables, the clock and the tunables; there are
//! no globals, so two stacks in one process never see each other.
#![deny(unsafe_code)]

pub mod addr;
pub mod clock;
pub mod flow;
pub mod ifnet;
pub mod synth;
pub mod timewait;
pub mod torture;

pub use psref;

pub mod route;
pub mod select;
pub mod stack;

pub use stack::{Stack, StackConfig, StackError, StackFile, StackFileError, TickReport};

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
