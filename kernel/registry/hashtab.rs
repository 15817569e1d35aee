//! The registry's open-addressing hash tables, so a lookup, hold or
//! release costs the same at 100 links as at 100,000
//! (`docs/performance.md`).
//!
//! Every table is one core, [`SlotTab`]: linear probing over a
//! power-of-two array, at most 3/4 full, with backward-shift deletion: no
//! tombstones, so a long run of creates and destroys never degrades
//! probing. Every entry knows 32 bits of its key's hash (its *tag*), whose
//! top bits are its home slot; a lookup probes from the home and asks its
//! caller about each entry on the way.
//!
//! - [`HashTab`] maps a key to a value and keeps the tag, the key and the
//!   value in the slot: zones, limbo, loans.
//! - [`TagTab`] keeps a tag and a value, with the key elsewhere: the MAC
//!   index (tag and link id, 8 bytes a slot) and the (zone, name) index
//!   (tag and record, 16), whose keys are in the link records. A lookup
//!   compares tags in the slots and, where one matches, the key in the
//!   record, as illumos' `mod_hash` compares MAC names through a pointer
//!   into the record; the record is what a lookup reads anyway.
//! - The id index (`table.rs`) keeps only the record, 8 bytes a slot: a
//!   link id is its own hash, recomputed from the record when needed.
//!
//! A stored tag rejects most non-matching entries without reading further
//! and lets a resize move entries without rehashing.
//!
//! Hashing is fixed, with no per-boot seed, so layouts are reproducible:
//! integer keys are used as they are, names are read eight bytes at a
//! time and folded by multiply and shift ([`name_hash`], [`mac_hash`]),
//! and every hash is then spread by Fibonacci multiply-shift, whose top
//! bits pick the slot, so dense link ids fill the table evenly. Of the
//! keys, a non-global zone chooses its link names. A zone that picks names
//! to collide builds one long probe run, which its own lookups, and any
//! other key that lands in the run, walk under the table lock. The run is
//! as long as the number of links that zone created, each of which cost
//! far more kernel work (a MAC client) than a probe step does: the zone
//! slows lookups in proportion to what it has already spent, no more. If
//! that ever matters, a keyed hash with a boot-time key replaces
//! [`name_hash`] and nothing else changes.
//!
//! A table never allocates behind its owner's back. [`want`] says, for a
//! number of entries about to be inserted, which array size the table
//! needs (larger when it would pass 3/4 full, smaller once under 1/8
//! full); the owner allocates that array as [`Slots`] with no lock held
//! and hands it to [`adopt`], which moves the entries over (using the
//! stored tags: no rehashing) without allocating. Lookups, inserts into
//! room made that way, removes and iteration never allocate, so no path
//! of the registry allocates under its table lock (`docs/locking.md`).
//! An insert into a full table still grows it rather than fail, as a
//! last resort; the host's allocation check makes that a test failure.
//!
//! [`want`]: HashTab::want
//! [`adopt`]: HashTab::adopt

use alloc::vec::Vec;

use super::types::{LinkId, ZoneId};

/// A key with a fixed 64-bit hash. Equal keys must hash equally.
pub(crate) trait TabKey: Eq {
    fn hash64(&self) -> u64;
}

impl TabKey for LinkId {
    fn hash64(&self) -> u64 {
        u64::from(self.0)
    }
}

/// An odd constant with well-mixed bits (the finaliser of MurmurHash3):
/// multiplying by it carries every bit of a word into its high half.
const FOLD: u64 = 0xff51_afd7_ed55_8ccd;

/// Folds one word into a running hash: multiply, then the high half back
/// onto the low one, so every input bit reaches every output bit's
/// neighbourhood. Each word costs one multiply.
fn fold(h: u64, w: u64) -> u64 {
    let x = (h ^ w).wrapping_mul(FOLD);
    x ^ (x >> 32)
}

/// The hash of a link name in a zone: the zone id, then the name's words
/// ([`LinkName::to_words`]) as far as the name reaches (a name of up to 8
/// bytes is one word; the words after its end are 0).
pub(crate) fn name_hash(zone: ZoneId, words: &[u64; 4]) -> u64 {
    let used = words.iter().take_while(|&&w| w != 0);
    used.fold(u64::from(zone.0 as u32), |h, &w| fold(h, w))
}

/// The hash of a MAC name's bytes: its length, then eight bytes at a time
/// (the last word zero padded).
pub(crate) fn mac_hash(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut h = bytes.len() as u64;
    for c in chunks.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold(h, u64::from_le_bytes(w));
    }
    h
}

/// 2^64 / golden ratio, odd: multiply-shift by it spreads consecutive keys.
const FIB: u64 = 0x9e37_79b9_7f4a_7c15;
/// The smallest array, allocated on the first insert.
const MIN_CAP: usize = 8;

