use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Modifier, Style},
    widgets::{Block, Cell, Row, Table, TableState},
};

use super::dur;
use crate::{
    export::trace::human_size,
    tui::{app::App, rows::process_rows},
};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let rows = process_rows(app);
    let header = Row::new([
        "PID", "COMM", "LIVE", "DEF", "BYTES", "INV/S", "CB P99", "WAITS", "FIND",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let body = rows.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.pids.clone()),
            Cell::from(if r.exited {
                format!("{} (exited)", r.comm)
            } else {
                r.comm.clone()
            }),
            Cell::from(r.live.to_string()),
            Cell::from(r.deferred.to_string()),
            Cell::from(human_size(r.bytes)),
            Cell::from(r.rate.to_string()),
            Cell::from(dur(r.cb_p99_ns)),
            Cell::from(r.waits.to_string()),
            Cell::from(if r.findings > 0 {
                format!("!{}", r.findings)
            } else {
                String::new()
            }),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Min(12),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(4),
    ];
    let title = format!(
        " processes ({}) · sorted by {} ",
        rows.len(),
        app.sort.name()
    );
    let table = Table::new(body, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default()
        .with_selected((!rows.is_empty()).then(|| app.selected.min(rows.len() - 1)));
    f.render_stateful_widget(table, area, &mut state);
}
