//! Opaque page tokens: base64 of the keyset position plus a hash of the query they belong to,
//! so a token cannot be replayed against another filter or order.
use crate::domain::query::Cursor;
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

fn query_hash(query: &str) -> String {
    let digest = Sha256::digest(query.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

pub fn encode(cursor: Cursor, query: &str) -> String {
    let raw = format!(
        "{}:{}:{}",
        cursor.sort_value,
        cursor.number,
        query_hash(query)
    );
    URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a token made by [`encode`] for the same `query`; `field` names the request field.
pub fn decode(token: &str, query: &str, field: &str) -> Result<Option<Cursor>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Error::invalid(field, "is not a token returned by this listing");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = raw.split(':');
    let (Some(sort_value), Some(number), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if hash != query_hash(query) {
        return Err(Error::invalid(
            field,
            "belongs to a different filter or order",
        ));
    }
    Ok(Some(Cursor {
        sort_value: sort_value.parse().map_err(|_| invalid())?,
        number: number.parse().map_err(|_| invalid())?,
    }))
}

/// A token holding a text key (e.g. the last agent id of a page).
pub fn encode_text(key: &str, query: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{key}", query_hash(query)))
}

pub fn decode_text(token: &str, query: &str, field: &str) -> Result<String> {
    let invalid = || Error::invalid(field, "is not a token returned by this listing");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (hash, key) = raw.split_once(':').ok_or_else(invalid)?;
    if hash != query_hash(query) {
        return Err(Error::invalid(field, "belongs to a different filter"));
    }
    Ok(key.to_string())
}
