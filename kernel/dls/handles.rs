//! Handles: what C holds as a `dls_dl_handle_t`.
//!
//! In gate a handle is the `dls_devnet_t` itself, shared by every holder,
//! so a release cannot tell who is releasing, one release too many
//! underflows the count (or panics), and a release after the free reads
//! freed memory. Here every hold gets its own handle, naming one slot of
//! a table that only grows: the slot keeps the hold's token (which knows
//! its holder) and a generation, and the handle is the pair (slot,
//! generation) packed into a pointer-sized value. A release of a handle
//! whose slot has moved on (double release, a handle never handed out)
//! matches nothing and changes nothing.
//!
//! Slots live in chunks that are never freed while the object is loaded,
//! so a stale handle always names valid memory. A hold never allocates:
//! it takes a free slot, and the table is kept ahead of demand by growth
//! where sleeping is allowed ([`Handles::grow`], run at init and from the
//! task queue when the free slots run low). If the free slots run out all
//! the same, `dls_devnet_open()` (which may sleep) grows the table itself;
//! any other hold fails with `ENOMEM` instead of sleeping.
//!
//! Lock level: the directory lock, then one slot's mutex, both leaves
//! below the registry's locks (`docs/locking.md`): a token is moved in or
//! out of its slot with no registry lock held.

use alloc::boxed::Box;
use alloc::vec::Vec;

use dlszone::errno::{Errno, KResult};
use dlszone::registry::{Hold, LinkRef, TmpHold};
use dlszone::sync::atomic::{AtomicU64, Ordering};
use dlszone::sync::{Mutex, RwLock};

use crate::devnet::fill;
use crate::seam::DlsLinkPtr;

/// Slots per chunk.
pub const CHUNK: usize = 128;
/// The most chunks: 2^20 holds at once, far beyond any real system (each
/// open DLPI stream and `/dev/net` node is one).
pub const MAX_CHUNKS: usize = 8192;
/// Free slots the table keeps ahead of the holds: below this a growth is
/// asked for.
pub const LOW_WATER: usize = CHUNK / 2;

/// A C handle: slot index + 1 in the low 32 bits, generation in the high
/// 32. Never 0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Handle(pub u64);

impl Handle {
    fn new(index: usize, generation: u32) -> Handle {
        Handle(((generation as u64) << 32) | (index as u64 + 1))
    }

    fn index(self) -> Option<usize> {
        let low = (self.0 & 0xffff_ffff) as usize;
        low.checked_sub(1)
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// What a slot holds for its hold.
pub enum Token {
    /// `dls_devnet_hold_tmp()` and kin.
    Tmp(TmpHold),
    /// `dls_devnet_hold()`, `_hold_by_dev()`, `_open()`, `_hold_zlink()`.
    Long(Hold),
}

impl Token {
    /// The link the hold is on.
    pub fn link(&self) -> LinkRef {
        match self {
            Token::Tmp(h) => h.link_ref(),
            Token::Long(h) => h.link_ref(),
        }
    }

    /// Whether it is a temporary hold.
    pub fn is_tmp(&self) -> bool {
        matches!(self, Token::Tmp(_))
    }
}

/// One slot.
struct SlotData {
    generation: u32,
    token: Option<Token>,
    /// The `dls_link_t` a `dls_devnet_open()` handle also holds.
    dlp: Option<DlsLinkPtr>,
    /// A copy of the link's name for `dls_devnet_link()`, with its NUL:
    /// the pointer handed to C stays valid while the handle is held.
    name: [u8; 32],
    /// While free: the next free slot's index + 1 (0: none).
    next_free: usize,
}

struct Slot(Mutex<SlotData>);

/// The free list: a stack threaded through the free slots.
struct FreeList {
    /// Index + 1 of the first free slot; 0 when there is none.
    head: usize,
    len: usize,
}

/// The handle table. Lock order: `chunks` (reader, or writer to grow),
/// then `free`, then one slot.
pub struct Handles {
    chunks: RwLock<Vec<Box<[Slot]>>>,
    free: Mutex<FreeList>,
    live: AtomicU64,
}

/// Why a release matched no hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stale {
    /// No slot, or the slot's hold is another (double release, forged).
    NoSuchHold,
    /// A temporary release of a long hold or the reverse.
    WrongKind,
}

impl Default for Handles {
    fn default() -> Self {
        Self::new()
    }
}

fn copy_name(dst: &mut [u8; 32], link: &LinkRef) {
    *dst = [0; 32];
    if let Some(n) = link.name() {
        let b = n.as_bytes();
        if let Some(d) = dst.get_mut(..b.len()) {
            fill(d, b);
        }
    }
}

impl Handles {
    /// An empty table; [`grow`](Self::grow) gives it slots.
    pub fn new() -> Handles {
        Handles {
            chunks: RwLock::new(Vec::new()),
            free: Mutex::new(FreeList { head: 0, len: 0 }),
            live: AtomicU64::new(0),
        }
    }

