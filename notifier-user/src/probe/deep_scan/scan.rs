//! The scan itself: every struct page of RAM, the slabs of the mm_struct cache among them,
//! their objects, and each object's interval tree, validated before anything is believed.
//!
//! What is read is kernel memory in flux, read without locks: a candidate is believed only
//! when its tree is well formed (parent pointers agree with the descent, starts are in
//! order, the cached leftmost is the first node, the height and count are bounded) and every
//! notifier in it points back at the candidate as its `mm`. A freed mm_struct fails the
//! first test (its subscriptions pointer is poisoned or a freelist word); any other object
//! fails the back-pointer test. Each pointer is followed once, every loop is bounded, and
//! the whole scan stops at its time budget, saying how far it got; the next goes on from
//! there.

use std::{
    collections::BTreeMap,
    fmt, io,
    ops::Range,
    time::{Duration, Instant},
};

use notifier_common::{LIST_POISON1, WALK_MAX_INTERVALS};
use serde::Serialize;

/// Kernel memory by virtual address: `/proc/kcore`, or a fake one in tests.
pub trait Memory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> io::Result<()>;
}

pub const PAGE_SHIFT: u32 = 12;
/// Struct pages read per call: 256 KiB of struct page at 64 bytes each.
const PAGES_PER_READ: u64 = 4096;
/// A slab is at most a few pages; no cache has thousands of objects in one.
const MAX_OBJECTS_PER_SLAB: u32 = 1024;
/// A red-black tree of 2^32 nodes is at most 64 high.
const MAX_HEIGHT: u32 = 64;
/// Reference counts beyond this are not counts.
const MAX_REFS: i32 = 1 << 22;

/// Offsets of everything the scan reads, from BTF (`super::ScanLayout::resolve`).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// `sizeof(struct page)`.
    pub page_size: u32,
    /// `struct slab` (which overlays struct page): `slab_cache`, and the `objects`
    /// bitfield's bit offset and width.
    pub slab_cache: u32,
    pub slab_objects_bit: u32,
    pub slab_objects_bits: u32,
    /// `struct mm_struct`: `notifier_subscriptions`, `mm_users`, `mm_count`.
    pub mm_subs: u32,
    pub mm_users: u32,
    pub mm_count: u32,
    /// `struct mmu_notifier_subscriptions`: `itree.rb_root.rb_node`, `itree.rb_leftmost`.
    pub subs_root: u32,
    pub subs_leftmost: u32,
    /// `struct mmu_interval_notifier` (its rb node at 0): rb parent/colour, left, right,
    /// start, last, mm.
    pub rb_parent: u32,
    pub rb_left: u32,
    pub rb_right: u32,
    pub sub_start: u32,
    pub sub_last: u32,
    pub sub_mm: u32,
}

/// Where things are on this boot (from kallsyms and the variables there).
#[derive(Debug, Clone)]
pub struct Plan {
    pub layout: Layout,
    /// The mm_struct cache (`mm_cachep`'s value) and its object size.
    pub cache: u64,
    pub object_size: u32,
    /// `vmemmap_base`, `page_offset_base`.
    pub vmemmap: u64,
    pub direct_map: u64,
    /// Physical RAM ranges.
    pub ram: Vec<Range<u64>>,
}

/// An address space found with intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Found {
    pub mm: u64,
    pub users: u32,
    pub intervals: u32,
}

/// Why a candidate (an mm_struct object with a subscriptions pointer) was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejected {
    /// A pointer that is not a kernel address.
    NotKernelPointer,
    /// Reference counts out of range.
    Counts,
    /// A read failed (memory gone under the scan).
    Unreadable,
    /// A node's parent pointer disagrees with the descent.
    Parent,
    /// Starts out of order, or an interval that ends before it starts.
    Order,
    /// The cached leftmost node is not the first.
    Leftmost,
    /// A notifier whose `mm` is another address space.
    NotOurs,
    /// Deeper than a red-black tree can be, or more intervals than a walk reports.
    Bounds,
}

impl Rejected {
    pub const fn describe(self) -> &'static str {
        match self {
            Rejected::NotKernelPointer => "a pointer outside kernel space",
            Rejected::Counts => "reference counts out of range",
            Rejected::Unreadable => "memory unreadable",
            Rejected::Parent => "a parent pointer disagreeing with the tree",
            Rejected::Order => "intervals out of order",
            Rejected::Leftmost => "a wrong cached leftmost node",
            Rejected::NotOurs => "a notifier of another mm",
            Rejected::Bounds => "a tree beyond the height or size bounds",
        }
    }
}

