//! VTW benchmark (placeholder).
fn main() {}