    /// Holds currently recorded.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Free slots.
    pub fn free(&self) -> usize {
        self.free.lock().len
    }

    /// Slots in all.
    pub fn capacity(&self) -> usize {
        self.chunks.read().len() * CHUNK
    }

    /// True when a growth should be asked for.
    pub fn low(&self) -> bool {
        let full = self.chunks.read().len() >= MAX_CHUNKS;
        !full && self.free() < LOW_WATER
    }

    /// Adds chunks until at least `2 * LOW_WATER` slots are free, or the
    /// table is full. Allocates with no lock held: may sleep.
    pub fn grow(&self) {
        loop {
            if self.free() >= 2 * LOW_WATER {
                return;
            }
            // Room in the directory first, allocated unlocked.
            let spare = {
                let c = self.chunks.read();
                if c.len() >= MAX_CHUNKS {
                    return;
                }
                (c.len() == c.capacity()).then(|| c.len().max(4) * 2)
            };
            if let Some(cap) = spare {
                let mut bigger: Vec<Box<[Slot]>> = Vec::with_capacity(cap);
                let mut c = self.chunks.write();
                if bigger.capacity() > c.capacity() {
                    bigger.append(&mut c);
                    *c = bigger;
                }
                continue;
            }
            // Built slot by slot on the heap: never a chunk on the stack.
            let mut v = Vec::with_capacity(CHUNK);
            for _ in 0..CHUNK {
                v.push(Slot(Mutex::new(SlotData {
                    generation: 1,
                    token: None,
                    dlp: None,
                    name: [0; 32],
                    next_free: 0,
                })));
            }
            let chunk = v.into_boxed_slice();
            let mut c = self.chunks.write();
            if c.len() == c.capacity() || c.len() >= MAX_CHUNKS {
                // Another grower filled the directory: look again.
                continue;
            }
            let base = c.len() * CHUNK;
            let mut f = self.free.lock();
            // Thread the new slots onto the free list, lowest index on top.
            for (i, slot) in chunk.iter().enumerate() {
                slot.0.lock().next_free = if i + 1 < CHUNK { base + i + 2 } else { f.head };
            }
            f.head = base + 1;
            f.len += CHUNK;
            drop(f);
            c.push(chunk);
        }
    }

    fn slot(c: &[Box<[Slot]>], index: usize) -> Option<&Slot> {
        c.get(index / CHUNK)?.get(index % CHUNK)
    }

    fn lookup(c: &[Box<[Slot]>], h: Handle) -> Option<(usize, &Slot)> {
        let index = h.index()?;
        Some((index, Self::slot(c, index)?))
    }

    /// Records `token` (and the `dls_link_t` an open holds) and returns
    /// its handle. Never allocates or sleeps.
    ///
    /// Errors: `ENOMEM` no free slot; the token comes back to be released.
    pub fn insert(&self, token: Token, dlp: Option<DlsLinkPtr>) -> Result<Handle, (Errno, Token)> {
        let c = self.chunks.read();
        let index = {
            let mut f = self.free.lock();
            let popped = f.head.checked_sub(1).and_then(|i| Some((i, Self::slot(&c, i)?)));
            let Some((index, slot)) = popped else {
                return Err((Errno::ENOMEM, token));
            };
            f.head = slot.0.lock().next_free;
            f.len -= 1;
            index
        };
        // Off the free list: no other thread can take this slot now.
        let Some(slot) = Self::slot(&c, index) else {
            return Err((Errno::ENOMEM, token));
        };
        let mut s = slot.0.lock();
        copy_name(&mut s.name, &token.link());
        s.token = Some(token);
        s.dlp = dlp;
        s.next_free = 0;
        let h = Handle::new(index, s.generation);
        drop(s);
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(h)
    }

