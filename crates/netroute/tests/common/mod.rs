//! Helpers shared by the integration tests and benchmarks.
pub mod replay;
pub mod ris;
