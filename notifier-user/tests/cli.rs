//! The real binary on bad input: clear errors, non-zero exits, nothing half-written.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use notifier_user::record::{Record, RecordingReader, RecordingWriter};
use serde_json::Value;

const RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vm-7.3.ntrec");

fn top() -> Command {
    Command::new(env!("CARGO_BIN_EXE_notifier-top"))
}

/// The checked-in recording (an older format) as this version writes it, a block per
/// record read.
fn current_format(dir: &Path) -> PathBuf {
    let path = dir.join("current.ntrec");
    let reader = RecordingReader::open(Path::new(RECORDING)).unwrap();
    let mut w = RecordingWriter::create(&path, &reader.header().clone()).unwrap();
    for record in reader {
        match record.unwrap() {
            Record::Events(evs) => {
                evs.iter().for_each(|e| w.event(e).unwrap());
                w.flush().unwrap();
            }
            Record::Symbol(s) => w.symbol(&s).unwrap(),
            Record::Stack(s) => w.stack(&s).unwrap(),
            Record::Lost(l) => w.lost(l).unwrap(),
            Record::End { .. } => {}
            Record::Cut(c) => panic!("the checked-in recording is cut: {c}"),
        }
    }
    w.finish().unwrap();
    path
}

/// `replay FILE --summary-json -`, FILE `-` reading `stdin`.
fn replay_summary(file: &Path, stdin: Option<&[u8]>) -> Output {
    let mut child = top()
        .arg("replay")
        .arg(file)
        .args(["--summary-json", "-", "--raw-pointers"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn summary(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn live_capture_either_works_or_names_what_is_missing() {
    // On the build machine (its kernel refuses BPF tracing) this is the refusal path; on a
    // kernel that allows it, the table. Both outcomes are checked for substance.
    let out = top().arg("probes").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        assert!(stdout.contains("insert"), "{stdout}");
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr.contains("notifier-top: error:"), "{stderr}");
        let named = [
            "needs CAP_BPF and CAP_PERFMON",
            "neither fentry nor kprobes",
            "CONFIG_DEBUG_INFO_BTF",
        ];
        assert!(
            named.iter().any(|n| stderr.contains(n)),
            "no cause named: {stderr}"
        );
    }
}

#[test]
fn replay_of_a_missing_file_names_it() {
    let out = top()
        .args(["replay", "/nonexistent/x.ntrec"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/x.ntrec"), "{stderr}");
}

#[test]
fn replay_of_garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ntrec");
    std::fs::write(&path, b"definitely not a recording").unwrap();
    let out = top().arg("replay").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a notifier-top recording"));
}

#[test]
fn explain_prints_the_fix() {
    let out = top()
        .args(["check", "--explain", "alloc-in-callback"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NT001") && text.contains("memalloc_noreclaim_save"),
        "{text}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = top()
        .args(["trace", "--duration", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn filters_that_can_never_match_are_refused_up_front() {
    // Checked before privileges or BPF: the user learns about the typo first.
    let cases: [(&[&str], &str); 3] = [
        (&["snapshot", "--pid", "4000000000"], "no such process"),
        (
            &["trace", "--comm", "a_command_name_too_long"],
            "at most 15 bytes",
        ),
        (&["snapshot", "--format", "xml"], "invalid value 'xml'"),
    ];
    for (args, expected) in cases {
        let out = top().args(args).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// The codes of the findings `replay RECORDING args…` reports in its summary.
fn replay_findings(args: &[&str]) -> Vec<String> {
    let recording = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vm-7.3.ntrec");
    let out = top()
        .args(["replay", recording, "--summary-json", "-"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_command_that_shows_findings_takes_the_same_rule_options() {
    for cmd in ["check", "top", "replay", "export"] {
        let out = top().args([cmd, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for opt in ["--disable <RULE>", "--slow-callback", "--read-begin-wait"] {
            assert!(help.contains(opt), "{cmd} --help lacks {opt}:\n{help}");
        }
    }
    // The recording's findings: NT004 once, NT008 twice at the default 5 ms.
    let all = replay_findings(&[]);
    let without = replay_findings(&["--disable", "slow-callback"]);
    assert_eq!(without, ["NT004"], "all: {all:?}");
    let slow = |codes: &[String]| codes.iter().filter(|c| *c == "NT008").count();
    let strict = replay_findings(&["--slow-callback", "1ns"]);
    assert!(slow(&strict) > slow(&all), "{strict:?}");
    let lenient = replay_findings(&["--slow-callback", "1h"]);
    assert_eq!(slow(&lenient), 0, "{lenient:?}");
}

#[test]
fn replay_dash_reads_the_recording_from_stdin() {
    let from_file = replay_summary(Path::new(RECORDING), None);
    let bytes = std::fs::read(RECORDING).unwrap();
    let from_stdin = replay_summary(Path::new("-"), Some(&bytes));
    assert_eq!(summary(&from_stdin), summary(&from_file));
}

#[test]
fn a_cut_recording_replays_up_to_its_last_complete_block_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = current_format(dir.path());
    let whole = summary(&replay_summary(&path, None));
    let original = summary(&replay_summary(Path::new(RECORDING), None));
    assert_eq!(
        whole["counters"], original["counters"],
        "rewritten as it was"
    );
    assert!(whole.get("recording_cut").is_none());

    let bytes = std::fs::read(&path).unwrap();
    let cut_len = bytes.len() * 2 / 3;
    let cut = dir.path().join("cut.ntrec");
    std::fs::write(&cut, &bytes[..cut_len]).unwrap();
    let out = replay_summary(&cut, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recording cut at byte") && stderr.contains("was the recorder killed"),
        "{stderr}"
    );
    let partial = summary(&out);
    let at = partial["recording_cut"]["at_byte"].as_u64().unwrap();
    let ignored = partial["recording_cut"]["ignored_bytes"].as_u64().unwrap();
    assert_eq!(at + ignored, cut_len as u64);
    assert!(
        stderr.contains(&format!("cut at byte {at} ({ignored} bytes")),
        "{stderr}"
    );
    let events = |s: &Value| s["counters"]["events"].as_u64().unwrap();
    assert!(
        (1..events(&whole)).contains(&events(&partial)),
        "{} of {} events",
        events(&partial),
        events(&whole)
    );
}

#[test]
fn a_corrupt_block_in_the_middle_is_an_error_naming_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = current_format(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let out = replay_summary(&path, None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("corrupt record at byte"), "{stderr}");
}

#[test]
fn record_refuses_two_outputs_on_stdout() {
    let out = top()
        .args(["record", "-o", "-", "--summary-json", "-"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("both write to stdout"), "{stderr}");
}

#[test]
fn version_names_the_commit_and_the_event_abi() {
    let out = top().arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.starts_with(concat!(
            "notifier-top ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )),
        "{v}"
    );
    let commit = v
        .split("commit ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{v}"
    );
    let abi = format!("event ABI {}", notifier_common::ABI_VERSION);
    assert!(v.contains(&abi), "{v}");
    // Subcommands say the same.
    let sub = top().args(["replay", "--version"]).output().unwrap();
    assert!(String::from_utf8_lossy(&sub.stdout).contains(&abi));
}

/// The commands `--help` lists (clap's `help` aside).
fn listed_commands() -> Vec<String> {
    let out = top().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn generate_writes_a_man_page_per_command_and_completions_naming_them() {
    let commands = listed_commands();
    assert!(commands.len() >= 7, "{commands:?}");
    assert!(
        !commands.iter().any(|c| c == "generate"),
        "generate is for packagers, hidden from --help: {commands:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("made"); // created by generate
    for what in ["man", "complete-bash", "complete-zsh", "complete-fish"] {
        let run = top()
            .args(["generate", what, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(run.status.success(), "generate {what}: {run:?}");
    }
    let read = |name: &str| {
        std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(read("notifier-top.1").contains(".TH notifier-top 1"));
    let completions = ["notifier-top.bash", "_notifier-top", "notifier-top.fish"];
    for c in &commands {
        let page = read(&format!("notifier-top-{c}.1"));
        // Its title, and a synopsis naming the command as it is typed.
        assert!(
            page.contains(&format!(".TH notifier-top-{c} 1")),
            "{c}: {page}"
        );
        assert!(page.contains(&format!("notifier\\-top {c}")), "{c}: {page}");
        for completion in completions {
            assert!(
                read(completion).contains(c.as_str()),
                "{completion} lacks {c}"
            );
        }
    }
    // Hidden stays hidden: no page, and no shell offers it.
    assert!(!out.join("notifier-top-generate.1").exists());
    assert!(!out.join("notifier-top-help.1").exists());
    for completion in completions {
        assert!(!read(completion).contains("generate"), "{completion}");
    }
}
