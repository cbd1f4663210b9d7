use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Paragraph, Sparkline},
};

use crate::{
    export::escape::Escaped,
    mirror::Counters,
    tui::app::{App, View},
};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [text, spark] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(24)]).areas(area);
    let m = &app.pipeline.mirror;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let modes: Vec<String> = app
        .attach
        .iter()
        .map(|s| format!("{}={}", s.hook, s.mode))
        .collect();
    let tabs = [
        ("1 processes", View::Processes),
        ("2 owners", View::Owners),
        ("3 events", View::Feed),
        ("4 findings", View::Findings),
    ];
    let tab_line: Vec<Span> = tabs
        .iter()
        .flat_map(|(name, v)| {
            let style = if app.view == *v || (app.view == View::Detail && *v == View::Processes) {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            [Span::styled(*name, style), Span::raw(" ")]
        })
        .collect();
    let c = &m.counters;
    let lost_style = if c.lost > 0 || c.skipped > 0 || c.callbacks_unobserved > 0 {
        app.palette.alert()
    } else {
        Style::new()
    };
    let lines = vec![
        Line::from(vec![
            Span::styled("notifier-top ", bold),
            // A replay's kernel and label come from a recording and its file name.
            Span::raw(format!(
                "{} · {} · {:.0}s",
                Escaped::str(&app.kernel),
                Escaped::str(&app.source_label),
                app.elapsed_s
            )),
        ]),
        Line::from(vec![
            Span::raw(format!(
                "{:.0} ev/s · {} events · {} intervals · ",
                app.events_per_sec,
                m.counters.events,
                m.live_intervals()
            )),
            Span::styled(losses(c), lost_style),
            Span::raw(format!(" · {} findings", app.findings_count())),
            Span::raw(
                app.bpf_cost
                    .as_deref()
                    .map(|c| format!(" · bpf {c}"))
                    .unwrap_or_default(),
            ),
            Span::raw(if app.filter.is_empty() {
                String::new()
            } else {
                format!(" · filter '{}'", app.filter)
            }),
            Span::raw(if app.paused {
                " · PAUSED".to_owned()
            } else {
                String::new()
            }),
            Span::raw(if app.kernel_filter.is_empty() {
                String::new()
            } else {
                format!(" · only {}", Escaped::str(&app.kernel_filter))
            }),
            audit(app),
        ]),
        match &app.status {
            // A status may quote an error, and so a path.
            Some(status) => Line::from(Span::styled(
                Escaped::str(status).to_string(),
                app.palette.status(),
            )),
            None => Line::from(Span::styled(modes.join(" "), app.palette.muted())),
        },
        Line::from(tab_line),
    ];
    f.render_widget(Paragraph::new(lines), text);
    let data: Vec<u64> = app.rate_history.iter().copied().collect();
    let start = data.len().saturating_sub(spark.width as usize);
    f.render_widget(
        Sparkline::default()
            .data(&data[start..])
            .style(app.palette.rate()),
        Rect {
            height: spark.height.saturating_sub(1),
            ..spark
        },
    );
}

/// The mirror audit: nothing until one ran; drift in red.
fn audit(app: &App) -> Span<'static> {
    let a = &app.pipeline.mirror.audit;
    match (a.mms_checked, a.drifted()) {
        (0, 0) => Span::raw(""),
        (n, 0) => Span::raw(format!(" · audit ok ({n} mm checks)")),
        (_, d) => Span::styled(format!(" · DRIFT {d}"), app.palette.alert()),
    }
}

/// `N lost`, then the skipped runs and unobserved callbacks when there were any.
fn losses(c: &Counters) -> String {
    let mut s = format!("{} lost", c.lost);
    if c.skipped > 0 {
        s += &format!(" · {} skipped", c.skipped);
    }
    if c.callbacks_unobserved > 0 {
        s += &format!(" · {} callbacks unobserved", c.callbacks_unobserved);
    }
    s
}
