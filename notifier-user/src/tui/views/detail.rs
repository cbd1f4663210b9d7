//! One process: its intervals and an address-space map of where they sit, where recent
//! invalidations landed, and where a munmap cut a hole into a registered interval (the
//! interval keeps its bounds: the hole shows inside it).

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row},
};

use super::dur;
use crate::{
    export::{
        escape::Escaped,
        summary::owner_name,
        trace::{event_name, human_size},
    },
    mirror::{Interval, Mm, Sketch, State},
    tui::{
        app::{App, View},
        palette::Palette,
        table::{self, TableList},
    },
};

pub struct Intervals<'a> {
    app: &'a App,
    mm: &'a Mm,
    /// By address, with their notifier pointers.
    ivs: Vec<(u64, &'a Interval)>,
}

impl Intervals<'_> {
    /// The detail view's process, unless it has gone from the mirror.
    pub fn new(app: &App) -> Option<Intervals<'_>> {
        let mm = app
            .detail_mm
            .and_then(|mm| app.pipeline.mirror.mms.get(&mm))?;
        let mut ivs: Vec<_> = mm.intervals.iter().map(|(&sub, iv)| (sub, iv)).collect();
        ivs.sort_by_key(|(_, iv)| iv.start);
        Some(Intervals { app, mm, ivs })
    }
}

impl TableList for Intervals<'_> {
    const HEADER: &'static [&'static str] = &[
        "RANGE", "SIZE", "OWNER", "STATE", "INV", "UNMAP", "LAST", "CB P99", "RB WAIT", "FAULTS",
    ];
    const WIDTHS: &'static [Constraint] = &[
        Constraint::Length(27),
        Constraint::Length(8),
        Constraint::Min(10),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(10),
    ];

    fn title(&self) -> String {
        let procs: Vec<String> = self
            .mm
            .processes
            .iter()
            .map(|(p, c)| format!("{}/{p}", Escaped::str(c)))
            .collect();
        format!(
            " {} · {} intervals{} (Esc: back) ",
            procs.join(" "),
            self.ivs.len(),
            if self.mm.released { " · exited" } else { "" }
        )
    }

    fn len(&self) -> usize {
        self.ivs.len()
    }

    fn row(&self, i: usize) -> Row<'_> {
        let (sub, iv) = self.ivs[i];
        let (owner, driver) = owner_name(
            self.app.pipeline.mirror.owner_addr(iv.owner),
            &self.app.pipeline.owners,
        );
        Row::new(vec![
            format!("{:x}-{:x}", iv.start, iv.last),
            human_size(iv.size()),
            Escaped::str(&driver.unwrap_or(owner)).to_string(),
            match iv.state {
                State::Live => "live".into(),
                State::DeferredInsert => "deferred".into(),
                State::Removing => "removing".into(),
            },
            iv.invalidations.to_string(),
            iv.unmaps.to_string(),
            if iv.last_event == u8::MAX {
                "-".into()
            } else {
                event_name(iv.last_event).into()
            },
            dur(iv.callbacks.quantile_ns(0.99)),
            format!("{}", iv.read_begin_waits),
            // Device faults, and how many the driver had to retry (-EBUSY).
            self.mm
                .faults(sub)
                .map_or_else(String::new, |f| match f.faults_busy {
                    0 => f.faults.to_string(),
                    busy => format!("{} ({busy}↺)", f.faults),
                }),
        ])
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(intervals) = Intervals::new(app) else {
        f.render_widget(
            Paragraph::new("This process is gone from the mirror (Esc: back)")
                .block(Block::bordered()),
            area,
        );
        return;
    };
    let map_height = (intervals.len().min(MAP_LINES) as u16) + 3;
    // The latency panel only where the table keeps room for a page of rows beside it.
    let latency_height = if area.height >= LATENCY_FROM_HEIGHT {
        4
    } else {
        0
    };
    let [table_area, latency_area, map_area] = Layout::vertical([
        Constraint::Min(4),
        Constraint::Length(latency_height),
        Constraint::Length(map_height),
    ])
    .areas(area);
    let cursor = app.cursor(View::Detail);
    table::draw(f, table_area, &intervals, cursor);
    if let Some(&(sub, iv)) = (latency_height > 0)
        .then(|| cursor.selected(intervals.len()))
        .flatten()
        .and_then(|i| intervals.ivs.get(i))
    {
        let faults = intervals.mm.faults(sub).map(|f| &f.latency);
        f.render_widget(
            Paragraph::new(vec![
                histogram("callbacks", &iv.callbacks),
                faults.map_or_else(|| Line::raw("   faults   none"), |s| histogram("faults", s)),
            ])
            .block(Block::bordered().title(
                " latency of the selected interval: log4 buckets from 1 µs (bars: share of calls) ",
            )),
            latency_area,
        );
    }
    // The map follows the selection, so a scrolled list still has its interval mapped.
    let first = cursor
        .selected(intervals.len())
        .map_or(0, |s| s.saturating_sub(MAP_LINES - 1));
    f.render_widget(
        Paragraph::new(map(
            intervals.mm,
            &intervals.ivs[first..],
            map_area.width.saturating_sub(2) as usize,
            app.palette,
        ))
        .block(Block::bordered().title(
            " address-space map: █ registered  ▒ invalidated  ╳ unmapped inside an interval ",
        )),
        map_area,
    );
}

