//! Front doors: gRPC (and grpc-web through the same services), the REST shim and the agent
//! console.
//! Each decodes its wire format, calls the application layer and encodes the result.
pub mod admission;
pub mod auth;
pub mod ccr_file;
pub mod console;
pub mod grpc;
pub mod listen;
pub mod rest;
