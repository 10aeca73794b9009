//! The REST shim's JSON bodies: every request body type of the blueprints decoded from
//! arbitrary bytes, as the shim's extractor does. Whatever the bytes, nothing panics.
#![no_main]
use casework::transport::rest::types;
use libfuzzer_sys::fuzz_target;

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

fuzz_target!(|data: &[u8]| {
    decode::<types::TicketCloseParam>(data);
    decode::<types::TicketEscalateParam>(data);
    decode::<types::TicketEscalateV2Param>(data);
    decode::<types::TicketReassignParam>(data);
    decode::<types::TicketUpdateParam>(data);
    decode::<types::TicketTransferParam>(data);
    decode::<types::UpdateAgentStatusParam>(data);
    decode::<serde_json::Value>(data);
});
