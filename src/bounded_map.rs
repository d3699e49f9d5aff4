//! The worker isolate's caches: maps that never grow past a capacity.
//!
//! An isolate lives for many requests and may see any number of orgs, providers, keys and
//! credentials, so each of its caches is bounded. When a new key would go past the capacity, the
//! map first drops the entries the caller calls stale (expired ones), and if it is still full,
//! all of them. Everything kept in these caches is rebuilt from storage on demand, so clearing
//! costs reloads, never correctness; it is also O(1) per insert, amortized, which evicting one
//! entry at a time from a `HashMap` is not.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A `HashMap` of at most `capacity` entries.
#[derive(Debug)]
pub struct BoundedMap<K, V> {
    entries: HashMap<K, V>,
    capacity: usize,
}

impl<K: Eq + Hash, V> BoundedMap<K, V> {
    /// An empty map that holds at most `capacity` (at least 1) entries.
    pub fn new(capacity: usize) -> Self {
        BoundedMap {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.get(key)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.get_mut(key)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.remove(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Inserts or replaces; a new key makes room first by clearing the map when it is full.
    pub fn insert(&mut self, key: K, value: V) {
        self.insert_dropping(key, value, |_, _| false);
    }

    /// As [`BoundedMap::insert`], but a full map first drops the entries `stale` picks, and
    /// clears only if that leaves it full.
    pub fn insert_dropping(&mut self, key: K, value: V, stale: impl FnMut(&K, &V) -> bool) {
        self.make_room_for(&key, stale);
        self.entries.insert(key, value);
    }

    /// The value of `key`, inserted by `make` first if absent (making room as `insert` does).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.make_room_for(&key, |_, _| false);
        self.entries.entry(key).or_insert_with(make)
    }

    fn make_room_for(&mut self, key: &K, mut stale: impl FnMut(&K, &V) -> bool) {
        if self.entries.len() < self.capacity || self.entries.contains_key(key) {
            return;
        }
        self.entries.retain(|k, v| !stale(k, v));
        if self.entries.len() >= self.capacity {
            self.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_map() -> BoundedMap<u32, u32> {
        let mut map = BoundedMap::new(3);
        for k in 0..3 {
            map.insert(k, k * 10);
        }
        map
    }

    #[test]
    fn holds_up_to_its_capacity() {
        let map = full_map();
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&2), Some(&20));
    }

    #[test]
    fn replacing_a_key_of_a_full_map_keeps_the_others() {
        let mut map = full_map();
        map.insert(1, 11);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&0), Some(&0));
        assert_eq!(map.get(&1), Some(&11));
    }

    #[test]
    fn a_new_key_in_a_full_map_clears_it_first() {
        let mut map = full_map();
        map.insert(7, 70);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(&7), Some(&70));
        assert_eq!(map.get(&0), None);
    }

    #[test]
    fn stale_entries_go_before_the_rest() {
        let mut map = full_map();
        map.insert_dropping(7, 70, |k, _| *k == 0);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&0), None);
        assert_eq!(map.get(&1), Some(&10));
        assert_eq!(map.get(&7), Some(&70));
    }

    #[test]
    fn clears_when_nothing_is_stale() {
        let mut map = full_map();
        map.insert_dropping(7, 70, |_, _| false);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn get_or_insert_with_makes_room_and_keeps_existing_values() {
        let mut map = full_map();
        *map.get_or_insert_with(1, || 0) += 1;
        assert_eq!(map.get(&1), Some(&11));
        assert_eq!(map.len(), 3);
        *map.get_or_insert_with(9, || 90) += 1;
        assert_eq!(map.get(&9), Some(&91));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn never_grows_past_its_capacity() {
        let mut map = BoundedMap::new(4);
        for k in 0..100u32 {
            map.insert(k, ());
            assert!(map.len() <= 4);
        }
    }

    #[test]
    fn remove_and_get_mut() {
        let mut map = full_map();
        if let Some(v) = map.get_mut(&0) {
            *v = 5;
        }
        assert_eq!(map.remove(&0), Some(5));
        assert_eq!(map.len(), 2);
        assert!(!map.is_empty());
    }
}
