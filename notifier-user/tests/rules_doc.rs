//! docs/rules.md says, per rule, what lockdep says of its hazard exactly as the rule's
//! catalog entry does (`RuleInfo::lockdep`, which `check --explain` prints and
//! `cargo xtask oracle` judges against).

use notifier_user::rules::{Lockdep, catalog};

#[test]
fn the_docs_say_what_lockdep_sees_of_each_rule() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rules.md"))
        .expect("docs/rules.md");
    for r in catalog() {
        let row = match r.lockdep {
            Lockdep::Reports(what) => format!("| {} | reports it | {what} |", r.code),
            Lockdep::Blind(why) => format!("| {} | cannot see it | {why} |", r.code),
        };
        assert!(
            doc.lines().any(|l| l.trim() == row),
            "docs/rules.md has no row\n{row}\n(the lockdep table must say what {}'s RuleInfo says)",
            r.code
        );
    }
}