/// The top 32 bits of the spread hash: a slot's tag. Its top bits pick
/// the slot, so tags that differ only in their low bits (a [`TagTab`]
/// caller may use them) have the same home.
pub(crate) fn tag_of_hash(hash: u64) -> u32 {
    (hash.wrapping_mul(FIB) >> 32) as u32
}

/// The tag of a key.
pub(crate) fn tag_of<K: TabKey>(key: &K) -> u32 {
    tag_of_hash(key.hash64())
}

/// What a slot array holds: an entry that knows its tag.
pub(crate) trait Tagged {
    fn tag(&self) -> u32;
}

/// A [`HashTab`] entry.
pub(crate) struct Slot<K, V> {
    tag: u32,
    key: K,
    value: V,
}

impl<K, V> Tagged for Slot<K, V> {
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// A [`TagTab`] entry: a tag and a value. With a link id
/// (`NonZeroU32`, never `DATALINK_INVALID_LINKID`) it is 8 bytes, and 8
/// as an empty slot too; with a record (`Arc`), 16.
pub(crate) struct TagSlot<V> {
    tag: u32,
    value: V,
}

impl<V> Tagged for TagSlot<V> {
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// An empty slot array for a table, allocated with no lock held and
/// adopted under it ([`HashTab::adopt`], [`TagTab::adopt`]).
pub(crate) struct Slots<E>(Vec<Option<E>>);

impl<E> Slots<E> {
    /// `cap` empty slots (a power of two). Allocates: may sleep.
    pub(crate) fn new(cap: usize) -> Self {
        let mut v = Vec::with_capacity(cap);
        v.resize_with(cap, || None);
        Slots(v)
    }
}

/// The open-addressing array every table here is: entries that know
/// their tag, found by probing from a tag's home and asking the caller
/// about each entry on the way.
pub(crate) struct SlotTab<E> {
    /// Empty, or a power of two of slots.
    slots: Vec<Option<E>>,
    len: usize,
    /// Entries the array holds before it must grow (3/4 of it), and
    /// below which it may shrink: kept with the array, so the room a
    /// writer section plans for costs two compares per table.
    grow_at: usize,
    shrink_at: usize,
}

impl<E: Tagged> SlotTab<E> {
    /// An empty table; allocates nothing until the first insert.
    pub(crate) const fn new() -> Self {
        SlotTab { slots: Vec::new(), len: 0, grow_at: 0, shrink_at: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first entry on `home`'s probe run that `is` accepts (it sees
    /// every entry on the run, whatever its tag). Never allocates.
    #[inline]
    pub(crate) fn find(&self, home: u32, is: impl FnMut(&E) -> bool) -> Option<&E> {
        self.position(home, is).and_then(|i| self.slots.get(i)?.as_ref())
    }

    /// As [`find`](Self::find), to change the entry in place (not its
    /// tag's home).
    pub(crate) fn find_mut(&mut self, home: u32, is: impl FnMut(&E) -> bool) -> Option<&mut E> {
        self.position(home, is).and_then(|i| self.slots.get_mut(i)?.as_mut())
    }

    /// Removes the first entry on `home`'s probe run that `is` accepts.
    /// Never allocates.
    pub(crate) fn remove(&mut self, home: u32, is: impl FnMut(&E) -> bool) -> Option<E> {
        let i = self.position(home, is)?;
        self.remove_at(i)
    }

    /// Adds an entry (whose key is absent). Never allocates when room was
    /// made with [`want`](Self::want) and [`adopt`](Self::adopt); a full
    /// table grows as a last resort.
    pub(crate) fn insert(&mut self, e: E) {
        self.push(e);
    }

    /// Every entry, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.entries()
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Where a tag's probe sequence starts. The table is not empty.
    fn home(&self, tag: u32) -> usize {
        let bits = self.slots.len().trailing_zeros();
        // `bits` is at most 32 for any table that fits in memory here: a
        // slot is at least 8 bytes and the array is capped by `isize`.
        (u64::from(tag) >> (32 - bits.min(32))) as usize & self.mask()
    }

    /// The first slot on `tag`'s probe sequence whose entry `is` accepts.
    #[inline]
    fn position(&self, tag: u32, mut is: impl FnMut(&E) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = self.home(tag);
        // `get`, not indexing: `i` is always in the array (the mask), but
        // the compiler cannot tell, and an index check is a trap site in
        // the kernel.
        loop {
            match self.slots.get(i) {
                Some(Some(e)) if is(e) => return Some(i),
                Some(Some(_)) => i = (i + 1) & self.mask(),
                _ => return None,
            }
        }
    }

    /// Replaces the array, and the thresholds that go with its size.
    fn set_slots(&mut self, slots: Vec<Option<E>>) -> Vec<Option<E>> {
        let cap = slots.len();
        self.grow_at = cap * 3 / 4;
        self.shrink_at = if cap >= 4 * MIN_CAP { cap / 8 } else { 0 };
        core::mem::replace(&mut self.slots, slots)
    }

    /// As [`HashTab::want`].
    #[inline]
    pub(crate) fn want(&self, extra: usize) -> Option<usize> {
        if self.len + extra <= self.grow_at && self.len >= self.shrink_at {
            return None;
        }
        self.resize_for(extra)
    }

    /// [`want`](Self::want) once the size may change.
    #[cold]
    #[inline(never)]
    fn resize_for(&self, extra: usize) -> Option<usize> {
        let need = self.len + extra;
        let cap = self.slots.len();
        if need * 4 > cap * 3 {
            // The smallest power of two at least `cap` that `need` fills
            // to 3/4 at most.
            return Some((need * 4).div_ceil(3).next_power_of_two().max(cap).max(MIN_CAP));
        }
        // A quarter of the size or less, and never below `MIN_CAP`: a
        // small table that different sections plan differently for
        // (limbo: none for a create, one per link for a halt) would
        // otherwise shrink and grow again, back and forth.
        if self.len * 8 < cap && cap >= 4 * MIN_CAP {
            // The smallest power of two that `need` and one more fill to
            // 3/8 at most.
            let c = ((need + 1) * 8).div_ceil(3).next_power_of_two().max(MIN_CAP);
            return (c <= cap / 4).then_some(c);
        }
        None
    }

    /// As [`HashTab::adopt`].
    pub(crate) fn adopt(&mut self, fresh: Slots<E>, extra: usize) {
        if self.want(extra) != Some(fresh.0.len()) {
            return;
        }
        let old = self.set_slots(fresh.0);
        for e in old.into_iter().flatten() {
            self.place(e);
        }
    }

    /// Adds an entry (whose key is absent), growing a full table as a
    /// last resort.
    fn push(&mut self, e: E) {
        let cap = self.slots.len();
        if (self.len + 1) * 4 > cap * 3 {
            self.resize((cap * 2).max(MIN_CAP));
        }
        self.place(e);
        self.len += 1;
    }

    /// Puts an entry at the end of its probe run.
    fn place(&mut self, e: E) {
        let mask = self.mask();
        let mut i = self.home(e.tag());
        // As in `position`: no index checks (the table has a free slot,
        // and every `i` is in it).
        while let Some(slot) = self.slots.get_mut(i) {
            if slot.is_none() {
                *slot = Some(e);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Removes the entry in slot `hole`, closing the gap by shifting the
    /// rest of its probe run back. Never allocates.
    fn remove_at(&mut self, mut hole: usize) -> Option<E> {
        let out = self.slots.get_mut(hole)?.take()?;
        self.len -= 1;
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        // As in `position`: no index checks (every index is masked).
        while let Some(Some(e)) = self.slots.get(j) {
            // The entry at `j` may fill the hole only if the hole lies on
            // its probe path, i.e. is no nearer to `j` than its home is.
            let home = self.home(e.tag());
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                let moved = self.slots.get_mut(j).and_then(Option::take);
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = moved;
                }
                hole = j;
            }
            j = (j + 1) & mask;
        }
        Some(out)
    }

    /// Moves every entry into a fresh array of `cap` slots (a power of
    /// two, more than `len` * 4/3). Uses the stored tags: no rehashing.
    fn resize(&mut self, cap: usize) {
        let old = self.set_slots(Slots::new(cap).0);
        for e in old.into_iter().flatten() {
            self.place(e);
        }
    }

    fn entries(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().flatten()
    }

    /// Slots a successful lookup reads: the mean and the worst, over every
    /// entry.
    #[cfg(test)]
    fn probe_lengths(&self) -> (f64, usize) {
        let mask = self.slots.len().wrapping_sub(1);
        let lens = self.slots.iter().enumerate().filter_map(|(i, e)| {
            e.as_ref().map(|e| (i.wrapping_sub(self.home(e.tag())) & mask) + 1)
        });
        let (sum, max) = lens.fold((0, 0), |(sum, max), n| (sum + n, max.max(n)));
        (sum as f64 / self.len.max(1) as f64, max)
    }

    /// Checks the array's own invariants: the count, the size, and that
    /// every entry is reachable from its home with no empty slot between.
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.slots.iter().flatten().count(), self.len);
        assert!(self.slots.is_empty() || self.slots.len().is_power_of_two());
        assert!(self.len * 4 <= self.slots.len() * 3 || self.slots.is_empty());
        for (i, e) in self.slots.iter().enumerate() {
            let Some(e) = e else { continue };
            let mut k = self.home(e.tag());
            while k != i {
                assert!(self.slots[k].is_some(), "hole at {k} before {i}");
                k = (k + 1) & self.mask();
            }
        }
    }
}

/// A map from `K` to `V`; see the module doc for its costs.
pub(crate) struct HashTab<K, V> {
    p: SlotTab<Slot<K, V>>,
}

impl<K: TabKey, V> HashTab<K, V> {
    /// An empty table; allocates nothing until the first insert.
    pub(crate) const fn new() -> Self {
        HashTab { p: SlotTab::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.p.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.p.len == 0
    }

    /// The slot holding `key`, if any.
    #[inline]
    fn find(&self, key: &K) -> Option<usize> {
        let tag = tag_of(key);
        self.p.position(tag, |s| s.tag == tag && s.key == *key)
    }

    /// The value under `key`. Never allocates.
    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.find(key).and_then(|i| self.p.slots.get(i)?.as_ref()).map(|s| &s.value)
    }

