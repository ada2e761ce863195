//! The side file of an export: what kind of tenant the archive holds.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::error::{TransferError, io_err};
use super::kind::{HEAD_LEN, TransferKind};

/// The suffix of the manifest written beside an export: `FILE.tenant.json`.
pub const MANIFEST_SUFFIX: &str = ".tenant.json";

/// The manifest format this version writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// The side file `FILE.tenant.json` of an export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] when written.
    pub format: u32,
    /// The kind of tenant exported.
    pub kind: TransferKind,
    /// The tool that wrote the file (`VACUUM INTO`, `pg_dump --format=custom`).
    pub tool: String,
    /// The tenant exported.
    pub tenant: String,
    /// A schema tenant's schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The size of `FILE` in bytes.
    pub bytes: u64,
    /// When, in seconds since the Unix epoch.
    pub exported_at: u64,
}

/// The manifest's path for archive `file`: `FILE.tenant.json`.
pub fn manifest_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(MANIFEST_SUFFIX);
    PathBuf::from(name)
}

pub(super) fn read_manifest(file: &Path) -> Result<Manifest, TransferError> {
    let path = manifest_path(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TransferError::ManifestMissing { manifest: path });
        }
        Err(source) => return Err(io_err("read", &path, source)),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| TransferError::ManifestInvalid {
            manifest: path.clone(),
            reason: e.to_string(),
        })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(TransferError::ManifestInvalid {
            manifest: path,
            reason: format!(
                "format {} (this version reads {MANIFEST_FORMAT})",
                manifest.format
            ),
        });
    }
    Ok(manifest)
}

/// The file's size and first bytes agree with its manifest.
pub(super) fn check_file(file: &Path, manifest: &Manifest) -> Result<(), TransferError> {
    let corrupt = |reason: String| TransferError::Corrupt {
        path: file.to_owned(),
        reason,
    };
    let mut f = std::fs::File::open(file).map_err(|source| io_err("open", file, source))?;
    let len = f
        .metadata()
        .map_err(|source| io_err("read", file, source))?
        .len();
    if len != manifest.bytes {
        return Err(corrupt(format!(
            "{len} bytes, the manifest says {}",
            manifest.bytes
        )));
    }
    let mut head = Vec::with_capacity(HEAD_LEN);
    let read = (&mut f).take(HEAD_LEN as u64).read_to_end(&mut head);
    if read.is_err() || !manifest.kind.starts_like(&head) {
        return Err(corrupt(format!(
            "it does not start like {}'s export",
            manifest.kind.describe()
        )));
    }
    Ok(())
}
