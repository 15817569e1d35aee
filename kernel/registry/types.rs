//! Value types of the registry: zone identities, link ids, names, hold
//! kinds and life-cycle states. Validation of bad input lives here, so
//! every entry point rejects it the same way before touching any state.

use alloc::sync::Arc;
use core::fmt;

use crate::errno::{Errno, KResult};

/// `MAXLINKNAMELEN` from `sys/param.h`: link names fit in 32 bytes with
/// their NUL, so at most 31 characters.
pub const MAXLINKNAMELEN: usize = 32;
/// `MAXNAMELEN`: MAC (driver instance) names fit in 256 bytes with NUL.
pub const MAXMACNAMELEN: usize = 256;
/// `MAX_ZONEID` from `sys/zone.h`.
pub const MAX_ZONEID: i32 = 9999;

/// A zone id (`zoneid_t`). Ids are recycled, so on its own it does not
/// name a zone incarnation: see [`ZoneKey`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(transparent)]
pub struct ZoneId(pub i32);

impl ZoneId {
    /// `GLOBAL_ZONEID`.
    pub const GLOBAL: ZoneId = ZoneId(0);

    /// True for the global zone.
    pub const fn is_global(self) -> bool {
        self.0 == 0
    }

    /// Rejects ids outside `0..=MAX_ZONEID` (including `ALL_ZONES`, -1).
    pub fn validate(self) -> KResult<ZoneId> {
        if (0..=MAX_ZONEID).contains(&self.0) { Ok(self) } else { Err(Errno::EINVAL) }
    }
}

/// One incarnation of a zone: its id and its `zone_uniqid`, which is never
/// reused. A link recorded against `ZoneKey { id: 5, uniqid: 7 }` can never be
/// mistaken for one of a later zone that got id 5 again.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(C)]
pub struct ZoneKey {
    /// The zone id.
    pub id: ZoneId,
    /// The zone's unique id (`zone_uniqid`; 0 for the global zone).
    pub uniqid: u64,
}

impl ZoneKey {
    /// The global zone (`GLOBAL_ZONEID`, `GLOBAL_ZONEUNIQID`).
    pub const GLOBAL: ZoneKey = ZoneKey { id: ZoneId::GLOBAL, uniqid: 0 };

    /// Builds a key.
    pub const fn new(id: i32, uniqid: u64) -> ZoneKey {
        ZoneKey { id: ZoneId(id), uniqid }
    }
}

/// A datalink id (`datalink_id_t`), allocated by dlmgmtd and unique across
/// all zones.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(transparent)]
pub struct LinkId(pub u32);

impl LinkId {
    /// `DATALINK_INVALID_LINKID`.
    pub const INVALID: LinkId = LinkId(0);

    /// Rejects `DATALINK_INVALID_LINKID`.
    pub fn validate(self) -> KResult<LinkId> {
        if self == LinkId::INVALID { Err(Errno::EINVAL) } else { Ok(self) }
    }
}

/// A link name as `dladm_valid_linkname()` accepts it: 1 to 31 bytes of
/// `[A-Za-z0-9_.]`, not starting with a digit, ending with a digit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C)]
pub struct LinkName {
    len: u8,
    bytes: [u8; MAXLINKNAMELEN - 1],
}

impl LinkName {
    /// Validates `name` (without its NUL).
    ///
    /// Errors: `EINVAL` if empty or with a byte illumos does not allow,
    /// `ENAMETOOLONG` if over 31 bytes.
    pub fn new(name: &[u8]) -> KResult<LinkName> {
        LinkName::check(name)?;
        let mut bytes = [0u8; MAXLINKNAMELEN - 1];
        bytes[..name.len()].copy_from_slice(name);
        Ok(LinkName { len: name.len() as u8, bytes })
    }

    /// Validates `name` as [`new`](Self::new) does, without building it.
    pub(crate) fn check(name: &[u8]) -> KResult<()> {
        LinkName::words_of(name).map(|_| ())
    }

