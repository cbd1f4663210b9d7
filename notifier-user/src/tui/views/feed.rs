use ratatui::{
    Frame,
    layout::Rect,
    text::Line,
    widgets::{Block, Paragraph},
};

use crate::{export::trace, tui::app::App};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let height = area.height.saturating_sub(2) as usize;
    let p = &app.pipeline;
    let mut lines: Vec<Line> = app
        .feed
        .iter()
        .rev()
        .map(|ev| trace::human(ev, p.mirror.first_ns, p.owners.get(&ev.func)))
        .filter(|l| app.filter.is_empty() || app.filter.split_whitespace().all(|t| l.contains(t)))
        .take(height)
        .map(Line::raw)
        .collect();
    lines.reverse();
    let title = format!(
        " events{} ",
        if app.paused {
            " (paused: p resumes)"
        } else {
            ""
        }
    );
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}
