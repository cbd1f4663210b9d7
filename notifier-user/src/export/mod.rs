//! Outputs read from the model: the JSON summary, trace lines, and pointer redaction.

pub mod pointers;
pub mod summary;
pub mod trace;

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::OpenOptionsExt as _,
    path::Path,
};

use anyhow::{Context as _, Result};

/// Creates (truncating) a file only its owner can read: exports and recordings hold kernel
/// pointers or enough about processes to stay private. Callers write to a temporary name
/// and rename into place, so nobody sees a half-written file.
pub fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}
