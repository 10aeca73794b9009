//! The gRPC request path without the network: the guard's framing check on the raw body,
//! then the body decoded as each request message the services take and converted to the
//! domain as the adapters do. Whatever the bytes, nothing panics.
#![no_main]
use casework::pb;
use casework::transport::grpc::{convert, guard};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let _ = guard::check_frames(&data.to_vec().into(), data.first() == Some(&1), 1 << 22);
    if let Ok(request) = pb::CreateTicketRequest::decode(data) {
        let _ = convert::new_ticket(request);
    }
    if let Ok(request) = pb::ListTicketsRequest::decode(data) {
        let _ = convert::list_tickets(
            request.filter,
            request.order_by,
            request.page_size,
            request.page_token,
            request.include_total_size,
        );
    }
    if let Ok(request) = pb::UpdateTicketRequest::decode(data) {
        let _ = convert::patch(request.ticket, request.update_mask);
    }
    if let Ok(request) = pb::LinkTicketRequest::decode(data) {
        let _ = convert::link(request.link);
    }
    let _ = pb::SendMessageRequest::decode(data);
    let _ = pb::UploadAttachmentRequest::decode(data);
    let _ = pb::WatchTicketsRequest::decode(data);
    let _ = pb::UpsertAgentRequest::decode(data);
});
