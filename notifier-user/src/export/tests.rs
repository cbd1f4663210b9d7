use std::{
    fs,
    io::Write as _,
    os::unix::fs::{PermissionsExt as _, symlink},
    path::Path,
};

use super::*;

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Another user's file the writer must never reach.
fn victim(dir: &Path) -> std::path::PathBuf {
    let victim = dir.join("victim");
    fs::write(&victim, "precious").unwrap();
    victim
}

#[test]
fn an_atomic_write_goes_through_no_planted_link_or_file() {
    let shared = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = victim(elsewhere.path());
    let target = shared.path().join("snap.json");
    // The temporaries' names before they were random, and the target itself.
    let links = [
        shared.path().join("snap.partial"),
        shared.path().join(".snap.json.partial"),
        target.clone(),
    ];
    for link in &links {
        symlink(&victim, link).unwrap();
    }
    let planted = shared.path().join(".snap.json.tmp");
    fs::write(&planted, "planted").unwrap();

    write_atomically(&target, |w| Ok(w.write_all(b"{}")?)).unwrap();

    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(fs::read_to_string(&planted).unwrap(), "planted");
    for link in &links[..2] {
        assert_eq!(fs::read_link(link).unwrap(), victim, "{}", link.display());
    }
    // The link at the target was replaced, not followed.
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
fn a_new_output_refuses_an_existing_file_or_link() {
    let shared = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = victim(elsewhere.path());
    let link = shared.path().join("k.ntr");
    symlink(&victim, &link).unwrap();
    let err = format!("{:#}", Output::create_new(&link).err().unwrap());
    assert!(err.contains("already exists"), "{err}");
    // A dangling link too: O_EXCL refuses it rather than creating its target.
    let dangling = shared.path().join("d.ntr");
    symlink(elsewhere.path().join("created"), &dangling).unwrap();
    assert!(Output::create_new(&dangling).is_err());
    assert!(!elsewhere.path().join("created").exists());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let err = format!("{:#}", Output::create_new(&victim).err().unwrap());
    assert!(err.contains("never overwritten"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");

    let fresh = shared.path().join("new.ntr");
    let mut out = Output::create_new(&fresh).unwrap();
    out.write_all(b"x").unwrap();
    assert_eq!(mode(&fresh), 0o600);
    assert_eq!(fs::read(&fresh).unwrap(), b"x");
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
