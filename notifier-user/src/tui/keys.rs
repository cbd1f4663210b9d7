//! Every key binding, written down once (after gitui's key_list): the input handler looks keys
//! up here, and the help popup and the footer are drawn from here, so none of the three can
//! name a key the others do not know.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::table::Move;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Processes,
    Owners,
    Events,
    Findings,
    NextView,
    /// The selected process's detail.
    Open,
    /// Out of the detail view, or else the filter cleared.
    Back,
    SortNext,
    SortPrevious,
    EditFilter,
    Pause,
    Snapshot,
    Audit,
    Move(Move),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

impl Key {
    fn matches(self, ev: &KeyEvent) -> bool {
        // Shift is part of the character already (S), so only Ctrl tells keys apart.
        self.code == ev.code && self.ctrl == ev.modifiers.contains(KeyModifiers::CONTROL)
    }

    pub fn name(self) -> String {
        let name = match self.code {
            KeyCode::Char(c) if self.ctrl => return format!("Ctrl-{}", c.to_ascii_uppercase()),
            KeyCode::Char(c) => return c.to_string(),
            KeyCode::Up => "↑",
            KeyCode::Down => "↓",
            KeyCode::PageUp => "PgUp",
            KeyCode::PageDown => "PgDn",
            KeyCode::Home => "Home",
            KeyCode::End => "End",
            KeyCode::Enter => "Enter",
            KeyCode::Esc => "Esc",
            KeyCode::Tab => "Tab",
            other => return other.to_string(),
        };
        name.to_owned()
    }

    /// The footer's narrower spelling.
    fn glyph(self) -> String {
        match self.code {
            KeyCode::Enter => "↵".to_owned(),
            _ => self.name(),
        }
    }
}

/// One line of the help: keys that belong together (1-4, s S, the moves) share it.
pub struct Binding {
    pub keys: &'static [(Key, Action)],
    pub help: &'static str,
    /// The footer's word for it; bindings without one are only in the help.
    pub footer: Option<&'static str>,
}

impl Binding {
    /// The keys as the help lists them.
    pub fn key_names(&self) -> String {
        let names: Vec<String> = self.keys.iter().map(|(k, _)| k.name()).collect();
        names.join(" ")
    }

    /// The keys as the footer shows them: a run of several as its ends (1-4), an alternative
    /// pair (s S, q Ctrl-C) as its first.
    pub fn footer_keys(&self) -> String {
        match self.keys {
            [(first, _), .., (last, _)] if self.keys.len() > 2 => {
                format!("{}-{}", first.glyph(), last.glyph())
            }
            [(first, _), ..] => first.glyph(),
            [] => String::new(),
        }
    }
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[
            (ch('1'), Action::Processes),
            (ch('2'), Action::Owners),
            (ch('3'), Action::Events),
            (ch('4'), Action::Findings),
        ],
        help: "processes / owners / events / findings",
        footer: Some("views"),
    },
    Binding {
        keys: &[(key(KeyCode::Tab), Action::NextView)],
        help: "next view",
        footer: None,
    },
    Binding {
        keys: &[
            (key(KeyCode::Up), Action::Move(Move::Up)),
            (key(KeyCode::Down), Action::Move(Move::Down)),
            (ch('j'), Action::Move(Move::Down)),
            (ch('k'), Action::Move(Move::Up)),
        ],
        help: "move",
        footer: None,
    },
    Binding {
        keys: &[
            (key(KeyCode::PageUp), Action::Move(Move::PageUp)),
            (key(KeyCode::PageDown), Action::Move(Move::PageDown)),
            (key(KeyCode::Home), Action::Move(Move::First)),
            (key(KeyCode::End), Action::Move(Move::Last)),
        ],
        help: "a page up / down, first / last row (End follows it)",
        footer: None,
    },
    Binding {
        keys: &[(key(KeyCode::Enter), Action::Open)],
        help: "process detail (intervals, address-space map)",
        footer: Some("detail"),
    },
    Binding {
        keys: &[(key(KeyCode::Esc), Action::Back)],
        help: "back / clear filter",
        footer: None,
    },
    Binding {
        keys: &[(ch('s'), Action::SortNext), (ch('S'), Action::SortPrevious)],
        help: "next / previous sort column",
        footer: Some("sort"),
    },
    Binding {
        keys: &[(ch('/'), Action::EditFilter)],
        help: "filter: text, pid:N, comm:X, owner:Y (Enter applies)",
        footer: Some("filter"),
    },
    Binding {
        keys: &[(ch('p'), Action::Pause)],
        help: "pause / resume the event feed",
        footer: Some("pause"),
    },
    Binding {
        keys: &[(ch('w'), Action::Snapshot)],
        help: "write the selected process's snapshot (./*.json)",
        footer: None,
    },
    Binding {
        keys: &[(ch('a'), Action::Audit)],
        help: "audit: compare the mirror with the kernel now",
        footer: None,
    },
    Binding {
        keys: &[(ch('?'), Action::Help)],
        help: "this help",
        footer: Some("help"),
    },
    Binding {
        keys: &[(ch('q'), Action::Quit), (ctrl('c'), Action::Quit)],
        help: "quit",
        footer: Some("quit"),
    },
];