    /// True if `key` is present. Never allocates.
    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_some()
    }

    /// The value under `key`, to change in place. Never allocates.
    #[inline]
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).and_then(|i| self.p.slots.get_mut(i)?.as_mut()).map(|s| &mut s.value)
    }

    /// The array size the table should have before `extra` more entries
    /// are inserted: `None` if the current one will do. Larger when the
    /// inserts would pass 3/4 full; smaller when under 1/8 full and a
    /// quarter of the size or less will do, so memory freed by removes is
    /// given back (to 3/8 full).
    #[inline]
    pub(crate) fn want(&self, extra: usize) -> Option<usize> {
        self.p.want(extra)
    }

    /// Moves every entry into `fresh` if its size is still the one
    /// [`want`](Self::want)`(extra)` asks for; otherwise `fresh` is
    /// dropped (freed). Never allocates.
    pub(crate) fn adopt(&mut self, fresh: Slots<Slot<K, V>>, extra: usize) {
        self.p.adopt(fresh, extra);
    }

    /// Sets `key` to `value`, returning the value it replaces. Never
    /// allocates when room was made with [`want`](Self::want) and
    /// [`adopt`](Self::adopt); a full table grows as a last resort.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(i) = self.find(&key) {
            let s = self.p.slots.get_mut(i)?.as_mut()?;
            return Some(core::mem::replace(&mut s.value, value));
        }
        let tag = tag_of(&key);
        self.p.push(Slot { tag, key, value });
        None
    }

    /// Removes `key`, returning its value. Never allocates: freeing a link
    /// must not need memory; the next insert gives the space back.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key)?;
        self.p.remove_at(i).map(|s| s.value)
    }

    /// Every entry, in slot order (which depends on history: sort what
    /// must be deterministic). Never allocates.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.p.entries().map(|s| (&s.key, &s.value))
    }

    /// Every value, in slot order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.p.entries().map(|s| &s.value)
    }

    /// Every key, in slot order.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Slots in the array (for tests of the growth policy).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.p.slots.len()
    }

    /// Checks the table's own invariants, and that each tag is its key's.
    #[cfg(test)]
    fn check(&self) {
        self.p.check();
        for s in self.p.entries() {
            assert_eq!(s.tag, tag_of(&s.key));
        }
    }
}

