//! HTTP/2 abuse, sent as raw frames: a rapid-reset flood, a CONTINUATION flood and an
//! oversized header list each end in GOAWAY or a closed connection, while a well-behaved
//! client on its own connection keeps being answered. (Its latency during a flood is a
//! benchmark figure, in RELIABILITY.md; here it must simply be served.)
#[macro_use]
mod common;

use common::*;
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

/// Opens an HTTP/2 connection: the preface and an empty SETTINGS.
async fn open(server: &TestServer) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(PREFACE).await.expect("preface");
    tcp.write_all(&frame(SETTINGS, 0, 0, &[]))
        .await
        .expect("settings");
    tcp
}

/// Sends `frames` until the server stops taking them, then reads until it sends GOAWAY or
/// closes. True if it did either.
async fn ends_the_connection(mut tcp: TcpStream, frames: impl Iterator<Item = Vec<u8>>) -> bool {
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
            if header[3] == GOAWAY {
                return true;
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

/// A well-behaved client on its own connection is answered `calls` times.
async fn well_behaved(server: &TestServer, ticket_id: &str, calls: usize) {
    let mut client = server.admin().await;
    for _ in 0..calls {
        client
            .get(ticket_id)
            .await
            .expect("the well-behaved client is served");
    }
}

#[tokio::test]
async fn a_rapid_reset_flood_ends_in_goaway() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let tcp = open(&server).await;
    let block = request_block(&server.addr.to_string());
    // 20,000 streams, each opened and at once cancelled.
    let flood = (0..20_000u32).map(move |i| {
        let stream = 2 * i + 1;
        let mut bytes = frame(HEADERS, END_HEADERS | END_STREAM, stream, &block);
        bytes.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
        bytes
    });
    let (ended, ()) = tokio::join!(
        ends_the_connection(tcp, flood),
        well_behaved(&server, &ticket.id, 50)
    );
    assert!(ended, "the flood's connection is ended");
    well_behaved(&server, &ticket.id, 5).await;
    server.stop().await;
}

#[tokio::test]
async fn a_continuation_flood_ends_the_connection() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let tcp = open(&server).await;
    let block = request_block(&server.addr.to_string());
    // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION
    // frames of 1 KiB of headers each, 100,000 of them (100 MB) if nobody stops it.
    let mut chunk = Vec::new();
    literal("x-flood", &"a".repeat(1000), &mut chunk);
    let first = std::iter::once(frame(HEADERS, END_STREAM, 1, &block));
    let flood = first.chain((0..100_000).map(move |_| frame(CONTINUATION, 0, 1, &chunk)));
    let (ended, ()) = tokio::join!(
        ends_the_connection(tcp, flood),
        well_behaved(&server, &ticket.id, 50)
    );
    assert!(ended, "the flood's connection is ended");
    well_behaved(&server, &ticket.id, 5).await;
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_header_list_is_refused_and_the_server_goes_on() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    // 64 KiB of headers in one complete block, four times the 16 KiB limit.
    let mut tcp = open(&server).await;
    let mut block = request_block(&server.addr.to_string());
    for i in 0..64 {
        literal(&format!("x-big-{i}"), &"b".repeat(1000), &mut block);
    }
    // Frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE).
    let mut chunks = block.chunks(16_000).peekable();
    let mut first = true;
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let kind = if first { HEADERS } else { CONTINUATION };
        let flags = if last { END_HEADERS } else { 0 } | if first { END_STREAM } else { 0 };
        bytes.extend(frame(kind, flags, 1, chunk));
        first = false;
    }
    tcp.write_all(&bytes).await.expect("send");
    // The stream never reaches the service: the connection ends (GOAWAY or closed) or the
    // stream is reset, and no response headers come back for it.
    let mut header = [0u8; 9];
    let refused = loop {
        if tcp.read_exact(&mut header).await.is_err() {
            break true;
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        if tcp.read_exact(&mut payload).await.is_err() {
            break true;
        }
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        match header[3] {
            GOAWAY => break true,
            RST_STREAM if stream == 1 => break true,
            HEADERS if stream == 1 => break false,
            _ => {}
        }
    };
    assert!(refused, "an oversized header list must not be served");
    well_behaved(&server, &ticket.id, 5).await;
    server.stop().await;
}
