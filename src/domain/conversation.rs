//! Rooms and messages. Every ticket has a room (its conversation); chat tickets are the ones
//! whose rooms time out.
use crate::clock::Time;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SenderType {
    Customer,
    Agent,
    Bot,
    System,
}

impl SenderType {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::Customer => "CUSTOMER",
            SenderType::Agent => "AGENT",
            SenderType::Bot => "BOT",
            SenderType::System => "SYSTEM",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SenderType::Customer,
            SenderType::Agent,
            SenderType::Bot,
            SenderType::System,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    /// Order within the store; cursors and read positions use it.
    pub seq: i64,
    pub room_id: String,
    pub ticket_id: String,
    pub sender_type: SenderType,
    pub sender_id: String,
    pub sender_name: String,
    pub body: String,
    pub visible_to_customer: bool,
    pub attachments: Vec<AttachmentRef>,
    pub buttons: Vec<Button>,
    pub created_at: Time,
    pub client_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    pub id: String,
    pub ticket_id: String,
    pub customer_id: String,
    pub closed: bool,
    pub closed_at: Option<Time>,
    pub created_at: Time,
    pub last_message_at: Option<Time>,
    /// Messages from others after the reader's position (for the reader who asked).
    pub unread_count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub meta: AttachmentRef,
    pub room_id: String,
    pub data: Vec<u8>,
    pub created_at: Time,
}

/// An attachment without its content: what access is decided on before any content is read.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentInfo {
    pub meta: AttachmentRef,
    pub room_id: String,
    pub created_at: Time,
}

/// What a room's attachments take up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachmentUsage {
    pub count: i64,
    pub bytes: i64,
}

/// The most attachments a room may hold, by number and by their total size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentQuota {
    pub max_count: i64,
    pub max_bytes: i64,
}

impl AttachmentQuota {
    /// Whether a room holding `usage` may take one more attachment of `size` bytes; the
    /// refusal names the limit it would pass. Exactly at a limit is within it.
    pub fn admit(&self, room_id: &str, usage: AttachmentUsage, size: i64) -> Result<()> {
        if usage.count.saturating_add(1) > self.max_count {
            return Err(Error::ResourceExhausted(format!(
                "room {room_id} already holds {} attachments, the most a room may hold \
                 (max_room_attachments = {})",
                usage.count, self.max_count
            )));
        }
        let total = usage.bytes.saturating_add(size);
        if total > self.max_bytes {
            return Err(Error::ResourceExhausted(format!(
                "room {room_id} holds {} bytes of attachments; {size} more would pass the \
                 room's limit (max_room_attachment_bytes = {})",
                usage.bytes, self.max_bytes
            )));
        }
        Ok(())
    }
}

/// The plain-text rendering of a message with buttons, for channels without buttons:
/// the body, then one numbered line per button.
pub fn render_with_buttons(body: &str, buttons: &[Button]) -> String {
    if buttons.is_empty() {
        return body.to_string();
    }
    let mut text = body.trim_end().to_string();
    for (i, button) in buttons.iter().enumerate() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{}. {}", i + 1, button.label));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn buttons_render_as_numbered_lines() {
        let buttons = vec![
            super::Button {
                label: "Yes".into(),
                payload: "y".into(),
            },
            super::Button {
                label: "No".into(),
                payload: "n".into(),
            },
        ];
        assert_eq!(
            super::render_with_buttons("Did it arrive?", &buttons),
            "Did it arrive?\n1. Yes\n2. No"
        );
        assert_eq!(super::render_with_buttons("plain", &[]), "plain");
    }
}