/// A multiset of (tag, value) pairs, probed by tag: an index whose keys
/// are kept elsewhere (see the module doc). A pair is present at most
/// once.
pub(crate) struct TagTab<V> {
    p: SlotTab<TagSlot<V>>,
}

impl<V> TagTab<V> {
    /// An empty index; allocates nothing until the first insert.
    pub(crate) const fn new() -> Self {
        TagTab { p: SlotTab::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.p.len
    }

    /// As [`HashTab::want`].
    #[inline]
    pub(crate) fn want(&self, extra: usize) -> Option<usize> {
        self.p.want(extra)
    }

    /// As [`HashTab::adopt`].
    pub(crate) fn adopt(&mut self, fresh: Slots<TagSlot<V>>, extra: usize) {
        self.p.adopt(fresh, extra);
    }

    /// Adds the pair (`tag`, `value`), which must be absent. Never
    /// allocates when room was made with [`want`](Self::want) and
    /// [`adopt`](Self::adopt).
    pub(crate) fn insert(&mut self, tag: u32, value: V) {
        self.p.push(TagSlot { tag, value });
    }

    /// Probes from `home`'s slot and returns the first pair for which
    /// `is(tag, value)` holds. `is` sees every pair on the probe run,
    /// whatever its tag: it compares the tag first. Never allocates.
    #[inline]
    pub(crate) fn find(&self, home: u32, mut is: impl FnMut(u32, &V) -> bool) -> Option<(u32, &V)> {
        self.p.find(home, |s| is(s.tag, &s.value)).map(|s| (s.tag, &s.value))
    }

    /// Removes the pair with tag `tag` whose value `is` accepts; false if
    /// there is none. Never allocates.
    pub(crate) fn remove(&mut self, tag: u32, is: impl Fn(&V) -> bool) -> bool {
        self.p.remove(tag, |s| s.tag == tag && is(&s.value)).is_some()
    }

    /// Replaces by `to` the tag of the pair with tag `tag` whose value
    /// `is` accepts, in place: the two tags must have the same home
    /// (differ only in their low bits). False if there is none. Never
    /// allocates.
    pub(crate) fn retag(&mut self, tag: u32, is: impl Fn(&V) -> bool, to: u32) -> bool {
        debug_assert!(self.p.slots.is_empty() || self.p.home(tag) == self.p.home(to));
        match self.p.find_mut(tag, |s| s.tag == tag && is(&s.value)) {
            Some(s) => {
                s.tag = to;
                true
            }
            None => false,
        }
    }

    /// Every pair, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &V)> + '_ {
        self.p.entries().map(|s| (s.tag, &s.value))
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.p.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::LinkName;
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::vec;
    use core::num::NonZeroU32;
    use proptest::prelude::*;

    /// A key hashed as itself, like a link id.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct Spread(u32);
    impl TabKey for Spread {
        fn hash64(&self) -> u64 {
            u64::from(self.0)
        }
    }

    /// A key whose hash has only a few values: long, wrapping probe runs.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct Clash(u32);
    impl TabKey for Clash {
        fn hash64(&self) -> u64 {
            u64::from(self.0 % 3)
        }
    }

    #[test]
    fn empty_table_allocates_nothing() {
        let mut t: HashTab<Spread, u32> = HashTab::new();
        assert_eq!((t.len(), t.capacity(), t.is_empty()), (0, 0, true));
        assert_eq!(t.get(&Spread(1)), None);
        assert!(!t.contains_key(&Spread(1)));
        assert_eq!(t.remove(&Spread(1)), None);
        assert_eq!(t.iter().count(), 0);
        assert_eq!(t.capacity(), 0);
        let mut n: TagTab<u32> = TagTab::new();
        assert_eq!((n.len(), n.capacity()), (0, 0));
        assert_eq!(n.find(5, |_, _| true), None);
        assert!(!n.remove(5, |&v| v == 1));
        assert!(!n.retag(5, |&v| v == 1, 4));
        assert_eq!(n.capacity(), 0);
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut t = HashTab::new();
        assert_eq!(t.insert(Spread(7), "a"), None);
        assert_eq!(t.insert(Spread(8), "b"), None);
        assert_eq!(t.insert(Spread(7), "c"), Some("a"));
        assert_eq!((t.len(), t.get(&Spread(7)), t.get(&Spread(8))), (2, Some(&"c"), Some(&"b")));
        assert_eq!(t.remove(&Spread(7)), Some("c"));
        assert_eq!(t.remove(&Spread(7)), None);
        assert_eq!((t.len(), t.get(&Spread(7)), t.get(&Spread(8))), (1, None, Some(&"b")));
        t.check();
    }

    #[test]
    fn room_is_made_ahead_and_given_back_after_removes() {
        /// Makes room for `extra` inserts the way the registry does.
        fn room<K: TabKey, V>(t: &mut HashTab<K, V>, extra: usize) {
            if let Some(c) = t.want(extra) {
                t.adopt(Slots::new(c), extra);
            }
            assert_eq!(t.want(extra), None);
        }
        let mut t = HashTab::new();
        for i in 0..1000 {
            room(&mut t, 1);
            let cap = t.capacity();
            t.insert(Spread(i), i);
            assert_eq!(t.capacity(), cap, "an insert into room made ahead reallocates nothing");
            t.check();
        }
        assert_eq!(t.capacity(), 2048, "1000 entries at most 3/4 full");
        for i in 0..1000 {
            assert_eq!(t.get(&Spread(i)), Some(&i));
        }
        for i in 0..999 {
            assert_eq!(t.remove(&Spread(i)), Some(i));
            t.check();
        }
        assert_eq!(t.capacity(), 2048, "removes never reallocate");
        room(&mut t, 1);
        t.insert(Spread(5000), 5000);
        assert_eq!(t.capacity(), MIN_CAP);
        t.check();
        let mut keys: Vec<_> = t.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, [Spread(999), Spread(5000)]);
        // A table is not shrunk for less than a quarter: no back and forth.
        let mut t = HashTab::new();
        for i in 0..10 {
            room(&mut t, 1);
            t.insert(Spread(i), i);
        }
        assert_eq!(t.capacity(), 16);
        for i in 0..10 {
            t.remove(&Spread(i));
        }
        assert_eq!(t.want(0), None, "8 slots would do, but that is half");
        assert_eq!(t.want(8), None);
        // Shrinking leaves room: the next inserts do not grow at once.
        let mut t = HashTab::new();
        for i in 0..100 {
            room(&mut t, 1);
            t.insert(Spread(i), i);
        }
        for i in 0..90 {
            t.remove(&Spread(i));
        }
        room(&mut t, 1);
        t.insert(Spread(1000), 0);
        assert_eq!(t.capacity(), 32, "11 entries fill a shrunk array to 3/8 at most");
        t.check();
        // Memory that no longer fits the plan is not adopted.
        let stale = Slots::new(4096);
        t.adopt(stale, 1);
        assert_eq!(t.capacity(), 32);
        // A full table still grows on insert rather than fail.
        let mut t = HashTab::new();
        t.insert(Spread(1), 1);
        assert_eq!(t.capacity(), MIN_CAP);
    }

