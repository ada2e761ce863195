//! Running a database's client tool (`pg_dump`, `pg_restore`,
//! `mariadb-dump`, `mariadb`): never through a shell, off the async threads,
//! its error output scrubbed of the password.

use std::path::{Path, PathBuf};
use std::process::Command;

use sea_orm_tenant::scrub;

use super::error::TransferError;

/// Runs a client tool off the async threads; returns its output.
pub(super) async fn run_tool(
    mut cmd: Command,
    tool: &'static str,
    url: &str,
) -> Result<Vec<u8>, TransferError> {
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| TransferError::ToolFailed {
            tool,
            status: "not run".to_owned(),
            stderr: e.to_string(),
        })?;
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TransferError::ToolMissing { tool });
        }
        Err(e) => {
            return Err(TransferError::ToolFailed {
                tool,
                status: "not started".to_owned(),
                stderr: scrub(&e.to_string(), url),
            });
        }
    };
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(TransferError::ToolFailed {
        tool,
        status: output.status.to_string(),
        stderr: scrub(stderr.trim(), url),
    })
}

/// `--opt=PATH` as one argument.
pub(super) fn file_arg(option: &str, path: &Path) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from(option);
    arg.push(path.as_os_str());
    arg
}

/// A path a program cannot take for an option: a relative path gets `./`.
pub(super) fn plain_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        Path::new(".").join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn tool_errors_are_scrubbed() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'failed for p@ss and p%40ss' >&2; exit 3"]);
        let err = run_tool(cmd, "pg_dump", "postgres://app:p%40ss@db/t_acme")
            .await
            .unwrap_err();
        let TransferError::ToolFailed { stderr, status, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(stderr, "failed for *** and ***");
        assert!(status.contains('3'), "{status}");
        assert!(matches!(
            run_tool(Command::new("sot-no-such-tool"), "pg_restore", "").await,
            Err(TransferError::ToolMissing { tool: "pg_restore" })
        ));
    }

    #[test]
    fn a_path_is_never_an_option() {
        assert_eq!(plain_path(Path::new("-x")), PathBuf::from("./-x"));
    }
}
