//! Callback return-value contract (NT004).

use notifier_common::{Event, EventKind, MmuEvent, NO_STACK, flags};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, hit};
use crate::stream::Hook;

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::ReturnContract,
    code: "NT004",
    name: "callback return-value contract",
    severity: Severity::Warning,
    needs: &[Hook::Callback],
    explain: "An invalidate callback may return false only when the range is not blockable \
        (it asks the OOM reaper to retry later). False for a blockable range makes the core WARN \
        and carry on as if it succeeded, and false at RELEASE (exit_mmap) is a bug the core WARNs \
        about too.",
    fix: "Block (take the lock) when blockable; only return false after a failed trylock \
        on a non-blockable range.",
    lockdep: Lockdep::Blind(
        "a broken return contract, not a lock order: the kernel WARNs itself (mm/mmu_notifier.c) \
        when a blockable invalidation's callback returns false",
    ),
};

/// false only for non-blockable ranges; never at RELEASE.
pub struct ReturnContract;

impl Rule for ReturnContract {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Callback) || ev.ret != 0 {
            return;
        }
        if ev.event == MmuEvent::Release as u8 {
            out.push(hit(
                self.id(),
                ev.sub,
                NO_STACK,
                "returned false for a RELEASE invalidation".into(),
            ));
        } else if ev.flags & flags::BLOCKABLE != 0 {
            out.push(hit(
                self.id(),
                ev.sub,
                NO_STACK,
                "returned false for a blockable range".into(),
            ));
        }
    }
}
