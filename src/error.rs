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

/// What an answer shows is bounded: errors echo what the caller sent, and gRPC carries them in
/// headers, which clients cap (16 KiB is common; `grpc-message` percent-encodes every
/// non-ASCII byte). At most this many violations are listed…
const SHOWN_VIOLATIONS: usize = 10;
/// …each field and description cut to this many bytes…
const SHOWN_TEXT: usize = 256;
/// …and a message to this many (the violations it lists end with "and N more").
const SHOWN_MESSAGE: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let end = text.floor_char_boundary(max);
    format!("{}…", &text[..end]).into()
}

/// The violations an answer lists: at most [`SHOWN_VIOLATIONS`], their texts clipped.
pub fn shown_violations(violations: &[FieldViolation]) -> impl Iterator<Item = FieldViolation> {
    violations
        .iter()
        .take(SHOWN_VIOLATIONS)
        .map(|v| FieldViolation {
            field: clip(&v.field, SHOWN_TEXT).into_owned(),
            description: clip(&v.description, SHOWN_TEXT).into_owned(),
        })
}

fn format_violations(violations: &[FieldViolation]) -> String {
    let mut message = String::new();
    let mut shown = 0;
    for v in shown_violations(violations) {
        let one = format!("{}: {}", v.field, v.description);
        if shown > 0 && message.len() + one.len() > SHOWN_MESSAGE {
            break;
        }
        if shown > 0 {
            message.push_str("; ");
        }
        message.push_str(&one);
        shown += 1;
    }
    if violations.len() > shown {
        message.push_str(&format!("; and {} more", violations.len() - shown));
    }
    message
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

    /// The error as a client is shown it: a message that may echo the caller cut to
    /// [`SHOWN_MESSAGE`] (violations are bounded where they are listed).
    pub fn shown(self) -> Self {
        let cut = |text: String| clip(&text, SHOWN_MESSAGE).into_owned();
        match self {
            Error::InvalidArgument(violations) => Error::InvalidArgument(violations),
            Error::NotFound(text) => Error::NotFound(cut(text)),
            Error::AlreadyExists(text) => Error::AlreadyExists(cut(text)),
            Error::FailedPrecondition(text) => Error::FailedPrecondition(cut(text)),
            Error::Aborted(text) => Error::Aborted(cut(text)),
            Error::Unauthenticated(text) => Error::Unauthenticated(cut(text)),
            Error::PermissionDenied(text) => Error::PermissionDenied(cut(text)),
            Error::ResourceExhausted(text) => Error::ResourceExhausted(cut(text)),
            Error::Unavailable(text) => Error::Unavailable(cut(text)),
            Error::OutcomeUnknown(text) => Error::OutcomeUnknown(cut(text)),
            Error::Internal(text) => Error::Internal(text),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_character() {
        assert_eq!(clip("short", 5), "short");
        let long = "é".repeat(10);
        let clipped = clip(&long, 5);
        assert_eq!(clipped, "éé…");
        assert!(clipped.trim_end_matches('…').chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_shown_error_is_bounded_whatever_it_echoes() {
        let many = Error::InvalidArgument(
            (0..1_000)
                .map(|i| FieldViolation {
                    field: format!("tags[{i}]"),
                    description: "x".repeat(10_000),
                })
                .collect(),
        );
        let text = many.shown().to_string();
        assert!(text.len() < SHOWN_MESSAGE + 100, "{text}");
        assert!(text.starts_with("invalid argument: tags[0]: xxx"), "{text}");
        assert!(text.ends_with("…; and 997 more"), "{text}");
        let echo = Error::NotFound("y".repeat(100_000)).shown().to_string();
        assert!(echo.len() < SHOWN_MESSAGE + 20, "{echo}");
        assert!(echo.ends_with("… not found"), "{echo}");
    }
}