/// What one scan saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub ram_bytes: u64,
    pub pages: u64,
    /// Struct pages that could not be read (counted, skipped).
    pub unreadable_pages: u64,
    pub slabs: u64,
    pub objects: u64,
    /// Objects with a subscriptions pointer (mms that ever registered a notifier).
    pub candidates: u64,
    pub found: Vec<Found>,
    pub rejected: BTreeMap<Rejected, u64>,
    /// Whether every page was looked at (false: the budget ran out first).
    pub complete: bool,
    /// The page (counted through the RAM ranges) the scan began at, and where the next one
    /// goes on (the same page when this one went round).
    #[serde(skip)]
    pub started_at: u64,
    #[serde(skip)]
    pub resume: u64,
    #[serde(serialize_with = "as_ms")]
    pub elapsed: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl Report {
    pub fn without_users(&self) -> usize {
        self.found.iter().filter(|f| f.users == 0).count()
    }
}

impl fmt::Display for Report {
    /// `2.0 GiB in 31 ms: 12 mm slabs, 3 with intervals (1 without users)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1} GiB of RAM in {:.0} ms: {} mm_struct slabs, {} address spaces with intervals \
             ({} without users)",
            self.ram_bytes as f64 / (1u64 << 30) as f64,
            self.elapsed.as_secs_f64() * 1e3,
            self.slabs,
            self.found.len(),
            self.without_users(),
        )?;
        if !self.complete {
            let done = self.pages << PAGE_SHIFT;
            write!(
                f,
                "; stopped at its time budget after {:.0}% of RAM (the next scan goes on from there)",
                100.0 * done as f64 / self.ram_bytes.max(1) as f64
            )?;
        }
        if self.unreadable_pages > 0 {
            write!(f, "; {} struct pages unreadable", self.unreadable_pages)?;
        }
        let rejected: u64 = self.rejected.values().sum();
        if rejected > 0 {
            let why: Vec<String> = self
                .rejected
                .iter()
                .map(|(r, n)| format!("{n} {}", r.describe()))
                .collect();
            write!(f, "; {rejected} candidates rejected ({})", why.join(", "))?;
        }
        Ok(())
    }
}

/// Scans the RAM in `plan` within `budget`, from page `from` (in the order of `plan.ram`)
/// round to where it started. At least one batch is read, so scans that each run out of
/// budget still cover all RAM between them: each goes on from the last one's `resume`.
pub fn scan(mem: &impl Memory, plan: &Plan, budget: Duration, from: u64) -> Report {
    let started = Instant::now();
    let l = &plan.layout;
    let psz = l.page_size as u64;
    let total: u64 = plan
        .ram
        .iter()
        .map(|r| (r.end - r.start) >> PAGE_SHIFT)
        .sum();
    let mut r = Report {
        ram_bytes: plan.ram.iter().map(|r| r.end - r.start).sum(),
        complete: true,
        ..Report::default()
    };
    let mut pages = vec![0u8; (PAGES_PER_READ * psz) as usize];
    let mut at = if total == 0 { 0 } else { from % total };
    r.started_at = at;
    while r.pages < total {
        if r.pages > 0 && started.elapsed() >= budget {
            r.complete = false;
            break;
        }
        let (pfn, left) = locate(&plan.ram, at);
        let n = PAGES_PER_READ.min(left).min(total - r.pages);
        let buf = &mut pages[..(n * psz) as usize];
        r.pages += n;
        at = (at + n) % total;
        if mem.read(plan.vmemmap + pfn * psz, buf).is_err() {
            r.unreadable_pages += n;
            continue;
        }
        for (i, page) in buf.chunks_exact(psz as usize).enumerate() {
            if word(page, l.slab_cache) == plan.cache {
                scan_slab(mem, plan, pfn + i as u64, page, &mut r);
            }
        }
    }
    r.resume = at;
    r.found.sort_by_key(|f| f.mm);
    r.found.dedup_by_key(|f| f.mm);
    r.elapsed = started.elapsed();
    r
}

/// The pfn of RAM page `index` (counted through `ram` in order) and how many pages of its
/// range follow from there.
fn locate(ram: &[Range<u64>], mut index: u64) -> (u64, u64) {
    for range in ram {
        let (first, end) = (range.start >> PAGE_SHIFT, range.end >> PAGE_SHIFT);
        if index < end - first {
            return (first + index, end - first - index);
        }
        index -= end - first;
    }
    unreachable!("page index beyond RAM")
}

fn scan_slab(mem: &impl Memory, plan: &Plan, pfn: u64, page: &[u8], r: &mut Report) {
    let l = &plan.layout;
    r.slabs += 1;
    let objects = bits(page, l.slab_objects_bit, l.slab_objects_bits).min(MAX_OBJECTS_PER_SLAB);
    let size = plan.object_size as u64;
    let base = plan.direct_map + (pfn << PAGE_SHIFT);
    let mut slab = vec![0u8; (objects as u64 * size) as usize];
    if mem.read(base, &mut slab).is_err() {
        *r.rejected.entry(Rejected::Unreadable).or_default() += 1;
        return;
    }
    for (j, obj) in slab.chunks_exact(size as usize).enumerate() {
        r.objects += 1;
        let subs = word(obj, l.mm_subs);
        if subs == 0 || subs == LIST_POISON1 {
            continue; // never registered, or destroyed
        }
        r.candidates += 1;
        let mm = base + j as u64 * size;
        match validate(mem, l, mm, subs, obj) {
            Ok(Some(found)) => r.found.push(found),
            Ok(None) => {}
            Err(why) => *r.rejected.entry(why).or_default() += 1,
        }
    }
}

