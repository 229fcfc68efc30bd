//! The corpus of hostile input that every push entry point must refuse
//! without a panic and without a commit: the files committed under
//! `tests/hostile/<target>/` at the workspace root (one folder per fuzz
//! target, each file named for what it is), and the large inputs made here
//! at test time rather than committed.

use std::fmt::Debug;
use std::path::PathBuf;

use crate::error::Rejection;

/// The fuzz targets' names, which are also the corpus folders.
pub const TARGETS: [&str; 5] = [
    "feishu_envelope",
    "feishu_decrypt",
    "pbbp2_frame",
    "dingtalk_frame",
    "dingtalk_callback",
];

/// How deep the generated nesting goes: far past serde_json's recursion
/// limit (128), so that a parser without one would overflow the stack.
pub const DEEP: usize = 100_000;

/// One hostile input.
#[derive(Clone, Debug)]
pub struct Hostile {
    /// `<target>/<file>`, or `<target>/generated/<what>`.
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Hostile {
    /// The input as text, when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// The `encrypt` string the input carries, when it is a JSON object
    /// with one: signing it right makes decryption the check that refuses.
    pub fn encrypt(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.bytes).ok()?;
        value.get("encrypt")?.as_str().map(str::to_owned)
    }

    /// `result` of this input sent `how` is a refusal with a 4xx status.
    pub fn assert_refused<T: Debug, E: Rejection + std::fmt::Display>(
        &self,
        how: &str,
        result: Result<T, E>,
    ) {
        match result {
            Ok(accepted) => panic!("{} {how}: accepted as {accepted:?}", self.name),
            Err(error) => assert!(
                error.status().is_client_error(),
                "{} {how}: {error} is {}",
                self.name,
                error.status()
            ),
        }
    }
}

/// `tests/hostile/` at the workspace root.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile")
}

/// Every committed file of `target`'s folder, in name order, then the
/// generated inputs for that target. Panics when the folder is missing or
/// holds fewer than ten files: a corpus that silently vanished would make
/// every test over it pass.
pub fn corpus(target: &str) -> Vec<Hostile> {
    let dir = corpus_dir().join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{} holds {} files",
        dir.display(),
        files.len()
    );
    let mut inputs: Vec<Hostile> = files
        .into_iter()
        .map(|path| Hostile {
            name: format!("{target}/{}", path.file_name().unwrap().to_string_lossy()),
            bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        })
        .collect();
    inputs.extend(generated(target));
    inputs
}

/// The committed files and generated inputs of every target.
pub fn every_corpus() -> Vec<Hostile> {
    TARGETS.iter().flat_map(|target| corpus(target)).collect()
}

/// `[[[…]]]`, `depth` deep.
pub fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `{"a":{"a":…1…}}`, `depth` deep.
pub fn nested_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// The large inputs of `target` (every one below the hub's default 1 MiB
/// body limit, so that the parser sees it rather than the limit). The
/// pbbp2 target's frames are made by its own tests, which can encode them.
fn generated(target: &str) -> Vec<Hostile> {
    let input = |what: &str, bytes: String| Hostile {
        name: format!("{target}/generated/{what}"),
        bytes: bytes.into_bytes(),
    };
    let feishu_header = r#""schema":"2.0","header":{"event_id":"e1","event_type":"x","token":"t"}"#;
    match target {
        "feishu_envelope" => vec![
            input("deep_nesting_100000_arrays", nested_arrays(DEEP)),
            input(
                "deep_nesting_100000_objects_as_event",
                format!("{{{feishu_header},\"event\":{}}}", nested_objects(DEEP)),
            ),
            input(
                "deep_nesting_100000_arrays_as_header",
                format!("{{\"schema\":\"2.0\",\"header\":{}}}", nested_arrays(DEEP)),
            ),
            input(
                "escaped_nul_characters_150000",
                format!("{{\"encrypt\":\"{}\"}}", "\\u0000".repeat(150_000)),
            ),
            input(
                "number_of_500000_digits",
                format!("{{\"ts\":{}}}", "9".repeat(500_000)),
            ),
        ],
        "feishu_decrypt" => vec![
            input("base64_of_600000_zero_bytes", base64_of_zeros(600_000)),
            input("800000_base64_characters_no_padding", "A".repeat(800_001)),
        ],
        "dingtalk_frame" => vec![
            input("deep_nesting_100000_arrays", nested_arrays(DEEP)),
            input(
                "event_data_deep_nesting_100000_objects",
                format!(
                    r#"{{"type":"EVENT","headers":{{"messageId":"m1","eventType":"attendance_check_record"}},"data":"{}"}}"#,
                    nested_objects(DEEP).replace('"', "\\\"")
                ),
            ),
        ],
        "dingtalk_callback" => vec![
            input("deep_nesting_100000_arrays", nested_arrays(DEEP)),
            input(
                "deep_nesting_100000_objects_as_encrypt",
                format!("{{\"encrypt\":{}}}", nested_objects(DEEP)),
            ),
            input(
                "encrypt_of_600000_zero_bytes",
                format!("{{\"encrypt\":\"{}\"}}", base64_of_zeros(600_000)),
            ),
        ],
        _ => Vec::new(),
    }
}

/// Standard base64 of `len` zero bytes (`len` a multiple of 3, so no
/// padding), written out without a base64 dependency.
fn base64_of_zeros(len: usize) -> String {
    assert_eq!(len % 3, 0);
    "A".repeat(len / 3 * 4)
}
