//! Compiles `proto/` with protox (pure Rust), so builds need no system `protoc`.

use std::path::PathBuf;

use prost::Message;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "attendance/v1/model.proto",
        "attendance/v1/service.proto",
        "attendance/v1/admin.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let fds = protox::compile(files, [&root]).expect("proto/ compiles");
    // A build script is told where to write by cargo, through the environment.
    #[allow(clippy::disallowed_methods)]
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("attendance_descriptor.bin"), fds.encode_to_vec())
        .expect("descriptor set written");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds.clone())
        .expect("code generated");

    // The hub's own AttendanceService server again, with every message
    // taken from the first pass except SubscribeResponse, which it sends as
    // `SubscribeFrame`: a log entry encoded once and shared by every stream.
    let framed = out.join("framed");
    std::fs::create_dir_all(&framed).expect("framed/ created");
    let service = prost_types::FileDescriptorSet {
        file: fds
            .file
            .into_iter()
            .filter(|file| file.name() == "attendance/v1/service.proto")
            .collect(),
    };
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .out_dir(&framed)
        .extern_path(".attendance.v1", "crate::v1")
        .extern_path(
            ".attendance.v1.SubscribeResponse",
            "crate::frame::SubscribeFrame",
        )
        .compile_fds(service)
        .expect("framed server generated");
}
