//! Every colour the view draws with, and NO_COLOR (<https://no-color.org>): set and not
//! empty, it means no colours at all. Bold and reverse are not colours and stay, so the
//! selected row, the tabs and the key hints still stand out.

use std::ffi::OsStr;

use ratatui::style::{Color, Style};

use crate::mirror::State;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    color: bool,
}

impl Palette {
    /// As the environment's NO_COLOR asks.
    pub fn from_env() -> Palette {
        Palette::from_no_color(std::env::var_os("NO_COLOR").as_deref())
    }

    /// For a NO_COLOR of `value` (`None`: unset); an empty value counts as unset.
    pub fn from_no_color(value: Option<&OsStr>) -> Palette {
        Palette {
            color: value.is_none_or(OsStr::is_empty),
        }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Something was lost or went wrong: losses, audit drift.
    pub fn alert(self) -> Style {
        self.fg(Color::Red)
    }

    /// The outcome of the user's last action.
    pub fn status(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Background facts, such as the attach modes.
    pub fn muted(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// The event-rate sparkline.
    pub fn rate(self) -> Style {
        self.fg(Color::Cyan)
    }

    /// An interval on the address-space map, by its state.
    pub fn interval(self, state: State) -> Style {
        self.fg(match state {
            State::Live => Color::Green,
            State::DeferredInsert => Color::Yellow,
            State::Removing => Color::Red,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_and_not_empty_turns_colours_off() {
        assert_eq!(
            Palette::from_no_color(None).alert(),
            Style::new().fg(Color::Red)
        );
        assert_eq!(
            Palette::from_no_color(Some(OsStr::new(""))).muted().fg,
            Some(Color::DarkGray)
        );
        let plain = Palette::from_no_color(Some(OsStr::new("1")));
        assert_eq!(plain.alert(), Style::new());
        assert_eq!(plain.interval(State::Live), Style::new());
    }
}