    /// Validates `name` as [`new`](Self::new) does and returns its words
    /// ([`to_words`](Self::to_words)), in one pass over the bytes.
    #[inline]
    pub(crate) fn words_of(name: &[u8]) -> KResult<[u64; 4]> {
        let (Some(&first), Some(&last)) = (name.first(), name.last()) else {
            return Err(Errno::EINVAL);
        };
        if name.len() >= MAXLINKNAMELEN {
            return Err(Errno::ENAMETOOLONG);
        }
        let ok_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
        if first.is_ascii_digit() || !last.is_ascii_digit() || !name.iter().all(|&b| ok_byte(b)) {
            return Err(Errno::EINVAL);
        }
        Ok(pack_words(name))
    }

    /// The name's bytes, without NUL.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        // `get`: the length is at most 31 by construction, but a slice
        // index check would be a trap site in the kernel.
        self.bytes.get(..usize::from(self.len)).unwrap_or(&self.bytes)
    }

    /// The name as text (always ASCII by construction).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }

    /// The name as a link record keeps it and the name index compares it:
    /// its bytes, zero padded to 32, read as four little-endian words. A
    /// name has no NUL, so the padding says where it ends, and its words
    /// after the last byte are 0.
    pub(crate) fn to_words(self) -> [u64; 4] {
        pack_words(self.as_bytes())
    }

    /// The name [`to_words`](Self::to_words) made; `None` for all zeros
    /// (no name: a name is never empty).
    #[inline]
    pub(crate) fn from_words(w: [u64; 4]) -> Option<LinkName> {
        // The last word in use, and its bytes in use: a name has no NUL.
        let last = w.iter().rposition(|&x| x != 0)?;
        let len = 8 * last + (8 - w[last].leading_zeros() as usize / 8);
        if len >= MAXLINKNAMELEN {
            return None;
        }
        // Word by word into place: no byte buffer copied again.
        let mut bytes = [0u8; MAXLINKNAMELEN - 1];
        let (full, tail) = bytes.split_at_mut(24);
        for (chunk, w) in full.chunks_exact_mut(8).zip(w) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        tail.copy_from_slice(&w[3].to_le_bytes()[..7]);
        Some(LinkName { len: len as u8, bytes })
    }
}

/// Up to 32 bytes as four little-endian words, zero padded; built in
/// registers (a store of bytes reloaded as words would stall).
#[inline]
fn pack_words(bytes: &[u8]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (w, chunk) in w.iter_mut().zip(bytes.chunks(8)) {
        *w = chunk.iter().rev().fold(0, |acc, &b| acc << 8 | u64::from(b));
    }
    w
}

impl fmt::Debug for LinkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for LinkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A MAC (driver instance) name such as `vnic1001`: 1 to 255 bytes of
/// `[A-Za-z0-9_.-]`. Immutable. Names of up to [`MAC_INLINE`] bytes (every
/// driver instance name illumos makes in practice) are stored inline, so
/// a link record carries its MAC name with no allocation of its own;
/// longer ones share one allocation, which a clone does not copy.
///
/// The bytes are stored with their NUL, inline or shared, so the C ABI
/// can hand out a `const char *` that lives as long as the link record
/// holding the name (`dls_devnet_mac()`): an inline name is in the record
/// itself, a shared one in an allocation the record keeps.
#[derive(Clone)]
pub struct MacName(MacRepr);

/// The longest MAC name stored inline in a [`MacName`] (its NUL makes
/// the inline bytes 22).
pub const MAC_INLINE: usize = 21;

/// C layout (`repr(u8)`: a tag byte, 0 inline or 1 shared, then the
/// variant's fields), so a crash dump's reader finds an inline name at a
/// fixed offset (`docs/debugging.md`): its length at +1, its bytes with
/// their NUL at +2; a shared name's `Arc<[u8]>` (pointer, length with the
/// NUL) at +8.
#[derive(Clone)]
#[repr(u8)]
enum MacRepr {
    Inline { len: u8, bytes: [u8; MAC_INLINE + 1] } = 0,
    Shared(Arc<[u8]>) = 1,
}

impl MacName {
    /// Validates `name` (without its NUL). Errors as for [`LinkName::new`].
    /// Allocates (may sleep in the kernel) only for a name longer than
    /// [`MAC_INLINE`] bytes.
    pub fn new(name: &[u8]) -> KResult<MacName> {
        MacName::check(name)?;
        if name.len() <= MAC_INLINE {
            // Zero-filled: the byte after the name is its NUL.
            let mut bytes = [0u8; MAC_INLINE + 1];
            bytes[..name.len()].copy_from_slice(name);
            // `check` bounds the length far below 256.
            return Ok(MacName(MacRepr::Inline { len: name.len() as u8, bytes }));
        }
        let mut v = alloc::vec::Vec::with_capacity(name.len() + 1);
        v.extend_from_slice(name);
        v.push(0);
        Ok(MacName(MacRepr::Shared(v.into())))
    }

