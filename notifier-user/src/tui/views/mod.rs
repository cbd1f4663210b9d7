//! Drawing: one module per view; each reads the App and changes nothing in it but where its
//! table last scrolled to (see `table::Cursor`).

mod detail;
mod feed;
mod findings;
mod header;
mod help;
mod owners;
mod processes;

use ratatui::{
    Frame,
    layout::{Constraint, Layout},
    style::{Modifier, Style},
    text::{Line, Span},
};

use super::{
    app::{App, View},
    keys::BINDINGS,
    table::TableList,
};

pub fn draw(f: &mut Frame, app: &App) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    header::draw(f, head, app);
    match app.view {
        View::Processes => processes::draw(f, body, app),
        View::Detail => detail::draw(f, body, app),
        View::Owners => owners::draw(f, body, app),
        View::Feed => feed::draw(f, body, app),
        View::Findings => findings::draw(f, body, app),
    }
    footer(f, foot, app);
    if app.help {
        help::draw(f, f.area());
    }
}

/// Rows in `view`'s table, for moves to clamp to.
pub fn rows(app: &App, view: View) -> usize {
    match view {
        View::Processes => processes::Processes::new(app).len(),
        View::Detail => detail::Intervals::new(app).map_or(0, |l| l.len()),
        View::Owners => owners::Owners::new(app).len(),
        View::Feed => feed::Feed::new(app).len(),
        View::Findings => findings::Findings::new(app).len(),
    }
}

fn footer(f: &mut Frame, area: ratatui::layout::Rect, app: &App) {
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled("filter: ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!("{}▏", app.filter)),
        ])
    } else {
        Line::from(
            BINDINGS
                .iter()
                .filter_map(|b| b.footer.map(|word| (b.footer_keys(), word)))
                .flat_map(|(keys, word)| {
                    [
                        Span::styled(keys, Style::new().add_modifier(Modifier::REVERSED)),
                        Span::raw(format!(" {word}  ")),
                    ]
                })
                .collect::<Vec<_>>(),
        )
    };
    f.render_widget(line, area);
}

/// `12.3µs`-style durations for narrow columns.
pub fn dur(ns: Option<u64>) -> String {
    match ns {
        None => "-".into(),
        Some(n) if n < 1_000 => format!("{n}ns"),
        Some(n) if n < 1_000_000 => format!("{:.1}µs", n as f64 / 1e3),
        Some(n) if n < 1_000_000_000 => format!("{:.1}ms", n as f64 / 1e6),
        Some(n) => format!("{:.1}s", n as f64 / 1e9),
    }
}
