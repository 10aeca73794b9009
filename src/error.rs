//! The one error type of casework. Each transport maps it exactly once: `transport::grpc`
//! to `tonic::Status` (with `google.rpc` details), later REST to the blueprint error body.

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `ticket.metadata.ccr`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; every violation names its field.
    #[error("invalid argument: {}", format_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// An illegal lifecycle transition or a rule the current state forbids.
    #[error("{0}")]
    FailedPrecondition(String),
    /// `expected_version` did not match (or a concurrent change won).
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    /// The connection was lost while the database committed: the write may or may not have
    /// been applied, so the caller must look before it tries again (never retried blindly).
    #[error("{0}")]
    OutcomeUnknown(String),
    /// Never shown to clients in detail; logged where it is mapped. The store turns the
    /// database's own errors into this or another variant (it classifies them itself).
    #[error("internal error: {0}")]
    Internal(String),
}

fn format_violations(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A single-field `InvalidArgument`.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// The same error with its fields named from an enclosing message's field `parent`
    /// (`time_zone` → `report.time_zone`); other errors unchanged.
    pub fn within(self, parent: &str) -> Self {
        match self {
            Error::InvalidArgument(violations) => Error::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: format!("{parent}.{}", v.field),
                        ..v
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Machine-readable reason for `google.rpc.ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::AlreadyExists(_) => "ALREADY_EXISTS",
            Error::FailedPrecondition(_) => "ILLEGAL_TRANSITION",
            Error::Aborted(_) => "VERSION_MISMATCH",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::PermissionDenied(_) => "PERMISSION_DENIED",
            Error::ResourceExhausted(_) => "RESOURCE_EXHAUSTED",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::OutcomeUnknown(_) => "UNKNOWN",
            Error::Internal(_) => "INTERNAL",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
