//! Building the example servers' binaries (`notes-server` on poem,
//! `notes-axum` on axum) once per process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The workspace root (this crate lives in `<root>/tests`).
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder")
}

/// Path of the `notes-server` executable, built with `cargo build -p notes-server`
/// (in the same profile as the caller: `--release` when built optimised) on the
/// first call and reused afterwards.
pub fn notes_server_binary() -> &'static Path {
    Flavor::Poem.binary()
}

/// Which implementation of the notes contract a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `notes-server`, on poem (with OpenAPI docs, admin API, metrics).
    Poem,
    /// `notes-axum`, on axum (the notes routes and `/health`).
    Axum,
}

impl Flavor {
    /// The package and binary name.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Poem => "notes-server",
            Flavor::Axum => "notes-axum",
        }
    }

    /// Path of the executable, built on the first call (like [`notes_server_binary`]).
    pub fn binary(self) -> &'static Path {
        static POEM: OnceLock<PathBuf> = OnceLock::new();
        static AXUM: OnceLock<PathBuf> = OnceLock::new();
        match self {
            Flavor::Poem => POEM.get_or_init(|| build(self.name())),
            Flavor::Axum => AXUM.get_or_init(|| build(self.name())),
        }
    }
}

fn build(name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", name, "--bin", name])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // What `cargo run` and `cargo test` set for the package running this:
    // build scripts (ring's, through cc) rerun when these change, so passing
    // them on rebuilt ring and all above it here, and again at the next
    // plain `cargo build`.
    for (key, _) in std::env::vars_os() {
        let set_for_the_package = key.to_str().is_some_and(|k| {
            [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .iter()
            .any(|p| k.starts_with(p))
        });
        if set_for_the_package {
            cmd.env_remove(&key);
        }
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let output = cmd.output().expect("run cargo build");
    assert!(output.status.success(), "cargo build -p {name} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == name)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the executable")
}
