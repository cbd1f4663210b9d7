//! Latency statistics at two sizes: a compact per-interval sketch (the goal is at most
//! 128 bytes per live interval), and full HDR histograms per process and per owner.

use hdrhistogram::Histogram;

/// Log4 buckets from 1 µs: [<1µs, <4µs, <16µs, … , <4.2 s, ≥4.2 s]. Percentiles from it are
/// upper bounds of a bucket (within ×4), which is what a per-interval view needs.
const BUCKETS: usize = 12;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sketch {
    pub count: u32,
    pub max_ns: u32,
    buckets: [u16; BUCKETS],
}

impl Sketch {
    pub fn record(&mut self, ns: u64) {
        self.count = self.count.saturating_add(1);
        self.max_ns = self.max_ns.max(ns.min(u32::MAX as u64) as u32);
        let b = &mut self.buckets[bucket(ns)];
        *b = b.saturating_add(1);
    }

    /// Upper bound of the bucket holding the `q` quantile (0..=1), capped by the max seen.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        let total: u64 = self.buckets.iter().map(|&b| b as u64).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &b) in self.buckets.iter().enumerate() {
            seen += b as u64;
            if seen >= rank {
                return Some(upper(i).min(self.max_ns as u64));
            }
        }
        Some(self.max_ns as u64)
    }
}

fn bucket(ns: u64) -> usize {
    let mut bound = 1_000;
    for i in 0..BUCKETS - 1 {
        if ns < bound {
            return i;
        }
        bound *= 4;
    }
    BUCKETS - 1
}

fn upper(i: usize) -> u64 {
    if i == BUCKETS - 1 {
        u64::MAX
    } else {
        1_000 * 4u64.pow(i as u32)
    }
}

/// Exact-enough percentiles for aggregates (2 significant digits, 1 ns .. 100 s). The
/// histogram (a few KiB) is allocated on the first sample: most mms never see a callback
/// or a read_begin wait, and a thousand empty histograms would dwarf their intervals.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    hist: Option<Box<Histogram<u32>>>,
}

impl Latency {
    pub fn record(&mut self, ns: u64) {
        match &mut self.hist {
            Some(h) => h.saturating_record(ns.max(1)),
            None => self.first(ns),
        }
    }

    /// Out of line: the hot path is a record into an existing histogram.
    #[cold]
    #[inline(never)]
    fn first(&mut self, ns: u64) {
        let mut h =
            Histogram::new_with_bounds(1, 100_000_000_000, 2).expect("static bounds are valid");
        h.saturating_record(ns.max(1));
        self.hist = Some(Box::new(h));
    }

    pub fn count(&self) -> u64 {
        self.hist.as_ref().map_or(0, |h| h.len())
    }

    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        self.hist
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(q))
    }

    pub fn max_ns(&self) -> Option<u64> {
        self.hist
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_quantiles_bound_the_truth() {
        let mut s = Sketch::default();
        for ns in [500, 2_000, 3_000, 50_000, 9_000_000] {
            s.record(ns);
        }
        assert_eq!(s.count, 5);
        assert_eq!(s.max_ns, 9_000_000);
        // The median (3 µs) lies in [1 µs, 4 µs): reported as 4 µs.
        assert_eq!(s.quantile_ns(0.5), Some(4_000));
        assert_eq!(s.quantile_ns(1.0), Some(9_000_000));
        assert_eq!(Sketch::default().quantile_ns(0.5), None);
    }

    #[test]
    fn aggregates_are_precise() {
        let mut l = Latency::default();
        for ns in 1..=1000u64 {
            l.record(ns * 1000);
        }
        let p50 = l.quantile_ns(0.5).unwrap();
        assert!((495_000..=505_000).contains(&p50), "{p50}");
        assert!(l.max_ns().unwrap() >= 999_000);
    }
}
