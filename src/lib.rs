//! casework: a case-management backend for chat-first customer support.
pub mod app;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod server;
pub mod store;
pub mod transport;

/// The generated gRPC contract (`proto/casework/v1`).
pub mod pb {
    tonic::include_proto!("casework.v1");

    /// Encoded descriptor set of the contract, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("casework_descriptor");
}
