//! Errors of the storage layer. Each maps to exactly one Kubernetes Status at the HTTP edge.

use apis::status::Status;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A client-visible API error (not found, conflict, invalid, ...), already phrased for the served resource.
    #[error("{}", .0.message)]
    Api(Box<Status>),
    /// The backend could not be reached or failed; answered as 503 or 500.
    #[error("backend: {0}")]
    Backend(String),
    /// A fault of this server.
    #[error("internal: {0}")]
    Internal(String),
}

impl StorageError {
    /// The Status a client receives.
    pub fn to_status(&self) -> Status {
        match self {
            Self::Api(s) => (**s).clone(),
            Self::Backend(m) => Status::unavailable(format!("the backend is unavailable: {m}")),
            Self::Internal(m) => Status::internal(m.clone()),
        }
    }
}

impl From<Status> for StorageError {
    fn from(s: Status) -> Self {
        Self::Api(Box::new(s))
    }
}
