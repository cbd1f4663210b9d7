//! The HMM layer as the model keeps it: device faults (with the -EBUSY share, the real
//! retry-storm signal), migrations to and from device memory, device-exclusive grants.
//! Kept per address space and per owner; faults also per interval (a fault names its
//! notifier).

use notifier_common::{Event, EventKind, MigrateSelect, errno};

use rustc_hash::FxHashMap;

use super::{Latency, Sketch};

/// What the HMM layer did for one address space (or one owner).
#[derive(Debug, Default, Clone)]
pub struct HmmStats {
    pub faults: u64,
    /// Faults that returned -EBUSY: the interval was invalidated while the device faulted,
    /// and the driver must retry.
    pub faults_busy: u64,
    /// Faults that failed otherwise (-EFAULT, -EPERM, …).
    pub faults_failed: u64,
    pub fault_latency: Latency,
    pub pages_faulted: u64,
    /// `migrate_vma_pages` calls and the pages they moved, by direction.
    pub migrations_to_device: u64,
    pub pages_to_device: u64,
    pub migrations_from_device: u64,
    pub pages_from_device: u64,
    pub exclusive_grants: u64,
    pub exclusive_failed: u64,
}

impl HmmStats {
    /// Counts one HMM-layer event; other kinds are ignored.
    pub fn apply(&mut self, ev: &Event) {
        match ev.kind() {
            Some(EventKind::HmmRangeFault) => {
                self.faults += 1;
                self.pages_faulted += ev.aux;
                match ev.ret {
                    0 => {}
                    errno::EBUSY => self.faults_busy += 1,
                    _ => self.faults_failed += 1,
                }
                if let Some(d) = ev.duration() {
                    self.fault_latency.record(d);
                }
            }
            Some(EventKind::MigrateVmaPages) => {
                if ev.event & MigrateSelect::System as u8 != 0 {
                    self.migrations_to_device += 1;
                    self.pages_to_device += ev.seq;
                } else {
                    self.migrations_from_device += 1;
                    self.pages_from_device += ev.seq;
                }
            }
            Some(EventKind::MakeDeviceExclusive) => {
                if ev.ret == 0 {
                    self.exclusive_grants += 1;
                } else {
                    self.exclusive_failed += 1;
                }
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.faults == 0
            && self.migrations_to_device == 0
            && self.migrations_from_device == 0
            && self.exclusive_grants == 0
            && self.exclusive_failed == 0
    }
}

/// An mm's HMM side: its totals and its intervals' faults (kept beside the interval
/// records: most intervals never see one, and the records have a budget).
#[derive(Debug, Default, Clone)]
pub(super) struct MmHmm {
    pub stats: HmmStats,
    pub faults: FxHashMap<u64, IntervalFaults>,
}

/// Device faults on one interval.
#[derive(Debug, Default, Clone)]
pub struct IntervalFaults {
    pub faults: u64,
    pub faults_busy: u64,
    pub latency: Sketch,
}

impl IntervalFaults {
    pub(super) fn apply(&mut self, ev: &Event) {
        self.faults += 1;
        if ev.ret == errno::EBUSY {
            self.faults_busy += 1;
        }
        if let Some(d) = ev.duration() {
            self.latency.record(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind, f: impl FnOnce(&mut Event)) -> Event {
        let mut e = Event {
            kind: kind as u8,
            ..Default::default()
        };
        f(&mut e);
        e
    }

    #[test]
    fn counts_faults_retries_migrations_and_grants() {
        let mut s = HmmStats::default();
        s.apply(&ev(EventKind::HmmRangeFault, |e| {
            e.aux = 16;
            e.dur_ns = 2000;
        }));
        s.apply(&ev(EventKind::HmmRangeFault, |e| e.ret = errno::EBUSY));
        s.apply(&ev(EventKind::HmmRangeFault, |e| e.ret = errno::EFAULT));
        s.apply(&ev(EventKind::MigrateVmaPages, |e| {
            e.event = MigrateSelect::System as u8;
            e.seq = 64;
        }));
        s.apply(&ev(EventKind::MigrateVmaPages, |e| {
            e.event = MigrateSelect::DevicePrivate as u8;
            e.seq = 3;
        }));
        s.apply(&ev(EventKind::MakeDeviceExclusive, |_| {}));
        s.apply(&ev(EventKind::Insert, |_| {}));
        assert_eq!((s.faults, s.faults_busy, s.faults_failed), (3, 1, 1));
        assert_eq!(s.pages_faulted, 16);
        assert_eq!((s.migrations_to_device, s.pages_to_device), (1, 64));
        assert_eq!((s.migrations_from_device, s.pages_from_device), (1, 3));
        assert_eq!(s.exclusive_grants, 1);
        assert!(!s.is_empty() && HmmStats::default().is_empty());
    }
}
