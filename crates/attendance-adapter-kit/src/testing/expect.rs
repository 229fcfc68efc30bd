//! Expectation tests of a vendor's mapping, in the manner of rust-analyzer's:
//! every `*.json` fixture in a folder is translated by the vendor's own
//! `check`, rendered as readable text and compared with its `.expect` twin,
//! which `UPDATE_EXPECT=1` rewrites.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use attendance_proto::ingest::{Fact, Recognition};

/// The `*.json` fixtures in `dir`, sorted; at least `at_least` of them.
pub fn json_fixtures(dir: &Path, at_least: usize) -> Vec<PathBuf> {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the fixture folder reads")
        .map(|entry| entry.expect("a fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= at_least, "{fixtures:?}");
    fixtures
}

/// The facts as their Debug text, enum fields by name. The raw JSON each
/// fact keeps is the input itself and is left out.
pub fn render_facts(recognition: Option<&Recognition>, facts: Vec<Fact>) -> String {
    let mut text = String::new();
    if let Some(recognition) = recognition {
        let _ = writeln!(text, "recognition: {recognition:?}");
    }
    for mut fact in facts {
        match &mut fact {
            Fact::Punch(punch) => punch.raw_json.clear(),
            Fact::ShiftResult(result) => result.raw_json.clear(),
            Fact::Approval(approval) => approval.raw_json.clear(),
            Fact::DayReconciled(_) => {}
        }
        let _ = writeln!(text, "{fact:#?}");
    }
    text
}

/// Compares what `fixture` gave with its `.expect` twin, or rewrites the twin
/// when `UPDATE_EXPECT` is set (review the diff before committing it).
pub fn assert_expected(fixture: &Path, actual: &str) {
    let name = fixture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let expect = fixture.with_extension("expect");
    // A test's own switch, not configuration: the ban on reading the
    // environment is about the adapters, which this is not.
    #[allow(clippy::disallowed_methods)]
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    if update {
        std::fs::write(&expect, actual).expect("the expectation writes");
        return;
    }
    let expected = std::fs::read_to_string(&expect).unwrap_or_default();
    assert!(
        expected == actual,
        "{name}: the facts differ from {} (UPDATE_EXPECT=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        expect.display()
    );
}
