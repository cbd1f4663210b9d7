//! The ring buffer's size, chosen for the machine when the object is loaded.
//!
//! Its size is how far the kernel side may run ahead of the reader before events are lost:
//! under a flat-out churn the probes produce a few hundred thousand events a second, and a
//! reader that falls behind for a moment must find them still there. The object declares
//! `RING_BYTES`; a size fixed at build time fits a small VM or a large host, not both, so
//! the ring takes a share of the machine's RAM instead, within bounds. The memory is the
//! kernel's (locked, charged to the session's memory cgroup), so the share stays small.

use std::fs;

use anyhow::{Context as _, Result};
use notifier_common::RING_BYTES;

use crate::stream::{Attach, Hook, HookStatus};

/// The smallest ring: what the object declares.
pub const MIN_BYTES: u32 = RING_BYTES;
/// The largest: about 600 k events, several seconds of the heaviest churn measured.
pub const MAX_BYTES: u32 = 64 << 20;
/// The ring's share of RAM.
const SHARE: u64 = 64;

/// The ring for a machine with `ram` bytes: 1/64 of it, to the nearest power of two (the
/// kernel requires one), between `MIN_BYTES` and `MAX_BYTES`. Nearest, not rounded down:
/// `MemTotal` sits a little under the installed size, so rounding down gave every machine
/// half its share (16 MiB to a 2 GiB guest, where the flat-out churn's burst of 300 000
/// events needs about 32).
pub fn bytes_for(ram: u64) -> u32 {
    let share = ram / SHARE;
    let pow2 = if share == 0 {
        0
    } else {
        let below = 1u64 << (63 - share.leading_zeros());
        if share - below >= below / 2 {
            below * 2
        } else {
            below
        }
    };
    pow2.clamp(MIN_BYTES.into(), MAX_BYTES.into()) as u32
}

/// The machine's RAM (`MemTotal` of `/proc/meminfo`), in bytes.
pub fn ram() -> Result<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    mem_total(&meminfo).context("/proc/meminfo has no MemTotal line")
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The ring this session loads, and how it was chosen (for `probes` and the ready line).
pub struct Ring {
    pub bytes: u32,
    pub status: HookStatus,
}

impl Ring {
    pub fn for_this_machine() -> Ring {
        match ram() {
            Ok(ram) => {
                let bytes = bytes_for(ram);
                let detail = format!(
                    "{} MiB: 1/{SHARE} of {:.1} GiB of RAM, between {} and {} MiB (how far \
                     the probes may run ahead of the reader before events are lost)",
                    bytes >> 20,
                    ram as f64 / (1u64 << 30) as f64,
                    MIN_BYTES >> 20,
                    MAX_BYTES >> 20
                );
                Ring {
                    bytes,
                    status: HookStatus::new(Hook::RingBuffer, Attach::RingBuf, detail),
                }
            }
            Err(e) => Ring {
                bytes: MIN_BYTES,
                status: HookStatus::new(
                    Hook::RingBuffer,
                    Attach::RingBuf,
                    format!("{} MiB, the least: {e:#}", MIN_BYTES >> 20),
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn a_power_of_two_share_of_ram_within_bounds() {
        assert_eq!(bytes_for(0), MIN_BYTES);
        assert_eq!(bytes_for(256 << 20), MIN_BYTES, "a small VM gets the least");
        assert_eq!(bytes_for(2 * GIB), 32 << 20);
        assert_eq!(
            bytes_for(2015012 << 10),
            32 << 20,
            "the test bed's guest: 1.92 GiB"
        );
        assert_eq!(bytes_for(5 * GIB / 2), 32 << 20, "40 MiB: nearer 32");
        assert_eq!(bytes_for(3 * GIB), 64 << 20, "48 MiB: halfway goes up");
        assert_eq!(bytes_for(24 * GIB), MAX_BYTES, "capped");
        for ram in [GIB / 3, 5 * GIB, 17 * GIB + 12345] {
            let b = bytes_for(ram);
            assert!(b.is_power_of_two() && (MIN_BYTES..=MAX_BYTES).contains(&b));
        }
    }

    #[test]
    fn mem_total_is_read_in_kib() {
        let meminfo = "MemTotal:        2015012 kB\nMemFree:         1815012 kB\n";
        assert_eq!(mem_total(meminfo), Some(2015012 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }
}
