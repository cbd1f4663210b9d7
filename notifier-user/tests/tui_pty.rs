//! End to end: the real binary in a real pseudo-terminal (tmux), replaying a recording from
//! the VM: it opens, sorts, filters, drills into a process, pauses the feed and quits,
//! and the screen shows each step.

use std::{
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

const RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vm-7.3.ntrec");

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        let session = format!("nt-e2e-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-x",
                "140",
                "-y",
                "30",
                "-s",
                &session,
                cmd,
            ])
            .status()
            .expect("tmux is required for this test (cargo xtask setup installs it)");
        assert!(status.success());
        Tmux { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    /// Waits until the screen contains `text`.
    fn expect(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {text:?}:\n{s}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .output()
            .unwrap()
            .status
            .success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

#[test]
fn browse_a_replay_and_quit() {
    let bin = env!("CARGO_BIN_EXE_notifier-top");
    let t = Tmux::start(&format!("{bin} replay {RECORDING}"));
    t.expect("sorted by intervals");
    t.expect("nfctl");
    t.keys(&["s"]);
    t.expect("sorted by bytes");
    t.keys(&["/", "p", "i", "d", ":", "2", "0", "2", "Enter"]);
    let s = t.expect("filter 'pid:202'");
    assert!(s.contains("processes (1)"), "{s}");
    t.keys(&["Enter"]);
    t.expect("address-space map");
    t.keys(&["Escape", "3"]);
    t.expect(" events ");
    t.keys(&["p"]);
    t.expect("paused: p resumes");
    t.keys(&["?"]);
    t.expect("pause / resume the event feed");
    t.keys(&["Escape", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.alive() {
        assert!(
            Instant::now() < deadline,
            "notifier-top did not exit on q:\n{}",
            t.screen()
        );
        sleep(Duration::from_millis(100));
    }
}
