//! Tests of the watch cache: the history window and event conversion, a property test of resume, and watches,
//! lists and the feeder against a simulated backend.

mod feed;
mod props;
mod reflector;
mod state;
mod watch;
