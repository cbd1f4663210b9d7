//! The processes seen using one mm: tgid → comm, in tgid order.
//!
//! Nearly every mm has one process (threads share its tgid), so this is a vector grown one
//! entry at a time: a one-entry B-tree map allocates a whole node (over 300 bytes), which at
//! a few intervals per mm would be a large part of each interval's memory budget.

#[derive(Debug, Default, Clone)]
pub struct Processes(Vec<(u32, String)>);

impl Processes {
    fn find(&self, tgid: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&tgid, |&(t, _)| t)
    }

    pub fn contains_key(&self, tgid: &u32) -> bool {
        self.find(*tgid).is_ok()
    }

    pub fn get(&self, tgid: &u32) -> Option<&String> {
        self.find(*tgid).ok().map(|i| &self.0[i].1)
    }

    /// Adds or renames a process.
    pub fn insert(&mut self, tgid: u32, comm: String) {
        match self.find(tgid) {
            Ok(i) => self.0[i].1 = comm,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (tgid, comm));
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u32, &String)> {
        self.0.iter().map(|(t, c)| (t, c))
    }

    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.0.iter().map(|(t, _)| t)
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_in_tgid_order_one_entry_per_tgid() {
        let mut p = Processes::default();
        for (t, c) in [(30, "c"), (10, "a"), (20, "b"), (10, "a2")] {
            p.insert(t, c.into());
        }
        assert_eq!(p.keys().copied().collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(p.get(&10).map(String::as_str), Some("a2"));
        assert!(p.contains_key(&20) && !p.contains_key(&40));
        assert_eq!(p.values().cloned().collect::<Vec<_>>(), ["a2", "b", "c"]);
    }
}
