use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Modifier, Style},
    widgets::{Block, Row, Table},
};

use super::dur;
use crate::{export::summary::owner_name, tui::app::App};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let m = &app.pipeline.mirror;
    let live = m.live_by_owner();
    let mut owners: Vec<_> = m
        .owners
        .iter()
        .zip(live)
        .map(|((addr, o), live)| (addr, o, live))
        .collect();
    owners.sort_by_key(|(_, o, live)| std::cmp::Reverse((*live, o.invalidations)));
    let header = Row::new([
        "DRIVER", "CALLBACK", "LIVE", "INSERTS", "REMOVES", "INVAL", "CB P50", "CB P99", "CB MAX",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = owners.iter().map(|(addr, o, live)| {
        let (name, driver) = owner_name(**addr, &app.pipeline.owners);
        Row::new(vec![
            driver.unwrap_or_else(|| "?".into()),
            name,
            live.to_string(),
            o.inserts.to_string(),
            o.removes.to_string(),
            o.invalidations.to_string(),
            dur(o.callbacks.quantile_ns(0.5)),
            dur(o.callbacks.quantile_ns(0.99)),
            dur(o.callbacks.max_ns()),
        ])
    });
    let widths = [
        Constraint::Length(18),
        Constraint::Min(16),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(" owners (drivers) ")),
        area,
    );
}
