//! `/proc/kcore`: the kernel's memory as an ELF core file, read by virtual address.
//!
//! Each `PT_LOAD` segment is a range of kernel virtual memory: the direct map of every RAM
//! range (with its physical address in `p_paddr`), the struct pages of that RAM (vmemmap),
//! vmalloc space and the kernel text. The kernel checks every read (a page that is not
//! there reads as zeros), so no read through this file can fault the kernel. Opening it
//! needs CAP_SYS_RAWIO and a kernel not locked down for confidentiality; an open file keeps
//! working after capabilities are dropped.

use std::{fs::File, io, ops::Range, os::unix::fs::FileExt as _, path::Path};

use anyhow::{Context as _, Result, bail};

use super::scan::Memory;

pub const KCORE: &str = "/proc/kcore";

const PT_LOAD: u32 = 1;
/// `e_phnum` when the real count is in section header 0 (`PN_XNUM`).
const PN_XNUM: u16 = 0xffff;
/// `p_paddr` of segments that are not RAM.
const NOT_RAM: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Segment {
    vaddr: u64,
    paddr: u64,
    offset: u64,
    size: u64,
}

impl Segment {
    fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.vaddr && addr.saturating_add(len) <= self.vaddr.saturating_add(self.size)
    }
}

pub struct Kcore {
    file: File,
    /// Sorted by virtual address.
    segments: Vec<Segment>,
}

impl Kcore {
    pub fn open(path: &Path) -> Result<Kcore> {
        let file = File::open(path).with_context(|| {
            format!(
                "opening {}: needs root (CAP_SYS_RAWIO), CONFIG_PROC_KCORE and a kernel not \
                 locked down for confidentiality",
                path.display()
            )
        })?;
        let segments =
            read_segments(&file).with_context(|| format!("reading {}", path.display()))?;
        Ok(Kcore { file, segments })
    }

    /// Physical RAM ranges: the direct-map segments, those at `direct_map + p_paddr` (the
    /// kernel text's segment has a physical address too, but not that virtual one).
    pub fn ram(&self, direct_map: u64) -> Vec<Range<u64>> {
        let mut ram: Vec<Range<u64>> = self
            .segments
            .iter()
            .filter(|s| s.paddr != NOT_RAM && direct_map.checked_add(s.paddr) == Some(s.vaddr))
            .map(|s| s.paddr..s.paddr + s.size)
            .collect();
        ram.sort_by_key(|r| r.start);
        ram
    }
}

impl Memory for Kcore {
    fn read(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = buf.len() as u64;
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let seg = i
            .checked_sub(1)
            .map(|i| self.segments[i])
            .filter(|s| s.contains(addr, len))
            .ok_or_else(|| io::Error::other(format!("0x{addr:x}+{len} is in no kcore segment")))?;
        self.file
            .read_exact_at(buf, seg.offset + (addr - seg.vaddr))
    }
}

fn read_segments(file: &File) -> Result<Vec<Segment>> {
    let mut eh = [0u8; 64];
    file.read_exact_at(&mut eh, 0).context("ELF header")?;
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        bail!("not a little-endian ELF64 core file");
    }
    let phoff = u64_at(&eh, 32);
    let shoff = u64_at(&eh, 40);
    let phentsize = u16_at(&eh, 54) as u64;
    let mut phnum = u16_at(&eh, 56) as u64;
    if phnum == PN_XNUM as u64 {
        // sh_info of section header 0.
        let mut sh = [0u8; 4];
        file.read_exact_at(&mut sh, shoff + 44)
            .context("section header 0")?;
        phnum = u32::from_le_bytes(sh) as u64;
    }
    if phentsize < 56 || phnum > 1 << 20 {
        bail!("implausible program headers: {phnum} of {phentsize} bytes");
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    file.read_exact_at(&mut table, phoff)
        .context("program headers")?;
    let mut segments: Vec<Segment> = table
        .chunks_exact(phentsize as usize)
        .filter(|ph| u32::from_le_bytes(ph[..4].try_into().unwrap()) == PT_LOAD)
        .map(|ph| Segment {
            offset: u64_at(ph, 8),
            vaddr: u64_at(ph, 16),
            paddr: u64_at(ph, 24),
            size: u64_at(ph, 32),
        })
        .collect();
    segments.sort_by_key(|s| s.vaddr);
    Ok(segments)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A two-segment core file: RAM at physical 0x1000 mapped at 0xffff888000001000, and a
    /// vmemmap segment with no physical address.
    fn core_file() -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut eh = vec![0u8; 64];
        eh[..6].copy_from_slice(b"\x7fELF\x02\x01");
        eh[32..40].copy_from_slice(&64u64.to_le_bytes());
        eh[54..56].copy_from_slice(&56u16.to_le_bytes());
        eh[56..58].copy_from_slice(&2u16.to_le_bytes());
        let ph = |vaddr: u64, paddr: u64, offset: u64, size: u64| {
            let mut p = vec![0u8; 56];
            p[..4].copy_from_slice(&PT_LOAD.to_le_bytes());
            p[8..16].copy_from_slice(&offset.to_le_bytes());
            p[16..24].copy_from_slice(&vaddr.to_le_bytes());
            p[24..32].copy_from_slice(&paddr.to_le_bytes());
            p[32..40].copy_from_slice(&size.to_le_bytes());
            p
        };
        f.write_all(&eh).unwrap();
        f.write_all(&ph(0xffff_8880_0000_1000, 0x1000, 512, 16))
            .unwrap();
        f.write_all(&ph(0xffff_ea00_0000_0040, NOT_RAM, 528, 8))
            .unwrap();
        let mut body = vec![0u8; 512 - 64 - 112];
        body.extend((0u8..16).collect::<Vec<_>>());
        body.extend(0xdead_beef_u64.to_le_bytes());
        f.write_all(&body).unwrap();
        f
    }

    #[test]
    fn reads_by_virtual_address_within_one_segment() {
        let f = core_file();
        let k = Kcore::open(f.path()).unwrap();
        let mut b = [0u8; 4];
        k.read(0xffff_8880_0000_1004, &mut b).unwrap();
        assert_eq!(b, [4, 5, 6, 7]);
        let mut w = [0u8; 8];
        k.read(0xffff_ea00_0000_0040, &mut w).unwrap();
        assert_eq!(u64::from_le_bytes(w), 0xdead_beef);
        assert!(
            k.read(0xffff_8880_0000_100c, &mut w).is_err(),
            "runs past the segment"
        );
        assert!(
            k.read(0xffff_8880_0000_0000, &mut b).is_err(),
            "before every segment"
        );
    }

    #[test]
    fn ram_is_the_direct_map() {
        let f = core_file();
        let k = Kcore::open(f.path()).unwrap();
        assert_eq!(k.ram(0xffff_8880_0000_0000), vec![0x1000..0x1010]);
        assert!(
            k.ram(0xffff_8000_0000_0000).is_empty(),
            "another direct map base"
        );
    }

    #[test]
    fn a_file_that_is_not_a_core_is_refused() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[0u8; 64]).unwrap();
        let err = Kcore::open(f.path()).err().unwrap();
        assert!(format!("{err:#}").contains("ELF64"), "{err:#}");
    }
}
