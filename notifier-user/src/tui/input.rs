//! Keys: read on their own thread (so a busy ingest never delays them) and applied to the
//! App by one function, which the tests drive directly. Which key does what is in `keys`.

use std::{path::Path, time::Duration};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::{
    app::{App, SortKey, View},
    keys::{self, Action},
    rows::process_rows,
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
        edit_filter(app, key);
        return;
    }
    let action = keys::action(&key);
    if app.help {
        // Any key closes the help; one that quits still quits.
        app.help = false;
        if action != Some(Action::Quit) {
            return;
        }
    }
    if let Some(action) = action {
        apply(app, action);
    }
}

/// Typing after `/`: keys are text here, not bindings.
fn edit_filter(app: &mut App, key: KeyEvent) {
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
}

fn apply(app: &mut App, action: Action) {
    match action {
        Action::Quit => app.quit = true,
        Action::Help => app.help = true,
        Action::Processes => app.view = View::Processes,
        Action::Owners => app.view = View::Owners,
        Action::Events => app.view = View::Feed,
        Action::Findings => app.view = View::Findings,
        Action::NextView => {
            app.view = match app.view {
                View::Processes | View::Detail => View::Owners,
                View::Owners => View::Feed,
                View::Feed => View::Findings,
                View::Findings => View::Processes,
            }
        }
        Action::Pause => app.paused = !app.paused,
        Action::Audit => {
            app.audit_requested = true;
            app.status = Some("audit requested: re-walking the kernel's trees".into());
        }
        Action::Snapshot => {
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
        Action::EditFilter => app.editing_filter = true,
        Action::SortNext | Action::SortPrevious => {
            let i = SortKey::ALL
                .iter()
                .position(|k| *k == app.sort)
                .unwrap_or(0);
            let n = SortKey::ALL.len();
            let next = if action == Action::SortNext {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            app.sort = SortKey::ALL[next];
        }
        Action::Move(m) => {
            let len = views::rows(app, app.view);
            app.cursor_mut(app.view).apply(m, len);
        }
        Action::Open => {
            let mm = match app.view {
                View::Processes => selected_process(app),
                _ => None,
            };
            if let Some(mm) = mm {
                app.open_detail(mm);
            }
        }
        Action::Back => {
            if app.view == View::Detail {
                app.view = View::Processes;
            } else {
                app.filter.clear();
                app.filter_changed();
            }
        }
    }
}

fn selected_process(app: &App) -> Option<u64> {
    let rows = process_rows(app);
    let i = app.cursor(View::Processes).selected(rows.len())?;
    Some(rows[i].mm)
}
