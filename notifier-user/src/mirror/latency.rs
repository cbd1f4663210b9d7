//! Latency statistics at two sizes: a compact per-interval sketch (the goal is at most
//! 128 bytes per live interval), and full HDR histograms per process and per owner.

use hdrhistogram::Histogram;

/// Log4 buckets from 1 µs: [<1µs, <4µs, <16µs, … , <4.2 s, ≥4.2 s]. Percentiles from it are
/// upper bounds of a bucket (within ×4), which is what a per-interval view needs.
const BUCKETS: usize = 12;

/// Bucket counts are relative weights, one byte each: when a bucket would pass 255, every
/// bucket is halved (rounding up, so a bucket that saw anything keeps a trace — the tail a
/// p99 reads). Quantiles come from the proportions; the exact count and max are kept
/// beside them. 20 bytes instead of 32 with u16 counts: the interval record stays within
/// the 128-byte budget per live interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sketch {
    pub count: u32,
    pub max_ns: u32,
    buckets: [u8; BUCKETS],
}

impl Sketch {
    pub fn record(&mut self, ns: u64) {
        self.count = self.count.saturating_add(1);
        self.max_ns = self.max_ns.max(ns.min(u32::MAX as u64) as u32);
        let i = bucket(ns);
        if self.buckets[i] == u8::MAX {
            for b in &mut self.buckets {
                *b = b.div_ceil(2);
            }
        }
        self.buckets[i] += 1;
    }

    /// The relative weight of each bucket, fastest first (a histogram's bars; the bounds
    /// are [`Sketch::BOUNDS`]).
    pub fn weights(&self) -> &[u8] {
        &self.buckets
    }

    /// What the first and the last bucket mean, as a histogram's axis labels.
    pub const BOUNDS: (&'static str, &'static str) = ("<1µs", "≥4.2s");

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
    /// Exact, for a histogram's `_sum` (the histogram's own mean is rounded).
    sum_ns: u64,
}

impl Latency {
    pub fn record(&mut self, ns: u64) {
        self.sum_ns = self.sum_ns.saturating_add(ns);
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

    pub fn sum_ns(&self) -> u64 {
        self.sum_ns
    }

    /// Samples of at most `ns`, for cumulative histogram buckets (exact at bucket bounds
    /// the histogram resolves: 2 significant digits).
    pub fn count_at_most(&self, ns: u64) -> u64 {
        self.hist.as_ref().map_or(0, |h| h.count_between(0, ns))
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
    fn sketch_keeps_proportions_and_the_tail_past_255_samples() {
        let mut s = Sketch::default();
        // 100 000 fast callbacks, 2 000 slow ones (2 %), one very slow.
        for i in 0..102_000u32 {
            s.record(if i % 51 == 50 { 5_000_000 } else { 2_000 });
        }
        s.record(3_000_000_000);
        assert_eq!(s.count, 102_001);
        assert_eq!(s.quantile_ns(0.5), Some(4_000));
        // 2 % slow: the p99 falls in the slow bucket [4.1 ms, 16.4 ms).
        assert_eq!(s.quantile_ns(0.99), Some(16_384_000));
        assert_eq!(s.quantile_ns(1.0), Some(3_000_000_000));
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
