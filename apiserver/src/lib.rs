//! The HTTP side of cozystack-api: TLS, filters, authentication, authorization, routing and encoders.
#![deny(missing_docs)]
