use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    widgets::{Block, Clear, Paragraph},
};

pub const KEYS: &[(&str, &str)] = &[
    ("1 / 2 / 3 / 4", "processes / owners / events / findings"),
    ("Tab", "next view"),
    ("↑ ↓ j k PgUp PgDn", "move"),
    ("Enter", "process detail (intervals, address-space map)"),
    ("Esc", "back / clear filter"),
    ("s / S", "next / previous sort column"),
    ("/", "filter: text, pid:N, comm:X, owner:Y (Enter applies)"),
    ("p", "pause / resume the event feed"),
    ("w", "write the selected process's snapshot (./*.json)"),
    ("a", "audit: compare the mirror with the kernel now"),
    ("?", "this help"),
    ("q, Ctrl-C", "quit"),
];

pub fn draw(f: &mut Frame, area: Rect) {
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(KEYS.len() as u16 + 2),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, box_area, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(72),
        Constraint::Fill(1),
    ])
    .areas(mid);
    let text: Vec<String> = KEYS.iter().map(|(k, d)| format!("{k:>18}  {d}")).collect();
    f.render_widget(Clear, box_area);
    f.render_widget(
        Paragraph::new(text.join("\n")).block(Block::bordered().title(" keys ")),
        box_area,
    );
}