    /// The closed forms of `want` agree with the rule it states: grow to
    /// the smallest power of two that the entries fill to 3/4 at most;
    /// shrink, when under 1/8 full, to the smallest power of two that
    /// they and one more fill to 3/8 at most, if that is a quarter of the
    /// size or less.
    #[test]
    fn want_follows_its_rule() {
        for cap in [0usize, 8, 16, 32, 64, 128, 1024] {
            for len in 0..=cap * 3 / 4 {
                for extra in [0usize, 1, 2, 7, 100] {
                    let mut t = SlotTab::<TagSlot<u32>>::new();
                    t.set_slots(Slots::new(cap).0);
                    t.len = len;
                    let need = len + extra;
                    let want = if need * 4 > cap * 3 {
                        let mut c = cap.max(MIN_CAP);
                        while need * 4 > c * 3 {
                            c *= 2;
                        }
                        Some(c)
                    } else if cap > MIN_CAP && len * 8 < cap {
                        let mut c = MIN_CAP;
                        while (need + 1) * 8 > c * 3 {
                            c *= 2;
                        }
                        (c <= cap / 4).then_some(c)
                    } else {
                        None
                    };
                    assert_eq!(t.want(extra), want, "cap {cap}, len {len}, extra {extra}");
                }
            }
        }
    }