pub fn action(ev: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .flat_map(|b| b.keys)
        .find(|(k, _)| k.matches(ev))
        .map(|&(_, a)| a)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Every action; the match makes a new variant fail to build until it is added here.
    fn every_action() -> Vec<Action> {
        let all = vec![
            Action::Quit,
            Action::Help,
            Action::Processes,
            Action::Owners,
            Action::Events,
            Action::Findings,
            Action::NextView,
            Action::Open,
            Action::Back,
            Action::SortNext,
            Action::SortPrevious,
            Action::EditFilter,
            Action::Pause,
            Action::Snapshot,
            Action::Audit,
            Action::Move(Move::Up),
            Action::Move(Move::Down),
            Action::Move(Move::PageUp),
            Action::Move(Move::PageDown),
            Action::Move(Move::First),
            Action::Move(Move::Last),
        ];
        for a in &all {
            match a {
                Action::Quit
                | Action::Help
                | Action::Processes
                | Action::Owners
                | Action::Events
                | Action::Findings
                | Action::NextView
                | Action::Open
                | Action::Back
                | Action::SortNext
                | Action::SortPrevious
                | Action::EditFilter
                | Action::Pause
                | Action::Snapshot
                | Action::Audit
                | Action::Move(
                    Move::Up
                    | Move::Down
                    | Move::PageUp
                    | Move::PageDown
                    | Move::First
                    | Move::Last,
                ) => {}
            }
        }
        all
    }

    #[test]
    fn every_action_has_a_key_and_every_key_one_action() {
        for a in every_action() {
            assert!(
                BINDINGS.iter().flat_map(|b| b.keys).any(|(_, x)| *x == a),
                "{a:?} has no key"
            );
        }
        let mut seen = HashSet::new();
        for (k, a) in BINDINGS.iter().flat_map(|b| b.keys) {
            assert!(seen.insert(*k), "{} is bound twice", k.name());
            let ev = KeyEvent::new(
                k.code,
                if k.ctrl {
                    KeyModifiers::CONTROL
                } else {
                    KeyModifiers::NONE
                },
            );
            assert_eq!(action(&ev), Some(*a), "{} does not reach {a:?}", k.name());
        }
    }

    #[test]
    fn the_footer_shows_its_bindings_keys() {
        let footer: Vec<_> = BINDINGS
            .iter()
            .filter_map(|b| b.footer.map(|word| format!("{} {word}", b.footer_keys())))
            .collect();
        assert_eq!(
            footer,
            [
                "1-4 views",
                "↵ detail",
                "s sort",
                "/ filter",
                "p pause",
                "? help",
                "q quit"
            ]
        );
    }
}
