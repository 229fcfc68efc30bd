//! Compiles `proto/pbbp2.proto` (the long connection's frame) with protox,
//! which is pure Rust, so builds need no system `protoc`.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("pbbp2.proto").display()
    );
    let fds = protox::compile(["pbbp2.proto"], [&root]).expect("proto/pbbp2.proto compiles");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("pbbp2 code generated");
}
