use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Modifier, Style},
    widgets::{Block, Paragraph, Row, Table, Wrap},
};

use crate::{export::summary::owner_name, tui::app::App};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let findings: Vec<_> = app
        .pipeline
        .rules
        .iter()
        .flat_map(|r| r.findings())
        .collect();
    if findings.is_empty() {
        let text = "No findings.\n\nThe rules over the event stream run here (return contract, self-deadlock, insert \
                    discipline, slow callbacks, read_begin storms, intervals outliving their process). The rules \
                    that hook allocations, locks and the scheduler run with `notifier-top check`.";
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" findings ")),
            area,
        );
        return;
    }
    let header = Row::new([
        "CODE", "SEVERITY", "RULE", "PROCESS", "OWNER", "COUNT", "DETAIL",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = findings.iter().map(|x| {
        Row::new(vec![
            x.code.to_owned(),
            format!("{:?}", x.severity),
            x.name.to_owned(),
            format!("{}/{}", x.comm, x.tgid),
            owner_name(x.owner, &app.pipeline.owners).0,
            x.count.to_string(),
            x.detail.clone(),
        ])
    });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(28),
        Constraint::Length(16),
        Constraint::Length(20),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(" findings ")),
        area,
    );
}
