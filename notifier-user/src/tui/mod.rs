//! The interactive view (`sudo notifier-top`, `notifier-top replay FILE`): ratatui over the
//! same pipeline as the headless commands. Input comes from its own thread, the kernel's
//! events from the session; drawing happens on a frame timer, so a burst of events never
//! delays input and drawing never holds up ingest.

pub mod app;
pub mod input;
pub mod keys;
pub mod palette;
pub mod rows;
pub mod table;
pub mod views;

use std::time::Duration;

use anyhow::{Context as _, Result};
use notifier_common::Event;
use tokio::signal::unix::{SignalKind, signal};

use self::app::App;
use crate::{
    stream::{Feed, Loss, Sink, StreamEnd},
    symbols::Symbol,
};

/// Events collected by the session between two turns of the loop.
#[derive(Default)]
struct Inbox {
    events: Vec<Event>,
    owners: Vec<Symbol>,
    stacks: Vec<(u64, Vec<String>)>,
    lost: Option<Loss>,
}

impl Sink for Inbox {
    fn event(&mut self, ev: &Event) {
        self.events.push(*ev);
    }
    fn owner(&mut self, sym: &Symbol) {
        self.owners.push(sym.clone());
    }
    fn stack(&mut self, id: u64, frames: Vec<String>) {
        self.stacks.push((id, frames));
    }
    fn lost(&mut self, loss: Loss) {
        self.lost = Some(loss);
    }
}

impl Inbox {
    fn deliver(&mut self, app: &mut App) {
        for s in self.owners.drain(..) {
            app.owner(&s);
        }
        for (id, frames) in self.stacks.drain(..) {
            app.stack(id, frames);
        }
        for ev in self.events.drain(..) {
            app.event(&ev);
        }
        if let Some(n) = self.lost.take() {
            app.lost(n);
        }
    }
}

const FRAME: Duration = Duration::from_millis(100);

/// Live: runs until the user quits or SIGTERM; the terminal is restored on every exit path
/// (ratatui's panic hook covers panics).
pub async fn run_live(session: &mut impl Feed, mut app: App) -> Result<(App, StreamEnd)> {
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let result = async {
        let mut keys = input::spawn();
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut frame = tokio::time::interval(FRAME);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut inbox = Inbox::default();
        while !app.quit {
            tokio::select! {
                r = session.next(&mut inbox) => { r?; inbox.deliver(&mut app); }
                Some(key) = keys.recv() => {
                    input::handle(&mut app, key);
                    if std::mem::take(&mut app.audit_requested) {
                        session.request_audit();
                    }
                }
                _ = frame.tick() => { terminal.draw(|f| views::draw(f, &app))?; }
                _ = second.tick() => {
                    app.tick(1.0);
                    app.bpf_cost = session.cost_summary();
                    // Due walks happen without events too (an idle system's audit).
                    session.maintain()?;
                }
                _ = sigterm.recv() => break,
            }
        }
        let end = session.finish(&mut inbox)?;
        inbox.deliver(&mut app);
        anyhow::Ok(end)
    }
    .await;
    ratatui::restore();
    result.map(|end| (app, end))
}

/// Replay: the recording is already in the model; browse it until the user quits.
pub async fn run_replay(mut app: App) -> Result<App> {
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let result = async {
        let mut keys = input::spawn();
        let mut sigterm = signal(SignalKind::terminate())?;
        app.tick(
            app.pipeline
                .mirror
                .now_ns
                .saturating_sub(app.pipeline.mirror.first_ns)
                .max(1) as f64
                / 1e9,
        );
        while !app.quit {
            terminal.draw(|f| views::draw(f, &app))?;
            tokio::select! {
                Some(key) = keys.recv() => input::handle(&mut app, key),
                _ = sigterm.recv() => break,
            }
        }
        anyhow::Ok(())
    }
    .await;
    ratatui::restore();
    result.map(|()| app)
}
