//! Front doors: gRPC (and grpc-web through the same services) and, later, the REST shim.
//! Each decodes its wire format, calls the application layer and encodes the result.
pub mod auth;
pub mod ccr_file;
pub mod grpc;