/// A candidate's tree checked node by node; `None` for an empty tree.
fn validate(
    mem: &impl Memory,
    l: &Layout,
    mm: u64,
    subs: u64,
    obj: &[u8],
) -> Result<Option<Found>, Rejected> {
    if !kernel_pointer(subs) {
        return Err(Rejected::NotKernelPointer);
    }
    let users = word32(obj, l.mm_users) as i32;
    let count = word32(obj, l.mm_count) as i32;
    if !(0..MAX_REFS).contains(&users) || !(1..MAX_REFS).contains(&count) {
        return Err(Rejected::Counts);
    }
    let root = read_u64(mem, subs + l.subs_root as u64)?;
    let leftmost = read_u64(mem, subs + l.subs_leftmost as u64)?;
    if root == 0 {
        return if leftmost == 0 {
            Ok(None)
        } else {
            Err(Rejected::Leftmost)
        };
    }
    let span = [
        l.rb_parent,
        l.rb_left,
        l.rb_right,
        l.sub_start,
        l.sub_last,
        l.sub_mm,
    ]
    .into_iter()
    .max()
    .unwrap_or(0) as usize
        + 8;
    let mut node_buf = vec![0u8; span];
    let mut read_node = |at: u64| -> Result<Node, Rejected> {
        if !kernel_pointer(at) {
            return Err(Rejected::NotKernelPointer);
        }
        mem.read(at, &mut node_buf)
            .map_err(|_| Rejected::Unreadable)?;
        let b = &node_buf;
        Ok(Node {
            parent: word(b, l.rb_parent) & !3,
            left: word(b, l.rb_left),
            right: word(b, l.rb_right),
            start: word(b, l.sub_start),
            last: word(b, l.sub_last),
            mm: word(b, l.sub_mm),
        })
    };
    // In-order, iteratively: the stack holds the left spine being descended.
    let mut stack: Vec<(u64, Node, u32)> = Vec::new();
    let mut next = Some((root, 0u64, 1u32));
    let (mut seen, mut visited) = (0u32, 0u32);
    let mut prev_start = 0u64;
    loop {
        while let Some((at, parent, depth)) = next {
            if depth > MAX_HEIGHT || seen >= WALK_MAX_INTERVALS {
                return Err(Rejected::Bounds);
            }
            let n = read_node(at)?;
            seen += 1;
            if n.parent != parent {
                return Err(Rejected::Parent);
            }
            if n.mm != mm {
                return Err(Rejected::NotOurs);
            }
            if n.start > n.last {
                return Err(Rejected::Order);
            }
            next = (n.left != 0).then_some((n.left, at, depth + 1));
            stack.push((at, n, depth));
        }
        let Some((at, n, depth)) = stack.pop() else {
            break;
        };
        if visited == 0 && at != leftmost {
            return Err(Rejected::Leftmost);
        }
        if n.start < prev_start {
            return Err(Rejected::Order);
        }
        prev_start = n.start;
        visited += 1;
        next = (n.right != 0).then_some((n.right, at, depth + 1));
    }
    Ok(Some(Found {
        mm,
        users: users as u32,
        intervals: visited,
    }))
}

#[derive(Debug, Clone, Copy)]
struct Node {
    parent: u64,
    left: u64,
    right: u64,
    start: u64,
    last: u64,
    mm: u64,
}

/// x86-64 kernel space: the upper half, under any paging depth.
fn kernel_pointer(p: u64) -> bool {
    p >= 0xff00_0000_0000_0000 && p.is_multiple_of(8)
}

fn read_u64(mem: &impl Memory, at: u64) -> Result<u64, Rejected> {
    let mut b = [0u8; 8];
    mem.read(at, &mut b).map_err(|_| Rejected::Unreadable)?;
    Ok(u64::from_le_bytes(b))
}

fn word(b: &[u8], at: u32) -> u64 {
    let at = at as usize;
    b.get(at..at + 8)
        .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap()))
}

fn word32(b: &[u8], at: u32) -> u32 {
    let at = at as usize;
    b.get(at..at + 4)
        .map_or(0, |w| u32::from_le_bytes(w.try_into().unwrap()))
}

/// A bitfield of at most 32 bits inside its aligned 32-bit unit (how the C compiler lays
/// out `unsigned` bitfields that do not straddle units, as struct slab's do not).
fn bits(b: &[u8], bit: u32, width: u32) -> u32 {
    let unit = word32(b, bit / 32 * 4);
    let v = unit >> (bit % 32);
    if width >= 32 {
        v
    } else {
        v & ((1 << width) - 1)
    }
}

#[cfg(test)]
mod tests;
