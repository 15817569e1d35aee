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
        if name.is_empty() {
            return Err(Errno::EINVAL);
        }
        if name.len() >= MAXLINKNAMELEN {
            return Err(Errno::ENAMETOOLONG);
        }
        let ok_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.';
        if !name.iter().all(ok_byte)
            || name[0].is_ascii_digit()
            || !name[name.len() - 1].is_ascii_digit()
        {
            return Err(Errno::EINVAL);
        }
        let mut bytes = [0u8; MAXLINKNAMELEN - 1];
        bytes[..name.len()].copy_from_slice(name);
        Ok(LinkName { len: name.len() as u8, bytes })
    }

    /// The name's bytes, without NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The name as text (always ASCII by construction).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
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
/// `[A-Za-z0-9_.-]`. Immutable and shared: a clone (the MAC index's key)
/// costs a reference count, never an allocation.
///
/// The bytes are stored with their NUL, so the C ABI can hand out a
/// `const char *` that lives as long as the link (`dls_devnet_mac()`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacName(Arc<[u8]>);

impl MacName {
    /// Validates `name` (without its NUL). Errors as for [`LinkName::new`].
    /// Allocates (may sleep in the kernel).
    pub fn new(name: &[u8]) -> KResult<MacName> {
        MacName::check(name)?;
        let mut v = alloc::vec::Vec::with_capacity(name.len() + 1);
        v.extend_from_slice(name);
        v.push(0);
        Ok(MacName(v.into()))
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
    pub fn as_bytes(&self) -> &[u8] {
        self.0.split_last().map_or(&[][..], |(_, name)| name)
    }

    /// The name's bytes followed by one NUL: a C string.
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        &self.0
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
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

    /// Index into a hold row, for the holder kinds.
    pub(crate) fn slot(self) -> Option<usize> {
        match self {
            HoldKind::Stream => Some(0),
            HoldKind::DevNet => Some(1),
            HoldKind::Named => Some(2),
            HoldKind::Existence | HoldKind::Loan => None,
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
    }

    #[test]
    fn zone_and_link_ids() {
        assert_eq!(ZoneId(-1).validate(), Err(Errno::EINVAL));
        assert_eq!(ZoneId(10000).validate(), Err(Errno::EINVAL));
        assert!(ZoneId(9999).validate().is_ok());
        assert_eq!(LinkId::INVALID.validate(), Err(Errno::EINVAL));
    }
}
