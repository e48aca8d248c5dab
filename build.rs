//! Compiles the public protos (payscore.v1 and the payment rail) with a
//! vendored protoc, so a fresh machine needs no system protoc, and writes a
//! descriptor set for gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str; 6] = &[
    "proto/payscore/v1/common.proto",
    "proto/payscore/v1/onboarding.proto",
    "proto/payscore/v1/orders.proto",
    "proto/payscore/v1/sandbox.proto",
    "proto/payscore/v1/operations.proto",
    "proto/payscore/rail/v1/rail.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // The well-known types (Timestamp, Duration) ship with the vendored protoc.
    let wkt = protoc_bin_vendored::include_path()?;
    // tonic-prost-build 0.14 does not emit rerun-if-changed itself.
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    let descriptor_path = out.join("payscore_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        // Well-known types with proto3 JSON support, for webhook bodies
        // (prost maps them to prost_types unless told to "compile" them).
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        // Calls owned by later work answer UNIMPLEMENTED until they are written.
        .generate_default_stubs(true)
        .compile_with_config(
            config,
            &PROTOS.map(PathBuf::from),
            &[PathBuf::from("proto"), wkt],
        )?;
    // proto3 JSON (serde) for payscore.v1: the plaintext of every webhook.
    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .build(&[".payscore.v1"])?;
    Ok(())
}
