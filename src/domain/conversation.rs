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

impl Message {
    /// The message as a customer sees it: an agent by its display name (`sender_name`) only,
    /// its id (its staff e-mail address) left out.
    pub fn shown_to_customer(mut self) -> Message {
        if self.sender_type == SenderType::Agent {
            self.sender_id.clear();
        }
        self
    }
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

impl Attachment {
    /// The type to hand its content to a browser with (`download_content_type`).
    pub fn download_content_type(&self) -> String {
        download_content_type(&self.meta.content_type)
    }
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

/// Longest stored attachment name, in bytes (what file systems take).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// The name an uploaded file is stored under: its base name only (whatever follows the last
/// `/` or `\`, so no path reaches whoever saves it), without control characters or the
/// invisible direction marks that disguise an extension (`invoice\u{202E}gpj.exe`),
/// trimmed, and cut to `MAX_FILE_NAME_BYTES` keeping a short extension. `None` when nothing
/// usable is left (empty, `.` or `..`).
pub fn file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|&c| !hidden_char(c)).collect();
    let name = cleaned.trim();
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    if name.len() <= MAX_FILE_NAME_BYTES {
        return Some(name.to_string());
    }
    // Keep the extension (when it is a short one) and cut the stem.
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut cut = MAX_FILE_NAME_BYTES - extension.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(format!("{}{extension}", stem[..cut].trim_end()))
}

/// Control characters and the Unicode formatting marks that reorder or hide text.
fn hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Content types a browser shows without running anything: raster images, plain text,
/// audio and video. Everything else (HTML, SVG, XML, scripts, PDF, unknown types) is served
/// as `application/octet-stream`, so it is saved, never rendered in the server's origin.
const INERT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "text/plain",
    "text/csv",
];

/// The content type to hand an attachment's bytes to a browser with: the stored type's
/// essence (lower case, no parameters) when it is inert (`INERT_TYPES`, `audio/*`,
/// `video/*`), else `application/octet-stream`. The stored type itself is kept and reported
/// as it was given.
pub fn download_content_type(stored: &str) -> String {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let media = |prefix: &str| {
        essence.strip_prefix(prefix).is_some_and(|subtype| {
            !subtype.is_empty()
                && subtype
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        })
    };
    if INERT_TYPES.contains(&essence.as_str()) || media("audio/") || media("video/") {
        essence
    } else {
        OCTET_STREAM.to_string()
    }
}

/// The type of bytes to be saved, not shown.
pub const OCTET_STREAM: &str = "application/octet-stream";

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
    use super::*;

    #[test]
    fn file_names_keep_the_base_name_only() {
        assert_eq!(file_name("a/b\\c.txt").as_deref(), Some("c.txt"));
        assert_eq!(file_name("x\u{202E}gpj.exe").as_deref(), Some("xgpj.exe"));
        for unusable in ["", " ", ".", "..", "a/", "a\\..", "\u{0}"] {
            assert_eq!(file_name(unusable), None, "{unusable:?}");
        }
        // Cut on a character boundary, the extension kept.
        let long = format!("{}.jpeg", "ü".repeat(200));
        let cut = file_name(&long).expect("name");
        assert!(
            cut.len() <= MAX_FILE_NAME_BYTES && cut.ends_with("ü.jpeg"),
            "{cut}"
        );
        // A dotfile or a long "extension" is all stem.
        assert_eq!(file_name(&"x".repeat(300)).expect("name").len(), 255);
        assert_eq!(file_name(".env").as_deref(), Some(".env"));
    }

    #[test]
    fn only_inert_types_are_handed_out_as_themselves() {
        assert_eq!(download_content_type("image/PNG"), "image/png");
        assert_eq!(download_content_type("video/mp4;codecs=avc1"), "video/mp4");
        for active in [
            "text/html",
            "image/svg+xml",
            "audio/",
            "video/x+xml",
            "nonsense",
        ] {
            assert_eq!(download_content_type(active), OCTET_STREAM, "{active}");
        }
    }

    #[test]
    fn the_quota_admits_up_to_its_limits() {
        let quota = AttachmentQuota {
            max_count: 2,
            max_bytes: 10,
        };
        let usage = |count, bytes| AttachmentUsage { count, bytes };
        assert!(quota.admit("r", usage(1, 4), 6).is_ok());
        assert!(quota.admit("r", usage(2, 4), 1).is_err());
        assert!(quota.admit("r", usage(1, 4), 7).is_err());
        assert!(quota.admit("r", usage(0, 0), i64::MAX).is_err());
    }

    #[test]
    fn buttons_render_as_numbered_lines() {
        let buttons = vec![
            Button {
                label: "Yes".into(),
                payload: "y".into(),
            },
            Button {
                label: "No".into(),
                payload: "n".into(),
            },
        ];
        assert_eq!(
            render_with_buttons("Did it arrive?", &buttons),
            "Did it arrive?\n1. Yes\n2. No"
        );
        assert_eq!(super::render_with_buttons("plain", &[]), "plain");
    }
}
