//! What an event tells a reader of the stream about how much of an mm it knows: the
//! model's reading of the event ABI, kept out of the ABI crate itself.

use notifier_common::{Event, EventKind, WALK_NO_USERS, flags};

/// After this event every interval of `ev.mm` is known to whoever read the stream: the mm
/// was registered under observation, or a walk reported it whole.
pub const fn completes_mm(ev: &Event) -> bool {
    match ev.kind() {
        Some(EventKind::MmRegister) => ev.ret == 0,
        Some(EventKind::MmWalked) => ev.flags & flags::PARTIAL == 0,
        _ => false,
    }
}

/// The event shows every process using `ev.mm` exiting or gone (intervals may remain).
pub const fn shows_mm_exited(ev: &Event) -> bool {
    match ev.kind() {
        Some(EventKind::MmRelease) => true,
        Some(EventKind::MmWalked) => ev.event == WALK_NO_USERS,
        _ => false,
    }
}
