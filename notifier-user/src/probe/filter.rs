//! The process filter (`--pid`, `--comm`, `--owner`), checked and written into the kernel
//! side's maps before any hook is attached, so unrelated processes never reach the ring
//! buffer. The kernel side selects whole address spaces (see notifier-ebpf's `filter`).

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData},
};
use notifier_common::{
    filter::{BY_COMM, BY_OWNER, BY_PID, Config, MAX_COMMS, MAX_OWNER_RANGES, MAX_PIDS},
    names,
};

use crate::symbols::{KernelSymbols, driver_of};

/// `TASK_COMM_LEN` less the NUL: longer names never match.
const COMM_MAX: usize = 15;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub owners: Vec<String>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.comms.is_empty() && self.owners.is_empty()
    }

    /// `pid 12,13 comm ib_send_bw owner nouveau`, for headers and logs.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |label: &str, values: Vec<String>| {
            if !values.is_empty() {
                parts.push(format!("{label} {}", values.join(",")));
            }
        };
        add("pid", self.pids.iter().map(u32::to_string).collect());
        add("comm", self.comms.clone());
        add("owner", self.owners.clone());
        parts.join(" ")
    }

    /// Refuses what can never match, naming the fix: a pid with no process, a comm the
    /// kernel would have truncated, too many values for the kernel maps.
    pub fn validate(&self, proc_root: &Path) -> Result<()> {
        for pid in &self.pids {
            if !proc_root.join(pid.to_string()).exists() {
                bail!("--pid {pid}: no such process (is it still running? see `ps -p {pid}`)");
            }
        }
        for comm in &self.comms {
            if comm.is_empty() || comm.len() > COMM_MAX {
                bail!(
                    "--comm {comm:?}: the kernel keeps at most {COMM_MAX} bytes of a command \
                     name; give the name as `ps -o comm` shows it"
                );
            }
        }
        if self.pids.len() > MAX_PIDS as usize || self.comms.len() > MAX_COMMS as usize {
            bail!("at most {MAX_PIDS} --pid and {MAX_COMMS} --comm values");
        }
        Ok(())
    }

    /// Text ranges of the named owners. An owner is a module (`nouveau`, `rdma_rxe`: all
    /// its functions), a driver as the owner column names it, or a callback function.
    pub fn owner_ranges(&self, syms: &KernelSymbols) -> Result<Vec<(u64, u64)>> {
        let mut ranges = Vec::new();
        for owner in &self.owners {
            let mut module: Option<(u64, u64)> = None;
            let mut found = false;
            for s in syms.iter() {
                if s.module.as_deref() == Some(owner.as_str()) {
                    let (lo, hi) = module.get_or_insert((s.addr, s.addr));
                    *lo = (*lo).min(s.addr);
                    *hi = (*hi).max(s.addr);
                    found = true;
                } else if s.name == *owner
                    || driver_of(&s.name, s.module.as_deref())
                        .is_some_and(|d| d.split_whitespace().next() == Some(owner.as_str()))
                {
                    ranges.push((s.addr, s.addr));
                    found = true;
                }
            }
            ranges.extend(module);
            if !found {
                bail!(
                    "--owner {owner}: no loaded module, driver or kernel function has that \
                     name (a module must be loaded first: see `lsmod`)"
                );
            }
        }
        ranges.sort_unstable();
        ranges.dedup();
        if ranges.len() > MAX_OWNER_RANGES as usize {
            bail!(
                "--owner names {} text ranges; at most {MAX_OWNER_RANGES} fit in the kernel filter",
                ranges.len()
            );
        }
        Ok(ranges)
    }

    /// What the loader patches into the programs (the `FILTER` global), and the owners'
    /// text ranges for `install`.
    pub(super) fn resolve(&self, syms: &KernelSymbols) -> Result<(Config, Vec<(u64, u64)>)> {
        let owners = self.owner_ranges(syms)?;
        let criteria = [
            (BY_PID, !self.pids.is_empty()),
            (BY_COMM, !self.comms.is_empty()),
            (BY_OWNER, !self.owners.is_empty()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .fold(0, |c, (bit, _)| c | bit);
        let config = Config {
            criteria,
            owner_ranges: owners.len() as u32,
        };
        Ok((config, owners))
    }

    /// Writes the criteria's values into the loaded object's maps, before any hook is
    /// attached.
    pub(super) fn install(&self, ebpf: &mut Ebpf, owners: &[(u64, u64)]) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut pids: HashMap<&mut MapData, u32, u8> =
            HashMap::try_from(map(ebpf, names::FILTER_PIDS)?)?;
        for &pid in &self.pids {
            pids.insert(pid, 1, 0)?;
        }
        let mut comms: HashMap<&mut MapData, [u8; 16], u8> =
            HashMap::try_from(map(ebpf, names::FILTER_COMMS)?)?;
        for comm in &self.comms {
            let mut key = [0u8; 16];
            key[..comm.len()].copy_from_slice(comm.as_bytes());
            comms.insert(key, 1, 0)?;
        }
        let mut ranges: Array<&mut MapData, [u64; 2]> =
            Array::try_from(map(ebpf, names::FILTER_OWNERS)?)?;
        for (i, &(first, last)) in owners.iter().enumerate() {
            ranges.set(i as u32, [first, last], 0)?;
        }
        Ok(())
    }
}

fn map<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut aya::maps::Map> {
    ebpf.map_mut(name)
        .with_context(|| format!("map {name} missing from the eBPF object"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffffc0a00000 t nf_invalidate\t[notifier_fixture]
ffffffffc0a00400 t nf_other\t[notifier_fixture]
ffffffffc0b00000 t rxe_ib_invalidate_range\t[rdma_rxe]
ffffffff81000000 T gntdev_invalidate
ffffffff81000100 T something_else
";

    fn sel(owners: &[&str]) -> Selection {
        Selection {
            owners: owners.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn owners_resolve_to_text_ranges() {
        let syms = KernelSymbols::parse(KALLSYMS);
        assert_eq!(
            sel(&["notifier_fixture"]).owner_ranges(&syms).unwrap(),
            vec![(0xffffffffc0a00000, 0xffffffffc0a00400)]
        );
        // A driver name from the owner column, and a bare function name.
        assert_eq!(
            sel(&["xen", "rxe_ib_invalidate_range"])
                .owner_ranges(&syms)
                .unwrap(),
            vec![
                (0xffffffff81000000, 0xffffffff81000000),
                (0xffffffffc0b00000, 0xffffffffc0b00000)
            ]
        );
        let err = sel(&["nouveau"]).owner_ranges(&syms).unwrap_err();
        assert!(err.to_string().contains("lsmod"), "{err}");
    }

    #[test]
    fn impossible_criteria_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("42")).unwrap();
        let ok = Selection {
            pids: vec![42],
            comms: vec!["ib_send_bw".into()],
            ..Default::default()
        };
        ok.validate(dir.path()).unwrap();
        let gone = Selection {
            pids: vec![43],
            ..Default::default()
        };
        assert!(
            gone.validate(dir.path())
                .unwrap_err()
                .to_string()
                .contains("no such process")
        );
        let long = Selection {
            comms: vec!["a_very_long_command_name".into()],
            ..Default::default()
        };
        assert!(long.validate(dir.path()).is_err());
        assert_eq!(ok.describe(), "pid 42 comm ib_send_bw");
    }
}