    #[test]
    fn tag_tables_make_room_the_same_way() {
        let mut n = TagTab::new();
        for i in 1..=1000u32 {
            if let Some(c) = n.want(1) {
                n.adopt(Slots::new(c), 1);
            }
            let cap = n.capacity();
            n.insert(tag_of(&Spread(i)), i);
            assert_eq!(n.capacity(), cap, "an insert into room made ahead reallocates nothing");
        }
        n.p.check();
        assert_eq!(n.capacity(), 2048);
        for i in 1..=999u32 {
            assert!(n.remove(tag_of(&Spread(i)), |&v| v == i));
        }
        assert_eq!(n.capacity(), 2048, "removes never reallocate");
        assert_eq!(n.want(1), Some(MIN_CAP));
        n.adopt(Slots::new(MIN_CAP), 1);
        assert_eq!(n.capacity(), MIN_CAP);
        assert_eq!(n.iter().collect::<Vec<_>>(), [(tag_of(&Spread(1000)), &1000)]);
    }

    #[test]
    fn deletion_keeps_colliding_runs_reachable() {
        // Every key collides with a third of the others; runs wrap round
        // the end of the array. Remove from the front, middle and back of
        // the runs and check every survivor is still found.
        for order in 0..3u32 {
            let mut t = HashTab::new();
            for i in 0..60 {
                t.insert(Clash(i), i);
            }
            t.check();
            let mut gone = vec![];
            for step in 0..60u32 {
                let k = match order {
                    0 => step,
                    1 => 59 - step,
                    _ => (step * 37) % 60,
                };
                assert_eq!(t.remove(&Clash(k)), Some(k));
                gone.push(k);
                t.check();
                for i in 0..60 {
                    assert_eq!(t.get(&Clash(i)).is_some(), !gone.contains(&i), "key {i}");
                }
            }
            assert!(t.is_empty());
        }
    }

    #[test]
    fn tag_tables_find_every_pair_of_a_tag_and_retag_in_place() {
        // Three tags, twenty links each: long colliding runs.
        let tag = |i: u32| tag_of(&Clash(i)) & !3;
        let mut n = TagTab::new();
        for i in 1..=60u32 {
            n.insert(tag(i), i);
        }
        n.p.check();
        for i in 1..=60 {
            let found = n.find(tag(i), |t, &v| t == tag(i) && v == i);
            assert_eq!(found, Some((tag(i), &i)));
        }
        // Low bits mark a kind: the pair keeps its place.
        assert!(n.retag(tag(5), |&v| v == 5, tag(5) | 2));
        n.p.check();
        assert_eq!(n.find(tag(5), |t, &v| t == tag(5) && v == 5), None);
        assert_eq!(n.find(tag(5), |t, &v| t & !3 == tag(5) && v == 5), Some((tag(5) | 2, &5)));
        assert!(!n.retag(tag(5), |&v| v == 5, tag(5) | 1), "the old pair is gone");
        assert!(n.remove(tag(5) | 2, |&v| v == 5));
        assert!(!n.remove(tag(5) | 2, |&v| v == 5));
        for i in (1..=60).filter(|&i| i != 5) {
            assert!(n.remove(tag(i), |&v| v == i), "link {i}");
            n.p.check();
        }
        assert_eq!(n.len(), 0);
        // An entry found by a predicate can change in place, or go.
        let mut s: SlotTab<TagSlot<u32>> = SlotTab::new();
        for i in 1..=20u32 {
            s.insert(TagSlot { tag: tag(i), value: i });
        }
        s.find_mut(tag(7), |e| e.value == 7).unwrap().value = 70;
        assert_eq!(s.find(tag(7), |e| e.value == 70).map(|e| e.tag), Some(tag(7)));
        assert_eq!(s.remove(tag(7), |e| e.value == 70).map(|e| e.value), Some(70));
        assert_eq!((s.len(), s.iter().count()), (19, 19));
        s.check();
    }

