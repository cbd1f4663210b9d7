//! The contract between notifier-top's eBPF programs and its userspace.
//!
//! Everything here is `#[repr(C)]` plain data shared byte-for-byte through the ring buffer
//! (events) and through read-only globals (the kernel layout the probes read with), and
//! the vocabularies both sides spell the same way. No logic lives here beyond naming the
//! bits, and the one predicate both sides must decide alike (an insert against its locking
//! contract): what events mean to a model of the kernel's trees is userspace's business.
#![no_std]

/// A wire enum: a `#[repr(u8)]` enum listed once, with its decoding from the wire byte,
/// the list of its values and the name outputs use.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $name:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty {
            $( $(#[$vmeta])* $variant = $value, )*
        }

        impl $ty {
            /// Every value, in wire order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub const fn from_u8(v: u8) -> Option<Self> {
                match v {
                    $( $value => Some($ty::$variant), )*
                    _ => None,
                }
            }

            pub const fn name(self) -> &'static str {
                match self {
                    $( $ty::$variant => $name, )*
                }
            }
        }
    };
}

mod control;
mod event;
mod hazard;
mod kernel;
mod layout;

pub use control::*;
pub use event::*;
pub use hazard::*;
pub use kernel::*;
pub use layout::*;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn event_has_no_hidden_padding() {
        // 8 u64 fields after ts/pid_tgid/flags word/comm: any implicit padding would
        // change this and break recordings and the BPF side silently.
        assert_eq!(EVENT_SIZE, 8 + 8 + 8 + 16 + 8 * 8);
    }

    #[test]
    fn wire_values_round_trip() {
        for &k in EventKind::ALL {
            assert_eq!(EventKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(EventKind::from_u8(0), None);
        assert_eq!(EventKind::from_u8(23), None);
        for &h in Hazard::ALL {
            assert_eq!(Hazard::from_u8(h as u8), Some(h));
        }
        for (i, &e) in MmuEvent::ALL.iter().enumerate() {
            assert_eq!(e as usize, i, "MmuEvent values are dense from 0");
        }
    }

    #[test]
    fn event_bytes_round_trip() {
        let e = Event {
            ts_ns: 1,
            pid_tgid: (7 << 32) | 9,
            kind: EventKind::Insert as u8,
            start: 0x1000,
            last: 0x1fff,
            ..Default::default()
        };
        let back = Event::from_bytes(e.as_bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.tgid(), 7);
        assert_eq!(back.tid(), 9);
        assert!(Event::from_bytes(&e.as_bytes()[..EVENT_SIZE - 1]).is_none());
    }
}
