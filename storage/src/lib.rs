//! State of cozystack-api: the backend client, watch caches and one registry per served resource.
#![deny(missing_docs)]
