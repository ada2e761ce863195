//! The recipe's Python side: its folder, a virtual environment of its own
//! with exactly its requirements, and what the report says of them (pins,
//! Python version).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (this crate lives in `<root>/tests`).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The recipe's folder: `tests/flask-recipe`.
pub fn recipe_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("flask-recipe")
}

/// Cargo's target folder: the one holding this executable (`<target>/release/`).
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs `cmd` with its output on our stderr (stdout may carry the JSON report).
fn run_logged(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The virtual environment with exactly `requirements` installed; made or
/// updated when its stamp (the requirements file's text) differs.
pub fn ensure_venv(python: &str, venv: &Path, requirements: &Path) -> Result<(), String> {
    let wanted = std::fs::read_to_string(requirements)
        .map_err(|e| format!("read {}: {e}", requirements.display()))?;
    let stamp = venv.join("bench-vs-flask.requirements");
    let venv_python = venv.join("bin").join("python");
    let python_runs = Command::new(&venv_python)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if python_runs && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        eprintln!("venv {} is up to date", venv.display());
        return Ok(());
    }
    if !python_runs {
        eprintln!("making the venv {} with {python}...", venv.display());
        run_logged(
            Command::new(python)
                .args(["-m", "venv", "--clear"])
                .arg(venv),
            "python -m venv",
        )?;
    }
    let _ = std::fs::remove_file(&stamp);
    eprintln!("pip install -r {}...", requirements.display());
    run_logged(
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
        "pip install",
    )?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("write {}: {e}", stamp.display()))
}

/// `name==version` pins of `names` in the requirements file, in that order.
pub fn pins(requirements: &Path, names: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(requirements).unwrap_or_default();
    names
        .iter()
        .filter_map(|name| {
            text.lines()
                .map(str::trim)
                .find(|line| {
                    line.split_once("==")
                        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                })
                .map(str::to_owned)
        })
        .collect()
}

/// `python --version` of the venv, e.g. `3.11.7`.
pub fn python_version(venv: &Path) -> String {
    Command::new(venv.join("bin").join("python"))
        .args(["-c", "import platform; print(platform.python_version())"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "?".into())
}
