//! Keys: read on their own thread (so a busy ingest never delays them) and applied to the
//! App by one function, which the tests drive directly.

use std::{path::Path, time::Duration};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::{
    app::{App, SortKey, View},
    rows::process_rows,
    table::Move,
    views,
};

/// Starts the input thread; it ends when the receiver is dropped.
pub fn spawn() -> UnboundedReceiver<KeyEvent> {
    let (tx, rx) = unbounded_channel();
    std::thread::spawn(move || {
        loop {
            if tx.is_closed() {
                return;
            }
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                        if tx.send(k).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

pub fn handle(app: &mut App, key: KeyEvent) {
    if app.editing_filter {
        match key.code {
            KeyCode::Enter => app.editing_filter = false,
            KeyCode::Esc => {
                app.editing_filter = false;
                app.filter.clear();
            }
            KeyCode::Backspace => {
                app.filter.pop();
            }
            KeyCode::Char(c) => app.filter.push(c),
            _ => {}
        }
        app.filter_changed();
        return;
    }
    if app.help {
        app.help = false;
        if !matches!(key.code, KeyCode::Char('q')) {
            return;
        }
    }
    match key.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => app.quit = true,
        KeyCode::Char('?') => app.help = true,
        KeyCode::Char('1') => app.view = View::Processes,
        KeyCode::Char('2') => app.view = View::Owners,
        KeyCode::Char('3') => app.view = View::Feed,
        KeyCode::Char('4') => app.view = View::Findings,
        KeyCode::Tab => {
            app.view = match app.view {
                View::Processes | View::Detail => View::Owners,
                View::Owners => View::Feed,
                View::Feed => View::Findings,
                View::Findings => View::Processes,
            }
        }
        KeyCode::Char('p') => app.paused = !app.paused,
        KeyCode::Char('a') => {
            app.audit_requested = true;
            app.status = Some("audit requested: re-walking the kernel's trees".into());
        }
        KeyCode::Char('w') => {
            let mm = match app.view {
                View::Detail => app.detail_mm,
                View::Processes => selected_process(app),
                _ => None,
            };
            match mm {
                Some(mm) => app.write_snapshot(mm, Path::new(".")),
                None => app.status = Some("select a process first (processes view)".into()),
            }
        }
        KeyCode::Char('/') => app.editing_filter = true,
        KeyCode::Char('s') | KeyCode::Char('S') => {
            let i = SortKey::ALL
                .iter()
                .position(|k| *k == app.sort)
                .unwrap_or(0);
            let n = SortKey::ALL.len();
            let next = if key.code == KeyCode::Char('s') {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            app.sort = SortKey::ALL[next];
        }
        KeyCode::Down | KeyCode::Char('j') => move_in_view(app, Move::Down),
        KeyCode::Up | KeyCode::Char('k') => move_in_view(app, Move::Up),
        KeyCode::PageDown => move_in_view(app, Move::PageDown),
        KeyCode::PageUp => move_in_view(app, Move::PageUp),
        KeyCode::Home => move_in_view(app, Move::First),
        KeyCode::End => move_in_view(app, Move::Last),
        KeyCode::Enter if app.view == View::Processes => {
            if let Some(mm) = selected_process(app) {
                app.open_detail(mm);
            }
        }
        KeyCode::Esc => {
            if app.view == View::Detail {
                app.view = View::Processes;
            } else {
                app.filter.clear();
                app.filter_changed();
            }
        }
        _ => {}
    }
}

fn move_in_view(app: &mut App, m: Move) {
    let len = views::rows(app, app.view);
    app.cursor_mut(app.view).apply(m, len);
}

fn selected_process(app: &App) -> Option<u64> {
    let rows = process_rows(app);
    let i = app.cursor(View::Processes).selected(rows.len())?;
    Some(rows[i].mm)
}