    /// Runs `f` on the live hold of `h` (and the `dls_link_t` it holds).
    ///
    /// Errors: `ENOENT` the handle names no live hold.
    pub fn with<R>(
        &self,
        h: Handle,
        f: impl FnOnce(&Token, Option<DlsLinkPtr>) -> R,
    ) -> KResult<R> {
        let c = self.chunks.read();
        let (_, slot) = Self::lookup(&c, h).ok_or(Errno::ENOENT)?;
        let s = slot.0.lock();
        if s.generation != h.generation() {
            return Err(Errno::ENOENT);
        }
        let tok = s.token.as_ref().ok_or(Errno::ENOENT)?;
        Ok(f(tok, s.dlp))
    }

    /// Refreshes the handle's copy of its link's name and returns its
    /// address, for `dls_devnet_link()`. The address stays valid while the
    /// object is loaded, its contents while the handle is held.
    pub fn name_ptr(&self, h: Handle) -> KResult<*const u8> {
        let c = self.chunks.read();
        let (_, slot) = Self::lookup(&c, h).ok_or(Errno::ENOENT)?;
        let mut s = slot.0.lock();
        if s.generation != h.generation() {
            return Err(Errno::ENOENT);
        }
        let link = s.token.as_ref().ok_or(Errno::ENOENT)?.link();
        let mut buf = [0u8; 32];
        copy_name(&mut buf, &link);
        s.name = buf;
        Ok(s.name.as_ptr())
    }

    /// Takes the hold of `h` out of its slot if it is of the kind asked
    /// (`tmp`: `Some(true)` temporary, `Some(false)` long, `None` either)
    /// and frees the slot; the caller releases the token. A mismatch
    /// changes nothing.
    pub fn remove(
        &self,
        h: Handle,
        tmp: Option<bool>,
    ) -> Result<(Token, Option<DlsLinkPtr>), Stale> {
        let c = self.chunks.read();
        let (index, slot) = Self::lookup(&c, h).ok_or(Stale::NoSuchHold)?;
        let (tok, dlp) = {
            let mut s = slot.0.lock();
            if s.generation != h.generation() {
                return Err(Stale::NoSuchHold);
            }
            match (&s.token, tmp) {
                (None, _) => return Err(Stale::NoSuchHold),
                (Some(t), Some(want)) if t.is_tmp() != want => return Err(Stale::WrongKind),
                _ => {}
            }
            let tok = s.token.take().ok_or(Stale::NoSuchHold)?;
            // A new generation: this handle is dead from now on.
            s.generation = match s.generation.wrapping_add(1) {
                0 => 1,
                g => g,
            };
            (tok, s.dlp.take())
        };
        // The slot is in no list and holds nothing: invisible until it is
        // pushed, in the lock order chunks, free, slot.
        let mut f = self.free.lock();
        slot.0.lock().next_free = f.head;
        f.head = index + 1;
        f.len += 1;
        drop(f);
        self.live.fetch_sub(1, Ordering::Relaxed);
        Ok((tok, dlp))
    }

