use std::{
    fs,
    io::{Read as _, Write as _},
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _, lchown, symlink},
    path::Path,
};

use super::*;

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Another user's file the writer must never reach.
fn victim(dir: &Path) -> PathBuf {
    let victim = dir.join("victim");
    fs::write(&victim, "precious").unwrap();
    victim
}

/// A link to `to` as another user (nobody) would plant it; `false` when this test cannot
/// give it away (not root), and the link is the caller's own.
fn plant(to: &Path, at: &Path) -> bool {
    symlink(to, at).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && lchown(at, Some(65534), Some(65534)).is_ok()
}

#[test]
fn an_atomic_write_goes_through_no_planted_link_or_file() {
    let shared = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = victim(elsewhere.path());
    let target = shared.path().join("snap.json");
    // The temporaries' names before they were random.
    let old_names = [
        shared.path().join("snap.partial"),
        shared.path().join(".snap.json.partial"),
    ];
    for link in &old_names {
        plant(&victim, link);
    }
    let planted = shared.path().join(".snap.json.tmp");
    fs::write(&planted, "planted").unwrap();
    let foreign = plant(&victim, &target);
    if !foreign {
        // The caller's own link is followed (the next test): not a plant.
        fs::remove_file(&target).unwrap();
        eprintln!("not root: no link of another user's planted at the target itself");
    }

    write_atomically(&target, |w| Ok(w.write_all(b"{}")?)).unwrap();

    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(fs::read_to_string(&planted).unwrap(), "planted");
    for link in &old_names {
        assert_eq!(fs::read_link(link).unwrap(), victim, "{}", link.display());
    }
    // A planted link at the target is replaced, not followed.
    assert!(fs::symlink_metadata(&target).unwrap().is_file());
    assert_eq!(fs::read_to_string(&target).unwrap(), "{}");
    assert_eq!(mode(&target), 0o600);
    let left: Vec<_> = fs::read_dir(shared.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != ".snap.json.tmp")
        .collect();
    assert!(left.is_empty(), "temporaries left behind: {left:?}");
}

#[test]
fn a_link_of_ones_own_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("runs")).unwrap();
    let real = dir.path().join("runs/today.json");
    fs::write(&real, "old").unwrap();
    let latest = dir.path().join("latest.json");
    symlink("runs/today.json", &latest).unwrap();
    write_atomically(&latest, |w| Ok(w.write_all(b"new")?)).unwrap();
    assert_eq!(
        fs::read_link(&latest).unwrap(),
        Path::new("runs/today.json")
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), "new");
}

#[test]
fn a_fifo_is_written_in_place_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    crate::test_support::mkfifo(&fifo);
    // Detached: if the FIFO were replaced, this would wait forever, and the test fail below.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut got = String::new();
            fs::File::open(fifo)
                .unwrap()
                .read_to_string(&mut got)
                .unwrap();
            got
        })
    };
    write_atomically(&fifo, |w| Ok(w.write_all(b"through the pipe")?)).unwrap();
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(reader.join().unwrap(), "through the pipe");
}

#[test]
fn a_failed_atomic_write_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    fs::write(&target, "old").unwrap();
    let err = write_atomically(&target, |_| anyhow::bail!("disk on fire")).unwrap_err();
    assert!(format!("{err:#}").contains("out.csv"), "{err:#}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "old");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_new_output_refuses_an_existing_file_or_a_planted_link() {
    let shared = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = victim(elsewhere.path());
    let err = format!("{:#}", Output::create_new(&victim).err().unwrap());
    assert!(err.contains("never overwritten"), "{err}");
    let link = shared.path().join("k.ntr");
    plant(&victim, &link);
    let err = format!("{:#}", Output::create_new(&link).err().unwrap());
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    // A dangling link: O_EXCL refuses it rather than creating what it names.
    let dangling = shared.path().join("d.ntr");
    let created = elsewhere.path().join("created");
    if plant(&created, &dangling) {
        assert!(Output::create_new(&dangling).is_err());
        assert!(!created.exists());
    }

    let fresh = shared.path().join("new.ntr");
    let mut out = Output::create_new(&fresh).unwrap();
    out.write_all(b"x").unwrap();
    assert_eq!(mode(&fresh), 0o600);
    assert_eq!(fs::read(&fresh).unwrap(), b"x");
}

#[test]
fn a_new_output_to_a_device_writes_to_it() {
    assert!(matches!(
        Output::create_new(Path::new("/dev/null")),
        Ok(Output::Stream(_))
    ));
    assert!(
        fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_dash_is_stdout_and_dot_slash_dash_a_file() {
    assert!(is_stdio(Path::new("-")));
    assert!(matches!(
        Output::create_new(Path::new("-")),
        Ok(Output::Stdout(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("-");
    assert!(!is_stdio(&file));
    write_output(&file, |w| Ok(w.write_all(b"csv")?)).unwrap();
    assert_eq!(fs::read_to_string(&file).unwrap(), "csv");
    assert!(matches!(
        Output::create_new(&dir.path().join("-x")),
        Ok(Output::File(_))
    ));
}
