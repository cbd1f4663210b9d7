use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    widgets::{Block, Clear, Paragraph},
};

use crate::tui::keys::BINDINGS;

/// One line per binding: its keys right-aligned in a column as wide as the widest, then
/// what they do.
fn lines() -> Vec<String> {
    let keys: Vec<String> = BINDINGS.iter().map(|b| b.key_names()).collect();
    let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
    keys.iter()
        .zip(BINDINGS)
        .map(|(k, b)| format!("{k:>width$}  {}", b.help))
        .collect()
}

pub fn draw(f: &mut Frame, area: Rect) {
    let text = lines();
    let widest = text.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(text.len() as u16 + 2),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, box_area, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(widest as u16 + 2),
        Constraint::Fill(1),
    ])
    .areas(mid);
    f.render_widget(Clear, box_area);
    f.render_widget(
        Paragraph::new(text.join("\n")).block(Block::bordered().title(" keys ")),
        box_area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_is_in_the_help() {
        let help = lines();
        assert_eq!(help.len(), BINDINGS.len());
        for (line, b) in help.iter().zip(BINDINGS) {
            assert!(
                line.contains(&b.key_names()) && line.ends_with(b.help),
                "{line:?} is not {}: {}",
                b.key_names(),
                b.help
            );
        }
    }
}
