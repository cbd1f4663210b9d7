//! `/proc/kallsyms`: the kernel's and every loaded module's text symbols, and the few
//! kernel variables the deep scan reads ([`VARIABLES`]).

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

/// One text symbol: name and, for module symbols, the module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Symbol {
    pub addr: u64,
    pub name: String,
    pub module: Option<String>,
}

impl Symbol {
    /// `name [module]`, the form kernel oopses use.
    pub fn display(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.name),
            None => self.name.clone(),
        }
    }
}

/// The kernel variables kept from kallsyms (data symbols need CONFIG_KALLSYMS_ALL): where
/// the mm_struct cache, the struct page array and the direct map are on this boot.
pub const VARIABLES: [&str; 3] = ["mm_cachep", "vmemmap_base", "page_offset_base"];

/// A sorted table of text symbols.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    syms: Vec<Symbol>,
    /// Addresses of [`VARIABLES`], in that order (vmlinux's own, not a module's).
    variables: [Option<u64>; VARIABLES.len()],
}

impl KernelSymbols {
    pub fn load() -> Result<Self> {
        Self::from_file(Path::new("/proc/kallsyms"))
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table = Self::parse(&text);
        if table.syms.iter().all(|s| s.addr == 0) {
            bail!(
                "{} shows only zero addresses: kernel.kptr_restrict (and perf_event_paranoid \
                 above 1) hide them from processes without CAP_SYSLOG; run as root or grant it",
                path.display()
            );
        }
        Ok(table)
    }

    /// Parses kallsyms text, keeping text symbols (`t`/`T`), which callbacks are, and
    /// [`VARIABLES`].
    pub fn parse(text: &str) -> Self {
        let mut variables = [None; VARIABLES.len()];
        let mut syms: Vec<Symbol> = text
            .lines()
            .filter_map(|line| {
                let mut it = line.split_ascii_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let kind = it.next()?;
                let name = it.next()?;
                let module = it.next();
                if !kind.eq_ignore_ascii_case("t") {
                    if module.is_none()
                        && let Some(i) = VARIABLES.iter().position(|v| *v == name)
                    {
                        variables[i] = Some(addr);
                    }
                    return None;
                }
                let module =
                    module.map(|m| m.trim_start_matches('[').trim_end_matches(']').to_owned());
                Some(Symbol {
                    addr,
                    name: name.to_owned(),
                    module,
                })
            })
            .collect();
        syms.sort_by_key(|s| s.addr);
        KernelSymbols { syms, variables }
    }

    /// The address of one of [`VARIABLES`], if kallsyms lists it.
    pub fn variable(&self, name: &str) -> Option<u64> {
        let i = VARIABLES.iter().position(|v| *v == name)?;
        self.variables[i]
    }

    /// The function starting exactly at `addr` (ops pointers always point at a function
    /// start, so a nearest-below match would only hide a wrong address).
    pub fn exact(&self, addr: u64) -> Option<&Symbol> {
        let i = self.syms.partition_point(|s| s.addr < addr);
        self.syms.get(i).filter(|s| s.addr == addr)
    }

    /// The function containing `addr` and the offset into it (`func+0x1a [module]` in a
    /// stack). Kernel text is dense with symbols, so nearest-below is right for return
    /// addresses, unlike for ops pointers.
    pub fn containing(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let i = self.syms.partition_point(|s| s.addr <= addr);
        let s = self.syms.get(i.checked_sub(1)?)?;
        // No function is a megabyte long: such an address is outside every symbol (BPF
        // trampolines and programs are not in this table), not deep inside the last one.
        (addr - s.addr < 1 << 20).then_some((s, addr - s.addr))
    }

    /// `func+0xoff [module]`, or the raw address.
    pub fn frame(&self, addr: u64) -> String {
        match self.containing(addr) {
            Some((s, off)) => match &s.module {
                Some(m) => format!("{}+0x{off:x} [{m}]", s.name),
                None => format!("{}+0x{off:x}", s.name),
            },
            None => format!("0x{addr:x}"),
        }
    }

    /// Whether `name` is defined more than once (static functions in different modules), in
    /// which case a kprobe must name the module too.
    pub fn is_ambiguous(&self, name: &str) -> bool {
        self.syms.iter().filter(|s| s.name == name).nth(1).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Symbol> {
        self.syms.iter()
    }

    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Symbol> + 'a {
        self.syms.iter().filter(move |s| s.name == name)
    }

    pub fn len(&self) -> usize {
        self.syms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81000000 T _text
ffffffff812a0000 t mmu_notifier_thing
ffffffff812b0000 D some_data
ffffffff812b0100 b mm_cachep
ffffffffc0b00100 b mm_cachep\t[other_mod]
ffffffffc0a01000 t rxe_ib_invalidate_range\t[rdma_rxe]
ffffffffc0b02000 t nf_invalidate\t[notifier_fixture]
ffffffffc0c03000 t nf_invalidate\t[other_mod]
";

    #[test]
    fn exact_lookup_names_module() {
        let t = KernelSymbols::parse(SAMPLE);
        let s = t.exact(0xffffffffc0a01000).unwrap();
        assert_eq!(s.display(), "rxe_ib_invalidate_range [rdma_rxe]");
        assert!(t.exact(0xffffffffc0a01001).is_none());
        assert!(
            t.exact(0xffffffff812b0000).is_none(),
            "data symbols are not callbacks"
        );
    }

    #[test]
    fn kernel_variables_are_kept_not_modules_ones() {
        let t = KernelSymbols::parse(SAMPLE);
        assert_eq!(t.variable("mm_cachep"), Some(0xffffffff812b0100));
        assert_eq!(t.variable("vmemmap_base"), None);
        assert_eq!(t.variable("some_data"), None, "only the listed variables");
    }

    #[test]
    fn frames_name_the_containing_function() {
        let t = KernelSymbols::parse(SAMPLE);
        assert_eq!(
            t.frame(0xffffffffc0a01010),
            "rxe_ib_invalidate_range+0x10 [rdma_rxe]"
        );
        assert_eq!(t.frame(0xffffffff812a0004), "mmu_notifier_thing+0x4");
        assert_eq!(t.frame(0x10), "0x10");
    }

    #[test]
    fn duplicates_are_ambiguous() {
        let t = KernelSymbols::parse(SAMPLE);
        assert!(t.is_ambiguous("nf_invalidate"));
        assert!(!t.is_ambiguous("rxe_ib_invalidate_range"));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let t = KernelSymbols::parse("zzz\n\nffff t\n12 T ok\n");
        assert_eq!(t.len(), 1);
    }
}
