//! Bus bench.
fn main() {}
