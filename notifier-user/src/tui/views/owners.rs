use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    widgets::Row,
};

use super::dur;
use crate::{
    export::{escape::Escaped, summary::owner_name},
    mirror::Owner,
    tui::{
        app::{App, View},
        table::{self, TableList},
    },
};

pub struct Owners<'a> {
    app: &'a App,
    /// Address, counters and live intervals, the busiest first.
    owners: Vec<(u64, &'a Owner, usize)>,
}

impl Owners<'_> {
    pub fn new(app: &App) -> Owners<'_> {
        let m = &app.pipeline.mirror;
        let mut owners: Vec<_> = m
            .owners
            .iter()
            .map(|(&addr, o)| (addr, o, o.live))
            .collect();
        owners.sort_by_key(|(_, o, live)| std::cmp::Reverse((*live, o.invalidations)));
        Owners { app, owners }
    }
}

impl TableList for Owners<'_> {
    const HEADER: &'static [&'static str] = &[
        "DRIVER", "CALLBACK", "LIVE", "INSERTS", "REMOVES", "INVAL", "CB P50", "CB P99", "CB MAX",
        "FAULTS",
    ];
    const WIDTHS: &'static [Constraint] = &[
        Constraint::Length(18),
        Constraint::Min(16),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
    ];

    fn title(&self) -> String {
        " owners (drivers) ".into()
    }

    fn len(&self) -> usize {
        self.owners.len()
    }

    fn row(&self, i: usize) -> Row<'_> {
        let (addr, o, live) = self.owners[i];
        let (name, driver) = owner_name(addr, &self.app.pipeline.owners);
        Row::new(vec![
            driver.map_or_else(|| "?".into(), |d| Escaped::str(&d).to_string()),
            Escaped::str(&name).to_string(),
            live.to_string(),
            o.inserts.to_string(),
            o.removes.to_string(),
            o.invalidations.to_string(),
            dur(o.callbacks.quantile_ns(0.5)),
            dur(o.callbacks.quantile_ns(0.99)),
            dur(o.callbacks.max_ns()),
            o.hmm.faults.to_string(),
        ])
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    table::draw(f, area, &Owners::new(app), app.cursor(View::Owners));
}
