//! The tidy test: the invariants of ARCHITECTURE.md that the files themselves
//! show, checked on every `cargo test`. Every module opens with a `//!` line,
//! the workspace's dependencies point the way the architecture draws them,
//! no code starts a program the project does not install, and the declared
//! minimum Rust is one that builds every locked dependency.
//!
//! It reads the whole workspace, yet lives among the core's tests: it needs
//! nothing but the files and `toml`, and the core's tests build without the
//! adapters or the server, so a layout mistake fails fast.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const PROTO: &str = "attendance-proto";
const CORE: &str = "attendance-core";
const SERVER: &str = "attendance-server";
const TESTKIT: &str = "attendance-testkit";

/// A workspace crate and the packages its `[dependencies]` name.
struct Crate {
    name: String,
    dependencies: BTreeSet<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every folder under `crates/` with a manifest: the workspace's `members`
/// glob is `crates/*`, so this is the whole workspace.
fn crate_folders() -> Vec<PathBuf> {
    let crates = workspace_root().join("crates");
    let mut folders: Vec<PathBuf> = fs::read_dir(&crates)
        .unwrap_or_else(|e| panic!("{}: {e}", crates.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    folders.sort();
    folders
}

fn read_crate(folder: &Path) -> Crate {
    let path = folder.join("Cargo.toml");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_manifest(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The package's name and what its normal dependencies are, for every target
/// platform; dev- and build-dependencies never reach the library, so they do
/// not count. A renamed dependency counts under its real package name.
fn parse_manifest(text: &str) -> Result<Crate, String> {
    let manifest: toml::Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    let name = manifest
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or("no package.name")?
        .to_owned();
    let mut tables: Vec<&toml::Table> = manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .into_iter()
        .collect();
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        tables.extend(
            targets
                .values()
                .filter_map(|target| target.get("dependencies")?.as_table()),
        );
    }
    let dependencies = tables
        .into_iter()
        .flatten()
        .map(|(key, spec)| {
            spec.get("package")
                .and_then(toml::Value::as_str)
                .unwrap_or(key)
                .to_owned()
        })
        .collect();
    Ok(Crate { name, dependencies })
}

/// Every way `crates` break the direction of dependencies. A vendor crate is
/// every workspace crate other than the proto crate, the core, the server and
/// the testkit, so a new adapter is held to the rules without editing this
/// test (and a new crate of another kind has to be named here first).
fn direction_violations(crates: &[Crate]) -> Vec<String> {
    let workspace: BTreeSet<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    let is_vendor =
        |name: &str| workspace.contains(name) && ![PROTO, CORE, SERVER, TESTKIT].contains(&name);
    let mut violations = Vec::new();
    for krate in crates {
        for dependency in &krate.dependencies {
            let name = krate.name.as_str();
            let rule = if is_vendor(name) && (dependency == "sqlx" || dependency == CORE) {
                "vendor crates know nothing of storage"
            } else if name == CORE && is_vendor(dependency) {
                "the core never depends on a vendor crate"
            } else if name == PROTO && workspace.contains(dependency.as_str()) {
                "the proto crate depends on no other workspace crate"
            } else {
                continue;
            };
            violations.push(format!("{name} depends on {dependency}: {rule}"));
        }
    }
    violations
}

/// Whether a module's first non-empty line is its `//!` line.
fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .is_some_and(|line| line.starts_with("//!"))
}

fn rust_files(folder: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(folder) else {
        return; // Not every crate has benches.
    };
    for entry in entries {
        let path = entry.expect("a readable folder entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_line() {
    let mut files = Vec::new();
    for folder in crate_folders() {
        rust_files(&folder.join("src"), &mut files);
        rust_files(&folder.join("benches"), &mut files);
    }
    assert!(!files.is_empty(), "no sources found under crates/*/src");
    let root = workspace_root();
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text =
                fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            !opens_with_module_doc(&text)
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "every module opens with a `//!` line saying what it is for; these do not:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn dependencies_point_the_way_the_architecture_draws_them() {
    let crates: Vec<Crate> = crate_folders().iter().map(|f| read_crate(f)).collect();
    let names: BTreeSet<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    // Renaming one of these would otherwise turn it into a "vendor" or exempt it.
    for known in [PROTO, CORE, SERVER, TESTKIT] {
        assert!(names.contains(known), "{known} is not under crates/");
    }
    assert!(names.len() > 4, "no vendor crate found under crates/");
    let violations = direction_violations(&crates);
    assert!(
        violations.is_empty(),
        "dependency direction (ARCHITECTURE.md, Invariants):\n  {}",
        violations.join("\n  ")
    );
}

/// The programs a source starts by name: a string literal handed to
/// `Command::new`.
fn named_programs(text: &str) -> Vec<String> {
    text.split("Command::new(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(program, _)| program.to_owned())
        .collect()
}

#[test]
fn no_test_runs_a_program_the_project_does_not_install() {
    // A program a test shells out to (`kill`, `sh`, `pkill`) may be missing
    // on a fresh machine; a crate does the same through a syscall. The
    // benchmark asks git for the commit it measured, and reports none
    // without it.
    let allowed = [("crates/attendance-server/benches/hub.rs", "git")];
    let root = workspace_root();
    let mut files = Vec::new();
    for folder in crate_folders() {
        for part in ["src", "tests", "benches"] {
            rust_files(&folder.join(part), &mut files);
        }
    }
    rust_files(&root.join("tests"), &mut files);
    let mut found = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        for program in named_programs(&text) {
            if !allowed.contains(&(file.as_str(), program.as_str())) {
                found.push(format!("{file}: {program}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tests depend on no program the project does not install:\n  {}",
        found.join("\n  ")
    );
}

/// A `rust-version` ("1.88", "1.85.1") as comparable numbers.
fn rust_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// Every package of the locked dependency graph that declares a
/// `rust-version`, but the workspace's own: (version, "name version").
fn locked_rust_versions() -> Vec<((u64, u64, u64), String)> {
    // `cargo metadata` reads every locked package's manifest; offline first,
    // so a machine that has them asks no registry, and online when some were
    // never downloaded (those of other platforms, on a fresh machine).
    let metadata = |offline: bool| {
        let mut command = std::process::Command::new(env!("CARGO"));
        command
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(workspace_root());
        if offline {
            command.arg("--offline");
        }
        command.output().expect("cargo metadata runs")
    };
    let mut output = metadata(true);
    if !output.status.success() {
        output = metadata(false);
    }
    assert!(
        output.status.success(),
        "cargo metadata --locked failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata answers JSON");
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|package| !members.contains(package["id"].as_str().unwrap_or_default()))
        .filter_map(|package| {
            let declared = package["rust_version"].as_str()?;
            let version = rust_version(declared)
                .unwrap_or_else(|| panic!("{package}: rust_version {declared:?}"));
            let name = package["name"].as_str().unwrap_or_default();
            let number = package["version"].as_str().unwrap_or_default();
            Some((version, format!("{name} {number}")))
        })
        .collect()
}

#[test]
fn the_declared_minimum_rust_builds_every_locked_dependency() {
    let path = workspace_root().join("Cargo.toml");
    let manifest: toml::Table = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .parse()
        .expect("the workspace manifest is TOML");
    let declared = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("[workspace.package] rust-version");
    let ours = rust_version(declared).expect("a rust-version such as 1.88");
    let locked = locked_rust_versions();
    assert!(
        !locked.is_empty(),
        "no locked package declares a rust-version"
    );
    let needed = locked.iter().map(|(version, _)| *version).max().unwrap();
    let needing: Vec<&str> = locked
        .iter()
        .filter(|(version, _)| *version == needed)
        .map(|(_, package)| package.as_str())
        .collect();
    let (major, minor, patch) = needed;
    assert!(
        ours >= needed,
        "Cargo.toml declares rust-version = {declared:?}, but the locked {} need{} \
         {major}.{minor}.{patch}: raise [workspace.package] rust-version (and README's \
         minimum) to it",
        needing.join(", "),
        if needing.len() == 1 { "s" } else { "" },
    );
}

/// The checks themselves catch what they are for, on made-up manifests.
#[test]
fn the_checks_catch_what_they_are_for() {
    let manifest = |name: &str, dependencies: &str| {
        parse_manifest(&format!(
            "[package]\nname = \"{name}\"\n[dependencies]\n{dependencies}\n\
             [dev-dependencies]\nsqlx = \"0.8\"\nattendance-core = {{ path = \".\" }}\n\
             [target.'cfg(unix)'.dependencies]\n"
        ))
        .unwrap()
    };
    let layout = [
        manifest(PROTO, "prost = \"0.14\""),
        manifest(CORE, "attendance-proto = { path = \"p\" }\nsqlx = \"0.8\""),
        manifest(SERVER, "attendance-core = {}\nattendance-slack = {}"),
        manifest(TESTKIT, "attendance-core = {}\nattendance-slack = {}"),
        manifest("attendance-slack", "attendance-proto = {}"),
    ];
    assert_eq!(direction_violations(&layout), Vec::<String>::new());

    let broken = [
        manifest(PROTO, "attendance-core = {}"),
        manifest(CORE, "vendor = { package = \"attendance-slack\" }"),
        manifest(SERVER, "attendance-core = {}"),
        manifest(TESTKIT, ""),
        manifest("attendance-slack", "sqlx = \"0.8\"\nattendance-core = {}"),
    ];
    assert_eq!(
        direction_violations(&broken),
        [
            "attendance-proto depends on attendance-core: \
             the proto crate depends on no other workspace crate",
            "attendance-core depends on attendance-slack: \
             the core never depends on a vendor crate",
            "attendance-slack depends on attendance-core: \
             vendor crates know nothing of storage",
            "attendance-slack depends on sqlx: vendor crates know nothing of storage",
        ]
    );

    let on_a_target = parse_manifest(
        "[package]\nname = \"attendance-slack\"\n\
         [target.'cfg(unix)'.dependencies]\nsqlx = \"0.8\"",
    )
    .unwrap();
    assert_eq!(
        direction_violations(&[on_a_target]),
        ["attendance-slack depends on sqlx: vendor crates know nothing of storage"]
    );

    assert!(opens_with_module_doc("\n  //! What this is.\nuse x;"));
    assert!(!opens_with_module_doc("/// An item.\n//! Late."));
    assert!(!opens_with_module_doc("use x;\n"));
    assert!(!opens_with_module_doc(""));

    assert_eq!(rust_version("1.88"), Some((1, 88, 0)));
    assert_eq!(rust_version("1.85.1"), Some((1, 85, 1)));
    assert!(rust_version("1.85") < rust_version("1.88"));
    assert_eq!(rust_version("1.x"), None);

    assert_eq!(
        named_programs("Command::new(binary); Command::new(\"kill\").arg(\"-TERM\")"),
        ["kill"]
    );
}
