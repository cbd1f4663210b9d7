//! Outputs read from the model: the JSON summary, snapshots, trace lines, the commands'
//! text, pointer redaction, and the escaping of outside text in all that people read.

pub mod escape;
pub mod perfetto;
pub mod pointers;
pub mod snapshot;
pub mod summary;
pub mod text;
pub mod trace;

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, ErrorKind, Write},
    os::unix::fs::{MetadataExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

/// The convention of every file option: `-` is stdout (stdin for `replay`); a file named
/// `-` is reached as `./-`.
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where a streamed output (a recording) goes: a file of its own, or a stream (stdout, a
/// device, a FIFO) with no disk behind it to sync.
pub enum Output {
    Stdout(io::Stdout),
    File(File),
    Stream(File),
}

impl Output {
    /// Stdout for `-`, an existing device or FIFO as it is; otherwise a new file only its
    /// owner can read (recordings hold kernel pointers). Exclusive and not following
    /// symlinks (but the caller's and root's, see [`resolve`]): root writing into a shared
    /// directory must not truncate an existing file, nor write wherever a link another
    /// user planted at that name points.
    pub fn create_new(path: &Path) -> Result<Output> {
        if is_stdio(path) {
            return Ok(Output::Stdout(io::stdout()));
        }
        let path = &resolve(path);
        if let Some(stream) = open_in_place(path)? {
            return Ok(Output::Stream(stream));
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(path);
        match file {
            Ok(f) => Ok(Output::File(f)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(e).with_context(|| {
                format!(
                    "{} already exists (a file or a link): it is never overwritten; remove it \
                     or choose another name",
                    path.display()
                )
            }),
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(o) => o.write(buf),
            Output::File(f) | Output::Stream(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(o) => o.flush(),
            Output::File(f) | Output::Stream(f) => f.flush(),
        }
    }
}

/// Where writing `path` goes: through each link on the way that root or the caller owns
/// (the user's own name for a file, or the system's, such as `/dev/stdout`), stopping at a
/// link anyone else owns: that one is replaced like a file, never written through.
fn resolve(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    // The kernel's own limit on links followed in one lookup.
    for _ in 0..40 {
        let Ok(entry) = fs::symlink_metadata(&p) else {
            break;
        };
        let Ok(next) = fs::read_link(&p) else {
            break;
        };
        if !trusted(&entry) {
            break;
        }
        let next = p.parent().unwrap_or(Path::new("/")).join(next);
        // A /proc/self/fd link to a pipe names no path (`pipe:[N]`): it opens as itself.
        if fs::symlink_metadata(&next).is_err() && fs::metadata(&p).is_ok() {
            break;
        }
        p = next;
    }
    p
}

fn trusted(link: &fs::Metadata) -> bool {
    // SAFETY: geteuid has no preconditions.
    link.uid() == 0 || link.uid() == unsafe { libc::geteuid() }
}

/// An existing target that is neither a regular file nor a directory (`/dev/null`, a FIFO,
/// a terminal), opened to be written in place: replacing it would put a file where the
/// device was. `path` comes from [`resolve`]: a link left in it is followed only if trusted.
fn open_in_place(path: &Path) -> Result<Option<File>> {
    let Ok(entry) = fs::symlink_metadata(path) else {
        return Ok(None);
    };
    let link = entry.file_type().is_symlink();
    if link && !trusted(&entry) {
        return Ok(None);
    }
    let Ok(target) = fs::metadata(path) else {
        return Ok(None);
    };
    if target.is_file() || target.is_dir() {
        return Ok(None);
    }
    let mut options = OpenOptions::new();
    options.write(true);
    if !link {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let file = options
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(Some(file))
}

/// Writes an output whole: to stdout for `-`, otherwise as [`write_atomically`] does.
pub fn write_output(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if is_stdio(path) {
        let mut out = io::stdout().lock();
        write(&mut out)?;
        return out.flush().context("writing to stdout");
    }
    write_atomically(path, |w| write(w))
}

/// Writes `path` whole or not at all, mode 0600 (exports hold kernel pointers or enough
/// about processes to stay private): into a temporary beside it, synced, then renamed over
/// `path`. The temporary has a random name and is created exclusively, so a file or link
/// planted beside the target in a shared directory is neither written through nor
/// replaced; the rename replaces a link another user owns at `path` rather than following
/// it (the caller's own links are followed, see [`resolve`]). A device or FIFO is written
/// in place.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let result = (|| -> Result<()> {
        let path = &resolve(path);
        if let Some(mut stream) = open_in_place(path)? {
            let mut w = BufWriter::new(&mut stream);
            write(&mut w)?;
            return Ok(w.flush()?);
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path.file_name().context("the path has no file name")?;
        // Dropped on an error, the temporary is removed.
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary in {}", dir.display()))?;
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
        drop(w);
        tmp.as_file().sync_all()?;
        tmp.persist(path)?;
        Ok(())
    })();
    result.with_context(|| format!("writing {}", path.display()))
}

/// Seconds since the Unix epoch, for the time stamps exports carry.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
