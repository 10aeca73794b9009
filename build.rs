//! Compiles `proto/` with the pure-Rust protox (no system protoc) and embeds the descriptor
//! set for server reflection.
use protox::prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/casework/v1/common.proto",
    "proto/casework/v1/ticket_service.proto",
    "proto/casework/v1/agent_service.proto",
    "proto/casework/v1/conversation_service.proto",
    "proto/casework/v1/ccr_service.proto",
    "proto/casework/v1/report_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // `sqlx::migrate!` embeds migrations/ at compile time; without this a new migration file
    // would not rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?);
    let descriptor_path = out_dir.join("casework_descriptor.bin");
    std::fs::write(&descriptor_path, descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .skip_protoc_run()
        .file_descriptor_set_path(&descriptor_path)
        .compile_protos(PROTOS, &["proto"])?;
    Ok(())
}
