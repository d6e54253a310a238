//! The generated code (and the encoded descriptor set served for gRPC reflection) is
//! committed so that no build machine (Windows included) needs protoc. This test
//! regenerates both from `proto/` with protox (a protobuf compiler in Rust) and fails on
//! any difference. To update after editing a .proto file:
//! `ECEPROBE_REGENERATE=1 cargo test -p eceprobe-proto --test generated_is_fresh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn generated_code_matches_the_proto_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let protos = root.join("proto");
    let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated");
    let fds = protox::compile(
        ["eceprobe/v1/agent.proto", "eceprobe/v1/query.proto"],
        [&protos],
    )
    .expect("the .proto files compile");
    // The descriptor set the collector serves for reflection: the same compilation, encoded.
    let descriptors = prost::Message::encode_to_vec(&fds);
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("code generation");
    std::fs::write(out.path().join("eceprobe.v1.bin"), descriptors).unwrap();
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // Bytes, not text: the descriptor set is binary.
        let fresh = std::fs::read(entry.path()).unwrap();
        let committed_path = committed_dir.join(&name);
        let committed = std::fs::read(&committed_path).unwrap_or_default();
        if fresh != committed {
            if std::env::var_os("ECEPROBE_REGENERATE").is_some() {
                std::fs::write(&committed_path, &fresh).unwrap();
            } else {
                stale.push(committed_path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run ECEPROBE_REGENERATE=1 cargo test -p eceprobe-proto --test generated_is_fresh and commit the result"
    );
}