    /// Validates `name` as [`new`](Self::new) does, without allocating.
    pub fn check(name: &[u8]) -> KResult<()> {
        if name.is_empty() {
            return Err(Errno::EINVAL);
        }
        if name.len() >= MAXMACNAMELEN {
            return Err(Errno::ENAMETOOLONG);
        }
        let ok_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.' || *b == b'-';
        if !name.iter().all(ok_byte) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// The name's bytes, without NUL.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            MacRepr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(&[]),
            MacRepr::Shared(b) => b.split_last().map_or(&[][..], |(_, name)| name),
        }
    }

    /// The name's bytes followed by one NUL: a C string, valid as long
    /// as this `MacName` (for a link's, as long as its record).
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        match &self.0 {
            MacRepr::Inline { len, bytes } => bytes.get(..=usize::from(*len)).unwrap_or(&[0]),
            MacRepr::Shared(b) => b,
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
}

impl PartialEq for MacName {
    fn eq(&self, other: &MacName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MacName {}

impl PartialOrd for MacName {
    fn partial_cmp(&self, other: &MacName) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MacName {
    fn cmp(&self, other: &MacName) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl core::hash::Hash for MacName {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for MacName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Who holds a link, and why. Every long hold carries one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum HoldKind {
    /// The link exists: taken at create, dropped at destroy or teardown.
    Existence,
    /// The global zone lent the link to another zone.
    Loan,
    /// An open DLPI stream (`dls_devnet_hold_by_dev`, `dld_str_attach`).
    Stream,
    /// An open `/dev/net` node (`dls_devnet_open`).
    DevNet,
    /// A kernel consumer's hold by id or name (`dls_devnet_hold`).
    Named,
}

impl HoldKind {
    /// Kinds that callers take and release; the other two are the
    /// registry's own.
    pub const HOLDER_KINDS: [HoldKind; 3] = [HoldKind::Stream, HoldKind::DevNet, HoldKind::Named];

    /// Index into a hold row, for the holder kinds (their order in
    /// `HOLDER_KINDS`); `None` for the registry's own kinds.
    pub(crate) fn slot(self) -> Option<usize> {
        // Arithmetic, not a match: no jump table on the release path.
        (self as usize).checked_sub(HoldKind::Stream as usize)
    }

    /// The holder kind in row slot `slot` (the inverse of
    /// [`slot`](Self::slot)); `Named` past the last. No index check.
    pub(crate) fn of_slot(slot: usize) -> HoldKind {
        match slot {
            0 => HoldKind::Stream,
            1 => HoldKind::DevNet,
            _ => HoldKind::Named,
        }
    }
}

/// One line of "who holds this link".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Holder {
    /// Why.
    pub kind: HoldKind,
    /// The zone of the holder.
    pub zone: ZoneKey,
    /// How many holds of this kind that zone has.
    pub count: u32,
}

/// A link's life cycle. Transitions only go forward.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum LinkState {
    /// Known by MAC name, no link id yet (a physical link that attached
    /// while dlmgmtd was down); invisible to lookups.
    Initializing,
    /// Visible and holdable.
    Active,
    /// Being destroyed: no new holds; still occupies its names while
    /// temporary holds drain.
    Condemned,
    /// Gone from every table; the memory lives on until the last holder
    /// lets go.
    Detached,
    /// No holder is left.
    Freed,
}

/// How `destroy` waits for temporary holds to drain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DrainWait {
    /// Refuse with `EBUSY` if any temporary hold exists (`wait=B_FALSE`).
    NoWait,
    /// Wait uninterruptibly (`cv_wait`).
    Wait,
    /// Wait, giving up with `EINTR` on a signal (`cv_wait_sig`); the link
    /// is then left exactly as it was.
    WaitSig,
}

/// A zone's state as the registry tracks it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ZoneState {
    /// Booted; may receive links.
    Running,
    /// `zone_halt` has started; nothing new may enter the zone.
    ShuttingDown,
    /// Halt finished. Links may remain ("stuck in down") until a re-run
    /// of halt or `zone_recover` moves them out.
    Down,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_follow_dladm_rules() {
        for ok in
            [&b"net0"[..], b"vnic1001", b"ip.tun0", b"a_b9", b"x123456789012345678901234567890"]
        {
            assert!(LinkName::new(ok).is_ok(), "{:?}", core::str::from_utf8(ok));
        }
        assert_eq!(LinkName::new(b""), Err(Errno::EINVAL));
        assert_eq!(LinkName::new(b"0net"), Err(Errno::EINVAL));
        assert_eq!(LinkName::new(b"net"), Err(Errno::EINVAL));
        assert_eq!(LinkName::new(b"ne t0"), Err(Errno::EINVAL));
        assert_eq!(LinkName::new(b"net/0"), Err(Errno::EINVAL));
        assert_eq!(LinkName::new(b"net\x000"), Err(Errno::EINVAL));
        assert_eq!(LinkName::new(&[b'a'; 31][..]).map(|_| ()), Err(Errno::EINVAL));
        let mut long = [b'a'; 32];
        long[31] = b'1';
        assert_eq!(LinkName::new(&long), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn link_names_round_trip_through_words() {
        for n in [&b"net0"[..], b"vnic1001", b"x123456789012345678901234567890"] {
            let name = LinkName::new(n).unwrap();
            assert_eq!(LinkName::from_words(name.to_words()), Some(name));
        }
        assert_eq!(LinkName::from_words([0; 4]), None);
    }

    #[test]
    fn mac_names_are_inline_up_to_a_bound() {
        assert_eq!(core::mem::size_of::<MacName>(), 24);
        let short = MacName::new(&[b'a'; MAC_INLINE]).unwrap();
        assert!(matches!(short.0, MacRepr::Inline { .. }));
        assert_eq!(short.as_bytes_with_nul().split_last(), Some((&0, &[b'a'; MAC_INLINE][..])));
        let long = MacName::new(&[b'a'; MAC_INLINE + 1]).unwrap();
        assert!(matches!(long.0, MacRepr::Shared(_)));
        assert_eq!(long.as_bytes(), &[b'a'; MAC_INLINE + 1][..]);
        assert_eq!(long.clone(), long);
        assert_ne!(short, long);
        assert!(short < long);
        let a = MacName::new(b"vnic1").unwrap();
        assert_eq!(a, MacName::new(b"vnic1").unwrap());
        assert_eq!(a.as_str(), "vnic1");
    }

    #[test]
    fn mac_names_are_bounded() {
        assert!(MacName::new(b"vnic1001").is_ok());
        assert_eq!(MacName::new(b""), Err(Errno::EINVAL));
        assert_eq!(MacName::new(b"a b"), Err(Errno::EINVAL));
        assert_eq!(MacName::new(&[b'a'; 256]), Err(Errno::ENAMETOOLONG));
        assert!(MacName::new(&[b'a'; 255]).is_ok());
        let m = MacName::new(b"vnic1001").unwrap();
        assert_eq!(m.as_bytes(), b"vnic1001");
        assert_eq!(m.as_bytes_with_nul(), b"vnic1001\0");
        assert_eq!(m.as_str(), "vnic1001");
        let long = [b'a'; 255];
        let m = MacName::new(&long).unwrap();
        assert_eq!(m.as_bytes(), &long[..]);
        assert_eq!(m.as_bytes_with_nul().split_last(), Some((&0, &long[..])));
    }

    #[test]
    fn holder_kinds_have_their_slots() {
        for (i, k) in HoldKind::HOLDER_KINDS.iter().enumerate() {
            assert_eq!(k.slot(), Some(i));
            assert_eq!(HoldKind::of_slot(i), *k);
        }
        assert_eq!((HoldKind::Existence.slot(), HoldKind::Loan.slot()), (None, None));
    }

    #[test]
    fn zone_and_link_ids() {
        assert_eq!(ZoneId(-1).validate(), Err(Errno::EINVAL));
        assert_eq!(ZoneId(10000).validate(), Err(Errno::EINVAL));
        assert!(ZoneId(9999).validate().is_ok());
        assert_eq!(LinkId::INVALID.validate(), Err(Errno::EINVAL));
    }
}
