//! The `netroute` command.
fn main() {}