    #[test]
    fn iteration_visits_each_entry_once() {
        let mut t = HashTab::new();
        for i in (0..500).rev() {
            t.insert(Spread(i * 3), i);
        }
        let mut seen: Vec<_> = t.iter().map(|(k, v)| (k.0, *v)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..500).map(|i| (i * 3, i)).collect::<Vec<_>>());
        let mut values: Vec<_> = t.values().copied().collect();
        values.sort_unstable();
        assert_eq!(values, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn many_keys_agree_with_a_btreemap() {
        let mut t = HashTab::new();
        let mut m = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = Spread((x % 50_000) as u32);
            if x & (1 << 40) == 0 {
                assert_eq!(t.insert(k, x), m.insert(k, x));
            } else {
                assert_eq!(t.remove(&k), m.remove(&k));
            }
        }
        t.check();
        assert_eq!(t.len(), m.len());
        for (k, v) in &m {
            assert_eq!(t.get(k), Some(v));
        }
    }

    #[test]
    fn name_hashes_depend_on_every_byte_and_the_zone() {
        let n = |s: &str| LinkName::new(s.as_bytes()).unwrap().to_words();
        let z1 = ZoneId(1);
        assert_eq!(name_hash(z1, &n("net0")), name_hash(z1, &n("net0")));
        assert_ne!(name_hash(z1, &n("net0")), name_hash(ZoneId(2), &n("net0")));
        assert_ne!(name_hash(z1, &n("net0")), name_hash(z1, &n("net1")));
        assert_ne!(name_hash(z1, &n("net0")), name_hash(z1, &n("net00")));
        let long = "x12345678901234567890123456789";
        let other = "x12345678901234567890123456788";
        assert_ne!(name_hash(z1, &n(long)), name_hash(z1, &n(other)));
        assert_eq!(mac_hash(b"vnic1001"), mac_hash(b"vnic1001"));
        assert_ne!(mac_hash(b"vnic1001"), mac_hash(b"vnic1002"));
        // The length counts: trailing zero padding does not alias.
        assert_ne!(mac_hash(b"a"), mac_hash(b"a\0"));
        assert_ne!(mac_hash(b"vnic1001vnic1001x"), mac_hash(b"vnic1001vnic1001y"));
        // Folding is the documented multiply and shift.
        let x = 5u64.wrapping_mul(FOLD);
        assert_eq!(fold(0, 5), x ^ (x >> 32));
    }

    /// The registry's key shapes at 100,000 links over 1,000 zones (the
    /// benchmark's population) probe as a random hash would: about 1.3
    /// slots per successful lookup at this load (2.5 at the 3/4 limit),
    /// and dense link ids exactly 1. The cost does not depend on how many
    /// links there are.
    #[test]
    fn registry_keys_probe_short_runs() {
        fn assert_short(what: &str, (mean, max): (f64, usize)) {
            assert!(mean < 2.0 && max < 40, "{what}: mean {mean:.2}, worst {max}");
        }
        let mut ids = HashTab::new();
        let mut names = TagTab::new();
        let mut macs = TagTab::new();
        for i in 0..100_000u32 {
            ids.insert(LinkId(i + 1), ());
            let name = alloc::format!("net{}", i / 1000);
            let name = LinkName::new(name.as_bytes()).unwrap();
            let zone = ZoneId(1 + (i % 1000) as i32);
            names.insert(tag_of_hash(name_hash(zone, &name.to_words())), i + 1);
            let mac = alloc::format!("vnic{i}");
            macs.insert(tag_of_hash(mac_hash(mac.as_bytes())), i + 1);
        }
        assert_short("ids", ids.p.probe_lengths());
        assert_eq!(ids.p.probe_lengths().0, 1.0);
        assert_short("names", names.p.probe_lengths());
        assert_short("macs", macs.p.probe_lengths());
        // Tags rarely collide, so a lookup rarely reads a record in vain.
        let mut tags: Vec<u32> = names.iter().map(|(t, _)| t).collect();
        tags.sort_unstable();
        tags.dedup();
        assert!(tags.len() > 99_990, "{} distinct name tags", tags.len());
    }

