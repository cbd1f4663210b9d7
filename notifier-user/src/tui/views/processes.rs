use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    widgets::{Cell, Row},
};

use super::dur;
use crate::{
    export::{escape::Escaped, trace::human_size},
    tui::{
        app::{App, SortKey, View},
        rows::{ProcessRow, process_rows},
        table::{self, TableList},
    },
};

pub struct Processes {
    rows: Vec<ProcessRow>,
    sort: SortKey,
}

impl Processes {
    pub fn new(app: &App) -> Processes {
        Processes {
            rows: process_rows(app),
            sort: app.sort,
        }
    }
}

impl TableList for Processes {
    const HEADER: &'static [&'static str] = &[
        "PID", "COMM", "LIVE", "DEF", "BYTES", "INV/S", "CB P99", "WAITS", "FAULTS", "FIND",
    ];
    const WIDTHS: &'static [Constraint] = &[
        Constraint::Length(8),
        Constraint::Min(12),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(4),
    ];

    fn title(&self) -> String {
        format!(
            " processes ({}) · sorted by {} ",
            self.rows.len(),
            self.sort.name()
        )
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn row(&self, i: usize) -> Row<'_> {
        let r = &self.rows[i];
        Row::new(vec![
            Cell::from(r.pids.as_str()),
            Cell::from(if r.exited {
                format!("{} (exited)", Escaped::str(&r.comm))
            } else {
                Escaped::str(&r.comm).to_string()
            }),
            Cell::from(r.live.to_string()),
            Cell::from(r.deferred.to_string()),
            Cell::from(human_size(r.bytes)),
            Cell::from(r.rate.to_string()),
            Cell::from(dur(r.cb_p99_ns)),
            Cell::from(r.waits.to_string()),
            Cell::from(r.faults.to_string()),
            Cell::from(if r.findings > 0 {
                format!("!{}", r.findings)
            } else {
                String::new()
            }),
        ])
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    table::draw(f, area, &Processes::new(app), app.cursor(View::Processes));
}
