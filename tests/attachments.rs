//! Attachments: each room's quota (count and total bytes, checked in the write that stores
//! them).
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
