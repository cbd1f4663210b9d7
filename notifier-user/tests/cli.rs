//! The real binary on bad input: clear errors, non-zero exits, nothing half-written.

use std::process::Command;

fn top() -> Command {
    Command::new(env!("CARGO_BIN_EXE_notifier-top"))
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
            "needs root",
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
    for cmd in ["check", "top", "replay"] {
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