/// One sketch as a row of bars, with its count and percentiles.
fn histogram(what: &str, s: &Sketch) -> Line<'static> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = s.weights().iter().copied().max().unwrap_or(0) as usize;
    let bars: String = s
        .weights()
        .iter()
        .map(|&w| match w {
            0 => '·',
            w => BARS[(w as usize * (BARS.len() - 1)).div_ceil(max.max(1))],
        })
        .collect();
    let (lo, hi) = Sketch::BOUNDS;
    Line::raw(format!(
        "{what:>11} {:>7}  {lo} {bars} {hi}  p50 {} p99 {} max {}",
        s.count,
        dur(s.quantile_ns(0.5)),
        dur(s.quantile_ns(0.99)),
        dur((s.count > 0).then_some(s.max_ns as u64)),
    ))
}

/// Body heights from which the detail view shows the selected interval's latency panel.
const LATENCY_FROM_HEIGHT: u16 = 24;

/// Intervals the address-space map has a line for.
const MAP_LINES: usize = 8;

/// One line per interval (the first `MAP_LINES` of `ivs`), each scaled to the interval itself
/// so that holes show however small the interval is next to its neighbours.
fn map(mm: &Mm, ivs: &[(u64, &Interval)], width: usize, palette: Palette) -> Vec<Line<'static>> {
    if ivs.is_empty() {
        return vec![Line::raw("no intervals")];
    }
    let label = 14;
    let width = width.saturating_sub(label).max(8);
    ivs.iter()
        .take(MAP_LINES)
        .map(|(_, iv)| {
            let span = iv.size().max(1) as f64;
            let cell = |a: u64| {
                ((((a - iv.start) as f64) / span) * width as f64).min(width as f64 - 1.0) as usize
            };
            let mut cells = vec!['█'; width];
            for &(s, l, ev) in &mm.recent {
                if l < iv.start || s > iv.last {
                    continue;
                }
                let mark = if ev == 0 { '╳' } else { '▒' };
                cells[cell(s.max(iv.start))..=cell(l.min(iv.last))].fill(mark);
            }
            Line::from(vec![
                Span::raw(format!("{:>12x}  ", iv.start)),
                Span::styled(
                    cells.into_iter().collect::<String>(),
                    palette.interval(iv.state),
                ),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_shows_each_bucket_by_its_share() {
        let mut s = Sketch::default();
        for _ in 0..8 {
            s.record(500); // <1 µs
        }
        s.record(20_000); // <64 µs
        let line = histogram("callbacks", &s).to_string();
        assert!(line.contains("<1µs █··▂········ ≥4.2s"), "{line}");
        assert!(line.contains("      9"), "{line}");
    }
}
