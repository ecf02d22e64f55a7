//! Reliability tools for cozystack-api: the fault harness and its Jepsen-style checker (`checker`, pure:
//! histories in, anomalies out), a fuzz driver and hostile clients against the live server, and a soak run.
//! The binaries write their results into docs/reliability.md (`report`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chart;
pub mod checker;
pub mod fuzz;
pub mod plane;
pub mod report;
pub mod rng;