    /// The per-slot sizes `docs/performance.md` counts memory with.
    #[cfg(not(any(loom, shuttle)))]
    #[test]
    fn slots_are_as_small_as_documented() {
        use super::super::link::Link;
        use crate::sync::Arc;
        use core::mem::size_of;
        assert_eq!(size_of::<Option<Slot<LinkId, Arc<Link>>>>(), 16);
        assert_eq!(size_of::<Option<TagSlot<NonZeroU32>>>(), 8);
        assert_eq!(size_of::<Option<TagSlot<Arc<Link>>>>(), 16);
        assert_eq!(size_of::<Option<Arc<Link>>>(), 8);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32, u32),
        Remove(u32),
        Get(u32),
    }

    fn ops(keys: u32) -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            (0..keys, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0..keys).prop_map(Op::Remove),
            (0..keys).prop_map(Op::Get),
        ];
        proptest::collection::vec(op, 0..400)
    }

    fn run<K: TabKey + Ord + Copy + core::fmt::Debug>(ops: &[Op], key: fn(u32) -> K) {
        let mut t = HashTab::new();
        let mut m = BTreeMap::new();
        for op in ops {
            match *op {
                Op::Insert(k, v) => assert_eq!(t.insert(key(k), v), m.insert(key(k), v)),
                Op::Remove(k) => assert_eq!(t.remove(&key(k)), m.remove(&key(k))),
                Op::Get(k) => assert_eq!(t.get(&key(k)), m.get(&key(k))),
            }
            assert_eq!(t.len(), m.len());
        }
        t.check();
        let mut all: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort_unstable();
        assert_eq!(all, m.into_iter().collect::<Vec<_>>());
    }

    #[derive(Clone, Debug)]
    enum TagOp {
        Insert(u32, u32),
        Remove(u32, u32),
        Retag(u32, u32, u32),
        Find(u32),
    }

    /// Pairs over few tags (colliding runs) and few link ids; the low two
    /// bits of a tag are a kind, as the name index uses them.
    fn tag_ops() -> impl Strategy<Value = Vec<TagOp>> {
        let tag = (0..6u32, 0..4u32).prop_map(|(h, k)| (tag_of(&Clash(h)) & !3) | k);
        let op = prop_oneof![
            (tag.clone(), 1..40u32).prop_map(|(t, id)| TagOp::Insert(t, id)),
            (tag.clone(), 1..40u32).prop_map(|(t, id)| TagOp::Remove(t, id)),
            (tag.clone(), 1..40u32, 0..4u32).prop_map(|(t, id, k)| TagOp::Retag(t, id, k)),
            tag.prop_map(TagOp::Find),
        ];
        proptest::collection::vec(op, 0..400)
    }

    fn run_tags(ops: &[TagOp]) {
        let mut n: TagTab<u32> = TagTab::new();
        let mut m: Vec<(u32, u32)> = Vec::new();
        for op in ops {
            match *op {
                TagOp::Insert(t, id) => {
                    if !m.contains(&(t, id)) {
                        n.insert(t, id);
                        m.push((t, id));
                    }
                }
                TagOp::Remove(t, id) => {
                    let i = m.iter().position(|&p| p == (t, id));
                    assert_eq!(n.remove(t, |&v| v == id), i.is_some());
                    if let Some(i) = i {
                        m.swap_remove(i);
                    }
                }
                TagOp::Retag(t, id, k) => {
                    let to = (t & !3) | k;
                    if m.contains(&(to, id)) && to != t {
                        continue;
                    }
                    let i = m.iter().position(|&p| p == (t, id));
                    assert_eq!(n.retag(t, |&v| v == id, to), i.is_some());
                    if let Some(i) = i {
                        m[i] = (to, id);
                    }
                }
                TagOp::Find(t) => {
                    let mut seen = Vec::new();
                    let none = n.find(t, |tag, &id| {
                        if tag == t {
                            seen.push(id);
                        }
                        false
                    });
                    assert_eq!(none, None);
                    seen.sort_unstable();
                    let mut want: Vec<u32> = m.iter().filter(|p| p.0 == t).map(|p| p.1).collect();
                    want.sort_unstable();
                    assert_eq!(seen, want, "every pair of tag {t:#x} is on its probe run");
                }
            }
            assert_eq!(n.len(), m.len());
        }
        n.p.check();
        let mut all: Vec<(u32, u32)> = n.iter().map(|(t, &id)| (t, id)).collect();
        all.sort_unstable();
        m.sort_unstable();
        assert_eq!(all, m);
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreemap(ops in ops(64)) {
            run(&ops, Spread);
        }

        #[test]
        fn behaves_like_a_btreemap_under_collisions(ops in ops(64)) {
            run(&ops, Clash);
        }

        #[test]
        fn tag_tables_behave_like_a_list_of_pairs(ops in tag_ops()) {
            run_tags(&ops);
        }
    }
}
