//! `cozystack-api`: the aggregated API server binary.
fn main() {}
