//! Attachments: each room's quota (count and total bytes, checked in the write that stores
//! them), file names kept as safe base names, and content never handed to a browser as an
//! active type.
#[macro_use]
mod common;

use casework::app::AppConfig;
use casework::config::ServerOptions;
use casework::domain::Role;
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use common::*;
use tonic::transport::Channel;
use tonic::{Code, Status};

struct Rooms {
    client: ConversationServiceClient<Channel>,
    auth: Tickets,
}

impl Rooms {
    async fn new(server: &TestServer, sub: &str, role: Role) -> Rooms {
        Rooms {
            client: ConversationServiceClient::new(server.channel().await),
            auth: server.tickets(sub, role).await,
        }
    }

    async fn upload(
        &mut self,
        room_id: &str,
        name: &str,
        content_type: &str,
        size: usize,
    ) -> Result<pb::Attachment, Status> {
        let request = self.auth.req(pb::UploadAttachmentRequest {
            room_id: room_id.into(),
            name: name.into(),
            content_type: content_type.into(),
            data: vec![b'x'; size],
        });
        let response = self.client.upload_attachment(request).await?;
        Ok(response.into_inner().attachment.expect("attachment"))
    }

    async fn get(&mut self, id: &str) -> pb::GetAttachmentResponse {
        let request = self.auth.req(pb::GetAttachmentRequest {
            attachment_id: id.into(),
        });
        let response = self.client.get_attachment(request).await.expect("get");
        response.into_inner()
    }
}

/// A new chat ticket's room, its ticket assigned to AGENT.
async fn room(server: &TestServer, customer: &str) -> String {
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket(customer)).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    ticket.metadata.expect("metadata").room_id
}

async fn stored(server: &TestServer, room_id: &str) -> (i64, i64) {
    let count = server
        .scalar(&format!(
            "SELECT COUNT(*) FROM attachments WHERE room_id = '{room_id}'"
        ))
        .await;
    let bytes = server
        .scalar(&format!(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments \
             WHERE room_id = '{room_id}'"
        ))
        .await;
    (count, bytes)
}

fn quota_config() -> AppConfig {
    AppConfig {
        max_attachment_bytes: 1024,
        max_room_attachments: 3,
        max_room_attachment_bytes: 100,
        ..AppConfig::default()
    }
}

