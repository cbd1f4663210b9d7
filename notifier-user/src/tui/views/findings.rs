use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    widgets::{Block, Paragraph, Row, Wrap},
};

use crate::{
    export::{escape::Escaped, summary::owner_name},
    rules::Finding,
    tui::{
        app::{App, View},
        table::{self, TableList},
    },
};

pub struct Findings<'a> {
    app: &'a App,
    findings: Vec<&'a Finding>,
}

impl Findings<'_> {
    pub fn new(app: &App) -> Findings<'_> {
        Findings {
            app,
            findings: app
                .pipeline
                .rules
                .iter()
                .flat_map(|r| r.findings())
                .collect(),
        }
    }
}

impl TableList for Findings<'_> {
    const HEADER: &'static [&'static str] = &[
        "CODE", "SEVERITY", "RULE", "PROCESS", "OWNER", "COUNT", "DETAIL",
    ];
    const WIDTHS: &'static [Constraint] = &[
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(28),
        Constraint::Length(16),
        Constraint::Length(20),
        Constraint::Length(6),
        Constraint::Min(10),
    ];

    fn title(&self) -> String {
        " findings ".into()
    }

    fn len(&self) -> usize {
        self.findings.len()
    }

    fn row(&self, i: usize) -> Row<'_> {
        let x = self.findings[i];
        Row::new(vec![
            x.code.to_owned(),
            format!("{:?}", x.severity),
            x.name.to_owned(),
            format!("{}/{}", Escaped::str(&x.comm), x.tgid),
            Escaped::str(&owner_name(x.owner, &self.app.pipeline.owners).0).to_string(),
            x.count.to_string(),
            x.detail.clone(),
        ])
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let findings = Findings::new(app);
    if findings.is_empty() {
        let text = "No findings.\n\nThe rules over the event stream run here (return contract, self-deadlock, insert \
                    discipline, slow callbacks, read_begin storms, intervals outliving their process). The rules \
                    that hook allocations, locks and the scheduler run with `notifier-top check`.";
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(findings.title())),
            area,
        );
        return;
    }
    table::draw(f, area, &findings, app.cursor(View::Findings));
}
