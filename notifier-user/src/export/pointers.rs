//! Kernel pointers defeat KASLR, so exports show a per-run keyed hash of each pointer
//! unless the user asks for raw pointers. Equal pointers hash equally within a run, so
//! relations (same mm, same notifier) survive.

use std::hash::{BuildHasher, RandomState};

#[derive(Clone)]
pub struct Pointers {
    raw: bool,
    key: RandomState,
}

impl Pointers {
    pub fn new(raw: bool) -> Self {
        Pointers {
            raw,
            key: RandomState::new(),
        }
    }

    pub fn is_raw(&self) -> bool {
        self.raw
    }

    pub fn show(&self, p: u64) -> String {
        if p == 0 {
            "0".to_owned()
        } else if self.raw {
            format!("0x{p:x}")
        } else {
            format!("h:{:012x}", self.key.hash_one(p) & 0xffff_ffff_ffff)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_hide_but_preserve_identity() {
        let p = Pointers::new(false);
        let a = p.show(0xffff_8880_1234_5678);
        assert!(a.starts_with("h:") && !a.contains("8880"));
        assert_eq!(a, p.show(0xffff_8880_1234_5678));
        assert_ne!(a, p.show(0xffff_8880_1234_5679));
        assert_eq!(Pointers::new(true).show(0xabc), "0xabc");
    }
}