both_backends! {
#[tokio::test]
async fn a_room_holds_attachments_up_to_its_quota(backend: Backend) {
    let server =
        TestServer::start_configured_on(backend, quota_config(), ServerOptions::default()).await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;

    // By number: the third fits exactly, the fourth does not, and nothing of it is stored.
    let by_count = room(&server, "cust-1").await;
    for i in 0..3 {
        customer
            .upload(&by_count, &format!("f{i}.txt"), "text/plain", 10)
            .await
            .expect("within the count");
    }
    let status = customer
        .upload(&by_count, "f3.txt", "text/plain", 1)
        .await
        .expect_err("one past the count");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_room_attachments = 3"),
        "{status:?}"
    );
    assert_eq!(stored(&server, &by_count).await, (3, 30));

    // By bytes: exactly at the total fits, one byte past it does not.
    let at_limit = room(&server, "cust-1").await;
    customer.upload(&at_limit, "a.bin", "application/octet-stream", 60).await.expect("60");
    customer.upload(&at_limit, "b.bin", "application/octet-stream", 40).await.expect("100");
    let status = customer
        .upload(&at_limit, "c.bin", "application/octet-stream", 1)
        .await
        .expect_err("101 bytes");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_room_attachment_bytes = 100"),
        "{status:?}"
    );
    assert_eq!(stored(&server, &at_limit).await, (2, 100));
    let past_limit = room(&server, "cust-1").await;
    customer.upload(&past_limit, "a.bin", "application/octet-stream", 60).await.expect("60");
    let status = customer
        .upload(&past_limit, "b.bin", "application/octet-stream", 41)
        .await
        .expect_err("one byte past");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(stored(&server, &past_limit).await, (1, 60));

    // The quota is per room: another room of the same customer starts empty.
    let other = room(&server, "cust-1").await;
    customer.upload(&other, "a.bin", "application/octet-stream", 100).await.expect("fresh room");

    // Racing uploads cannot overshoot: exactly the quota's number land.
    let raced = room(&server, "cust-1").await;
    let uploads: Vec<_> = (0..8)
        .map(|i| {
            let raced = raced.clone();
            let mut rooms = Rooms {
                client: customer.client.clone(),
                auth: customer.auth.clone(),
            };
            tokio::spawn(async move {
                rooms.upload(&raced, &format!("r{i}.txt"), "text/plain", 5).await
            })
        })
        .collect();
    let mut landed = 0;
    for upload in uploads {
        match upload.await.expect("task") {
            Ok(_) => landed += 1,
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}"),
        }
    }
    assert_eq!(landed, 3);
    assert_eq!(stored(&server, &raced).await, (3, 15));
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn attachment_names_are_kept_as_safe_base_names(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let room_id = room(&server, "cust-1").await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;
    let long_stem = "é".repeat(250);
    let cases = [
        ("receipt.png", "receipt.png"),
        ("../../etc/passwd", "passwd"),
        ("/var/tmp/report.csv", "report.csv"),
        ("C:\\Users\\me\\Desktop\\invoice.pdf", "invoice.pdf"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("a\nb\r\tc\u{7}.txt", "abc.txt"),
        ("bill\u{202E}fdp.exe", "billfdp.exe"),
        ("  spaced name.txt  ", "spaced name.txt"),
        ("...", "..."),
        (".profile", ".profile"),
    ];
    for (sent, kept) in cases {
        let attachment = customer
            .upload(&room_id, sent, "text/plain", 3)
            .await
            .unwrap_or_else(|status| panic!("{sent:?}: {status:?}"));
        assert_eq!(attachment.name, kept, "{sent:?}");
        assert_eq!(customer.get(&attachment.id).await.attachment.expect("a").name, kept);
    }
    // Over 255 bytes (250 two-byte letters): cut to at most 255 bytes, extension kept.
    let attachment = customer
        .upload(&room_id, &format!("{long_stem}.png"), "image/png", 3)
        .await
        .expect("long name");
    assert!(attachment.name.len() <= 255, "{}", attachment.name.len());
    assert!(attachment.name.ends_with(".png"), "{}", attachment.name);
    assert!(attachment.name.starts_with("éé"), "{}", attachment.name);

    let before = stored(&server, &room_id).await;
    for sent in [
        String::new(),
        " ".into(),
        ".".into(),
        "..".into(),
        "dir/".into(),
        "a/..".into(),
        "..\\".into(),
        "\u{1}\u{2}".into(),
        "x".repeat(256),
    ] {
        let status = customer
            .upload(&room_id, &sent, "text/plain", 3)
            .await
            .expect_err(&sent);
        assert_eq!(status.code(), Code::InvalidArgument, "{sent:?}: {status:?}");
        assert_eq!(violated_fields(&status), vec!["name".to_string()], "{sent:?}");
    }
    assert_eq!(stored(&server, &room_id).await, before, "nothing was stored");
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn active_content_is_only_ever_handed_out_for_download(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let room_id = room(&server, "cust-1").await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    let octet = "application/octet-stream";
    let cases = [
        ("text/html", octet),
        ("TEXT/HTML;charset=utf-8", octet),
        ("application/xhtml+xml", octet),
        ("image/svg+xml", octet),
        ("application/javascript", octet),
        ("text/javascript", octet),
        ("text/xml", octet),
        ("application/pdf", octet),
        ("application/x-unknown", octet),
        ("video/x+xml", octet),
        ("image/png", "image/png"),
        ("IMAGE/JPEG", "image/jpeg"),
        ("text/plain;charset=utf-8", "text/plain"),
        ("audio/mpeg", "audio/mpeg"),
        ("video/mp4", "video/mp4"),
    ];
    for (uploaded, served) in cases {
        let attachment = customer
            .upload(&room_id, "file", uploaded, 4)
            .await
            .unwrap_or_else(|status| panic!("{uploaded}: {status:?}"));
        // The stored type is kept exactly as given ...
        assert_eq!(attachment.content_type, uploaded);
        // ... and whoever hands the bytes to a browser gets a type that cannot run.
        let fetched = agent.get(&attachment.id).await;
        assert_eq!(fetched.attachment.expect("a").content_type, uploaded);
        assert_eq!(fetched.download_content_type, served, "{uploaded}");
        assert_eq!(fetched.data, vec![b'x'; 4]);
    }
    server.stop().await;
}
}
