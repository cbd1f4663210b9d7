//! Outputs read from the model: the JSON summary, snapshots, trace lines, the commands'
//! text, pointer redaction, and the escaping of outside text in all that people read.

pub mod escape;
pub mod pointers;
pub mod snapshot;
pub mod summary;
pub mod text;
pub mod trace;

use std::{
    fs::{self, File, OpenOptions},
    io::{BufWriter, Write as _},
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

/// Writes `path` whole or not at all: into a private temporary beside it, synced, then
/// renamed over `path`.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let tmp = path.with_extension("partial");
    let result = (|| -> Result<()> {
        let mut f = create_private(&tmp)?;
        let mut w = BufWriter::new(&mut f);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Seconds since the Unix epoch, for the time stamps exports carry.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
