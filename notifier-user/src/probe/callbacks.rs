//! Kprobes on the drivers' invalidate callbacks. Their targets are learned at run time —
//! from `ops->invalidate` at each insert, and known callback names at start-up — so one
//! program pair serves every callback (one fentry program cannot serve many targets).

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use aya::{Ebpf, programs::KProbe};
use log::{info, warn};

use super::{
    attach::{as_mut, brief},
    plan::{CALLBACK_ENTRY, CALLBACK_RETURN, Mode},
};
use crate::{
    stream::{Attach, Hook, HookStatus},
    symbols::{KernelSymbols, Symbol},
};

/// One traced driver callback.
#[derive(Clone, Debug)]
pub struct CallbackHook {
    pub symbol: Symbol,
    /// `Err` says why this callback cannot be traced.
    pub result: Result<(), String>,
}

/// Kprobes on driver callbacks, learned from inserts (and known names at start-up).
#[derive(Default)]
pub struct Callbacks {
    available: bool,
    hooked: HashMap<u64, CallbackHook>,
}

impl Callbacks {
    pub fn prepare(&mut self, ebpf: &mut Ebpf, forced: Option<Mode>) -> HookStatus {
        if forced == Some(Mode::Fentry) {
            return HookStatus::missing(
                Hook::Callback,
                "--attach fentry: per-callback hooks need kprobes (one fentry program cannot \
                 serve many targets)",
            );
        }
        let load = |name: &str, ebpf: &mut Ebpf| -> Result<()> {
            let p = as_mut::<KProbe>(ebpf.program_mut(name).context("program missing")?)?;
            p.load().with_context(|| format!("loading {name}"))?;
            Ok(())
        };
        match load(CALLBACK_ENTRY, ebpf).and_then(|()| load(CALLBACK_RETURN, ebpf)) {
            Ok(()) => {
                self.available = true;
                HookStatus::new(
                    Hook::Callback,
                    Attach::Kprobe,
                    "per driver callback, attached when first seen",
                )
            }
            Err(e) => HookStatus::missing(Hook::Callback, brief(&e)),
        }
    }

    pub fn hooked(&self) -> impl Iterator<Item = &CallbackHook> {
        self.hooked.values()
    }

    pub fn hook(&mut self, ebpf: &mut Ebpf, sym: &Symbol, syms: &KernelSymbols) {
        if !self.available {
            return;
        }
        self.hooked.entry(sym.addr).or_insert_with(|| {
            // Static callbacks of the same name in two modules need `module:function`.
            let target = match (&sym.module, syms.is_ambiguous(&sym.name)) {
                (Some(m), true) => format!("{m}:{}", sym.name),
                _ => sym.name.clone(),
            };
            // Return probe first: an entry probe armed alone for a moment would leave a
            // callback's entry state behind for ever (every later allocation of that task
            // would look like one inside a callback).
            let result = [CALLBACK_RETURN, CALLBACK_ENTRY]
                .iter()
                .try_for_each(|prog| -> Result<()> {
                    let p = as_mut::<KProbe>(ebpf.program_mut(prog).context("program missing")?)?;
                    p.attach(&target, 0)?;
                    Ok(())
                })
                .map_err(|e| brief(&e));
            match &result {
                Ok(()) => info!("tracing callback {}", sym.display()),
                Err(e) => warn!("cannot trace callback {}: {e}", sym.display()),
            }
            CallbackHook {
                symbol: sym.clone(),
                result,
            }
        });
    }
}
