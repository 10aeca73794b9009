//! Field checks shared by every use case; each error names its field.
use crate::error::{Error, FieldViolation, Result};

pub const MAX_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_SUBJECT_LEN: usize = 500;
pub const MAX_TEXT_LEN: usize = 2000;
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
pub const MAX_TAGS: usize = 50;
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;
pub const MAX_PAGE_SIZE: i64 = 500;
pub const MAX_LIST_ITEMS: usize = 100;

/// Collects violations so a request can report all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// A required id: non-empty, at most `MAX_ID_LEN`, no control characters.
    pub fn id(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else {
            self.optional_id(field, value);
        }
    }

    /// An optional id: empty, or a valid id.
    pub fn optional_id(&mut self, field: &str, value: &str) {
        self.text(field, value, MAX_ID_LEN);
        if value.chars().any(char::is_whitespace) {
            self.add(field, "must not contain whitespace");
        }
    }

    /// Free text of at most `max` characters without control characters (newlines and tabs
    /// allowed).
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.add(field, "must not contain control characters");
        }
    }

    /// Required free text.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else {
            self.text(field, value, max);
        }
    }

    pub fn page_size(&mut self, field: &str, value: i64) {
        if !(0..=MAX_PAGE_SIZE).contains(&value) {
            self.add(field, format!("must be between 0 and {MAX_PAGE_SIZE}"));
        }
    }

    pub fn list(&mut self, field: &str, values: &[String], max_len: usize) {
        if values.len() > MAX_LIST_ITEMS {
            self.add(field, format!("must have at most {MAX_LIST_ITEMS} items"));
            return;
        }
        for (i, value) in values.iter().enumerate() {
            let item = format!("{field}[{i}]");
            if value.trim().is_empty() {
                self.add(&item, "must not be empty");
            } else {
                self.text(&item, value, max_len);
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }
}

/// Trims an optional string field to `None` when empty.
pub fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}
