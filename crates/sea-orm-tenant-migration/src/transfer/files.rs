//! Writing files into place.

use std::path::{Path, PathBuf};

use super::error::{TransferError, io_err};

/// `FILE.partial`: where a file is written before it is renamed into place.
pub(super) fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

pub(super) fn remove_if_exists(path: &Path) -> Result<(), TransferError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", path, e)),
        _ => Ok(()),
    }
}
