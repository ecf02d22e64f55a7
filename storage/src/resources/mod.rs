//! One registry per served resource: only what differs from the generic store lives here.

pub mod application;
