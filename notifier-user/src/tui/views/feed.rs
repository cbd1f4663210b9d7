use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    widgets::Row,
};

use crate::{
    export::trace,
    tui::{
        app::{App, View},
        table::{self, TableList},
    },
};

pub struct Feed<'a> {
    app: &'a App,
    /// Under a filter, the matching lines: which ones match is only known once formatted.
    /// Without one, lines are formatted when shown (formatting all 2000 a frame would cost
    /// more than the ingest).
    matching: Option<Vec<String>>,
}

impl Feed<'_> {
    pub fn new(app: &App) -> Feed<'_> {
        let matching = (!app.filter.is_empty()).then(|| {
            (0..app.feed.len())
                .map(|i| line(app, i))
                .filter(|l| app.filter.split_whitespace().all(|t| l.contains(t)))
                .collect()
        });
        Feed { app, matching }
    }
}

fn line(app: &App, i: usize) -> String {
    let p = &app.pipeline;
    let ev = &app.feed[i];
    trace::human(ev, p.mirror.first_ns, p.owners.get(&ev.func))
}

impl TableList for Feed<'_> {
    const HEADER: &'static [&'static str] = &[];
    const WIDTHS: &'static [Constraint] = &[Constraint::Fill(1)];

    fn title(&self) -> String {
        format!(
            " events{} ",
            if self.app.paused {
                " (paused: p resumes)"
            } else {
                ""
            }
        )
    }

    fn len(&self) -> usize {
        self.matching.as_ref().map_or(self.app.feed.len(), Vec::len)
    }

    fn row(&self, i: usize) -> Row<'_> {
        match &self.matching {
            Some(lines) => Row::new([lines[i].as_str()]),
            None => Row::new([line(self.app, i)]),
        }
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    table::draw(f, area, &Feed::new(app), app.cursor(View::Feed));
}