    /// Every live token, taken out (`dls_mgmt_fini()` with holds left).
    pub fn drain(&self) -> Vec<Token> {
        let c = self.chunks.read();
        let mut out = Vec::new();
        for chunk in c.iter() {
            for slot in chunk.iter() {
                if let Some(t) = slot.0.lock().token.take() {
                    out.push(t);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlszone::registry::{HoldKind, LinkId, Registry, ZoneId};

    fn reg() -> Registry {
        let r = Registry::new();
        r.create(ZoneId::GLOBAL, b"vnic0", LinkId(5), b"net0", false).unwrap();
        r
    }

    #[test]
    fn handles_are_per_hold_and_die_at_release() {
        let r = reg();
        let t = Handles::new();
        assert_eq!(
            t.insert(Token::Tmp(r.hold_tmp(ZoneId::GLOBAL, LinkId(5)).unwrap()), None)
                .map(|_| ())
                .map_err(|e| e.0),
            Err(Errno::ENOMEM)
        );
        t.grow();
        assert_eq!(t.free(), 2 * LOW_WATER);
        let a = t
            .insert(Token::Tmp(r.hold_tmp(ZoneId::GLOBAL, LinkId(5)).unwrap()), None)
            .ok()
            .unwrap();
        let b = t
            .insert(Token::Tmp(r.hold_tmp(ZoneId::GLOBAL, LinkId(5)).unwrap()), None)
            .ok()
            .unwrap();
        assert_ne!(a, b);
        assert_ne!(a.0, 0);
        assert_eq!(t.live(), 2);
        assert_eq!(t.with(a, |tok, _| tok.link().linkid()), Ok(LinkId(5)));
        // Wrong kind: nothing changes.
        assert_eq!(t.remove(a, Some(false)).err(), Some(Stale::WrongKind));
        let (tok, _) = t.remove(a, Some(true)).ok().unwrap();
        let Token::Tmp(h) = tok else { panic!() };
        r.rele_tmp(h).unwrap();
        // Double release: the handle is dead, its slot reused by a new hold
        // that the stale handle cannot touch.
        assert_eq!(t.remove(a, Some(true)).err(), Some(Stale::NoSuchHold));
        let c = t
            .insert(Token::Long(r.hold(ZoneId::GLOBAL, LinkId(5), HoldKind::Named).unwrap()), None)
            .ok()
            .unwrap();
        assert_eq!(c.index(), a.index());
        assert_ne!(c, a);
        assert_eq!(t.remove(a, None).err(), Some(Stale::NoSuchHold));
        assert_eq!(t.with(a, |_, _| ()), Err(Errno::ENOENT));
        // Never handed out, or beyond the table.
        assert_eq!(t.remove(Handle(0), None).err(), Some(Stale::NoSuchHold));
        assert_eq!(t.remove(Handle(1 << 40 | 99_999), None).err(), Some(Stale::NoSuchHold));
        assert_eq!(t.live(), 2);
        for tok in t.drain() {
            match tok {
                Token::Tmp(h) => r.rele_tmp(h).unwrap(),
                Token::Long(h) => r.rele(h).unwrap(),
            }
        }
        let _ = b;
    }

    #[test]
    fn name_copies_follow_renames() {
        let r = reg();
        let t = Handles::new();
        t.grow();
        let a = t
            .insert(Token::Tmp(r.hold_tmp(ZoneId::GLOBAL, LinkId(5)).unwrap()), None)
            .ok()
            .unwrap();
        let p = t.name_ptr(a).unwrap();
        assert!(!p.is_null());
        let (tok, _) = t.remove(a, None).ok().unwrap();
        let Token::Tmp(h) = tok else { panic!() };
        r.rele_tmp(h).unwrap();
        r.rename(ZoneId::GLOBAL, LinkId(5), b"web0").unwrap();
        let b = t
            .insert(Token::Tmp(r.hold_tmp(ZoneId::GLOBAL, LinkId(5)).unwrap()), None)
            .ok()
            .unwrap();
        let mut got = [0u8; 32];
        t.with(b, |tok, _| copy_name(&mut got, &tok.link())).unwrap();
        assert_eq!(&got[..5], b"web0\0");
        for tok in t.drain() {
            if let Token::Tmp(h) = tok {
                r.rele_tmp(h).unwrap();
            }
        }
    }

    #[test]
    fn grows_past_many_chunks_and_reuses_slots() {
        let r = reg();
        let t = Handles::new();
        let mut hs = Vec::new();
        for _ in 0..(5 * CHUNK) {
            if t.low() {
                t.grow();
            }
            hs.push(
                t.insert(Token::Tmp(r.hold_tmp(ZoneId::GLOBAL, LinkId(5)).unwrap()), None)
                    .ok()
                    .unwrap(),
            );
        }
        assert!(t.capacity() >= 5 * CHUNK);
        let cap = t.capacity();
        for h in hs.drain(..) {
            let (tok, _) = t.remove(h, Some(true)).ok().unwrap();
            let Token::Tmp(x) = tok else { panic!() };
            r.rele_tmp(x).unwrap();
        }
        assert_eq!(t.live(), 0);
        assert_eq!(t.free(), cap);
        t.grow();
        assert_eq!(t.capacity(), cap);
    }
}
