//! The shared harness of the end-to-end tests: brings up (or reuses) a real control plane with cozystack-api.
