//! The upcall rules of illumos' `i_dls_mgmt_upcall()` and the
//! `dls_mgmt_*` wrappers of `dls_mgmt.c`, over a small trait.
//!
//! # The rules (`i_dls_mgmt_upcall()` in current gate)
//!
//! 1. Under the door lock, take the registered door; if there is none, or
//!    it is revoked (`door_ki_info()` fails or reports `DOOR_REVOKED`, or
//!    the system is shutting down), fail with `EBADF` without calling.
//!    Otherwise hold it and drop the lock.
//! 2. Call it (`door_ki_upcall_limited(dh, &arg, zone_kcred(), SIZE_MAX,
//!    0)`: the calling thread's zone's kernel credential, so dlmgmtd sees
//!    the caller's zone). Every call counts one attempt; there are at most
//!    [`MAXRETRYNUM`] (3) attempts in all.
//! 3. `EINTR`: return it at once (the operation that caused the upcall
//!    was interrupted).
//! 4. `EAGAIN`: if fewer than 3 attempts were made, wait 2 seconds
//!    (`delay(2 * hz)`) and call the same door again; otherwise log and
//!    return `EAGAIN`.
//! 5. Any other door error: if the door is now revoked (dlmgmtd went away)
//!    and fewer than 3 attempts were made, release it and start again at
//!    rule 1, which picks up a door a restarted dlmgmtd has registered
//!    meanwhile, or fails with `EBADF`; otherwise log and return the door
//!    error unchanged. The attempt count carries over.
//! 6. On success: if the door layer had to put the reply in a buffer of
//!    its own (the reply was larger than expected), free it and fail with
//!    `ENOSPC`; if the reply's size is not exactly the expected one, fail
//!    with `EINVAL`; otherwise the result is the reply's `lr_err`.
//!
//! One difference, deliberate: gate returns `lr_err` whatever its value;
//! here an `lr_err` that is no illumos errno (over 151) is `EINVAL`, as
//! any reply the kernel cannot make sense of.
//!
//! # The trait
//!
//! [`DoorPort`] is what the rules need from the kernel: hold and release
//! the registered door, call it, ask whether it is revoked, sleep, log.
//! The kernel implements it over `door_ki_*`, `delay()` and `cmn_err()`;
//! tests implement it with a script.

use super::proto::{
    DATALINK_INVALID_LINKID, DatalinkClass, DatalinkMedia, DlmgmtDoorGetlinkid, DlmgmtDoorGetname,
    DlmgmtDoorGetnext, DlmgmtDoorLinkpropInit, DlmgmtDoorSetzoneid, DlmgmtGetattrRetval,
    DlmgmtGetnameRetval, DlmgmtLinkidRetval, DlmgmtRetval, DlmgmtUpcallArgCreate,
    DlmgmtUpcallArgDestroy, DlmgmtUpcallArgGetattr, DlmgmtUpcallArgUpdate, FPHYINST, FPHYMAJ,
    LinkFlags, MAXLINKNAMELEN, Wire,
};
use super::{RawErrno, UpcallResult};
use crate::errno::{Errno, KResult};

/// Attempts per upcall (`MAXRETRYNUM` in `dls_mgmt.c`).
pub const MAXRETRYNUM: u32 = 3;

/// The wait between attempts after `EAGAIN`: 2 seconds (`delay(2 * hz)`).
pub const EAGAIN_DELAY_USEC: u64 = 2_000_000;

/// Where a successful door call left its reply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Delivered {
    /// In the caller's buffer; this many bytes of it.
    InPlace(usize),
    /// In a buffer the door layer allocated because the reply did not fit;
    /// the implementation has already freed it (`kmem_free(darg.rbuf,
    /// darg.rsize)` when `darg.rbuf` changed).
    Relocated,
}

/// Something gate reports with `cmn_err()` during an upcall.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpcallEvent {
    /// `CE_NOTE` "dlmgmtd door service revoked": a call failed and the
    /// door turned out to be revoked.
    Revoked,
    /// `CE_WARN` "dlmgmtd fatal error": the upcall gives up with this
    /// error (after the last `EAGAIN`, or a door error).
    Fatal(RawErrno),
}

/// What the upcall rules need from the kernel.
///
/// Implementations may block in every method except
/// [`DoorPort::revoked`] and [`DoorPort::event`]; the rules call them with
/// no lock of their own held.
pub trait DoorPort {
    /// A held door handle (`door_handle_t` after `door_ki_hold()`).
    type Door;

    /// The registered door, held, or `None` when dlmgmtd has not
    /// registered one or it is revoked (the caller then fails with
    /// `EBADF`). In the kernel: under the door lock, `NULL` or revoked
    /// gives `None`, otherwise `door_ki_hold()`.
    fn hold(&self) -> Option<Self::Door>;

    /// Releases a door from [`DoorPort::hold`] (`door_ki_rele()`).
    fn release(&self, door: Self::Door);

    /// One door call with `req` as the argument and `reply` as the result
    /// buffer (`door_ki_upcall_limited()`); the door error on failure.
    fn call(&self, door: &Self::Door, req: &[u8], reply: &mut [u8]) -> Result<Delivered, RawErrno>;

    /// Whether the door is revoked now (`door_ki_info()` fails or has
    /// `DOOR_REVOKED`, or `sys_shutdown` is set).
    fn revoked(&self, door: &Self::Door) -> bool;

    /// Sleeps `usec` microseconds (`delay(drv_usectohz(usec))`).
    fn delay(&self, usec: u64);

    /// Reports an event (`cmn_err()` in the kernel). The default does
    /// nothing.
    fn event(&self, _ev: UpcallEvent) {}
}

/// Makes one upcall with the rules above: sends `req`, expects a reply of
/// exactly `reply.len()` bytes, and returns its `lr_err`.
pub fn upcall<P: DoorPort>(port: &P, req: &[u8], reply: &mut [u8]) -> UpcallResult<()> {
    let mut attempts: u32 = 0;
    loop {
        let Some(door) = port.hold() else {
            return Err(Errno::EBADF.into());
        };
        loop {
            attempts = attempts.saturating_add(1);
            match port.call(&door, req, reply) {
                Ok(d) => {
                    port.release(door);
                    return finish(d, reply);
                }
                Err(e) if e.is(Errno::EINTR) => {
                    port.release(door);
                    return Err(e);
                }
                Err(e) if e.is(Errno::EAGAIN) => {
                    if attempts < MAXRETRYNUM {
                        port.delay(EAGAIN_DELAY_USEC);
                        continue;
                    }
                    port.event(UpcallEvent::Fatal(e));
                    port.release(door);
                    return Err(e);
                }
                Err(e) => {
                    if port.revoked(&door) {
                        port.event(UpcallEvent::Revoked);
                        if attempts < MAXRETRYNUM {
                            port.release(door);
                            break;
                        }
                    }
                    port.event(UpcallEvent::Fatal(e));
                    port.release(door);
                    return Err(e);
                }
            }
        }
    }
}

/// Rule 6: the reply's place and size, then its `lr_err`.
fn finish(d: Delivered, reply: &[u8]) -> UpcallResult<()> {
    match d {
        Delivered::Relocated => Err(Errno::ENOSPC.into()),
        Delivered::InPlace(n) if n != reply.len() => Err(Errno::EINVAL.into()),
        Delivered::InPlace(_) => {
            let word = reply.get(..4).and_then(|w| <[u8; 4]>::try_from(w).ok());
            let Some(word) = word else {
                return Err(Errno::EINVAL.into());
            };
            match u32::from_ne_bytes(word) {
                0 => Ok(()),
                // RawErrno::new refuses anything over MAX_ERRNO.
                e => Err(RawErrno::new(i64::from(e)).unwrap_or(Errno::EINVAL.into())),
            }
        }
    }
}

/// Encodes `req`, makes the upcall, and decodes the reply as `R`, so the
/// caller sees either dlmgmtd's error or a checked reply. An `lr_err` of
/// `keep` (if any) still yields the decoded reply, for the one wrapper
/// that reads the body of a failed reply (`dls_mgmt_update()` on
/// `EEXIST`).
fn exchange<P: DoorPort, Q: Wire, R: Wire>(
    port: &P,
    req: &Q,
    keep: Option<Errno>,
) -> Result<R, (RawErrno, Option<R>)> {
    // Buffers of exactly the request's and the reply's size: a small
    // command's frame stays small.
    let mut rq = Q::buf();
    let mut rp = R::buf();
    req.encode_into(rq.as_mut()).map_err(|e| (RawErrno::from(e), None))?;
    let res = upcall(port, rq.as_ref(), rp.as_mut());
    match res {
        Ok(()) => R::decode(rp.as_ref()).map_err(|e| (RawErrno::from(e), None)),
        Err(e) if keep.is_some_and(|k| e.is(k)) => Err((e, R::decode(rp.as_ref()).ok())),
        Err(e) => Err((e, None)),
    }
}

fn plain<T>(r: Result<T, (RawErrno, Option<impl Sized>)>) -> UpcallResult<T> {
    r.map_err(|(e, _)| e)
}

fn check(ok: bool) -> UpcallResult<()> {
    if ok { Ok(()) } else { Err(Errno::EINVAL.into()) }
}

/// `dls_mgmt_create()`: asks dlmgmtd for a link id for a new link.
///
/// A device name that does not fit in `MAXNAMELEN` with its NUL is
/// `EINVAL`, as in gate. dlmgmtd's `EEXIST` (name taken), `EACCES` (no
/// privilege), ... come back unchanged; `EBADF` when it is not running.
pub fn create<P: DoorPort>(
    port: &P,
    devname: &[u8],
    phymaj: u64,
    phyinst: u64,
    class: DatalinkClass,
    media: u32,
    persist: bool,
) -> UpcallResult<u32> {
    let req = DlmgmtUpcallArgCreate::new(devname, phymaj, phyinst, class, media, persist)
        .map_err(|_| RawErrno::from(Errno::EINVAL))?;
    let r: DlmgmtLinkidRetval = plain(exchange(port, &req, None))?;
    check(r.lr_linkid != DATALINK_INVALID_LINKID)?;
    Ok(r.lr_linkid)
}

/// `dls_mgmt_destroy()`: tells dlmgmtd a link is gone.
pub fn destroy<P: DoorPort>(port: &P, linkid: u32, persist: bool) -> UpcallResult<()> {
    let req = DlmgmtUpcallArgDestroy::new(linkid, persist)?;
    plain(exchange::<P, _, DlmgmtRetval>(port, &req, None)).map(|_| ())
}

/// The `EEXIST` answer of `DLS_UPDATE`: the existing link and its media.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UpdateConflict {
    /// The existing link's id.
    pub linkid: u32,
    /// The existing link's media type (differs from the one asked for
    /// when that is the conflict).
    pub media: u32,
}

/// Failure of [`update`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpdateError {
    /// dlmgmtd answered `EEXIST` and said which link conflicts; the C
    /// wrapper stores both values and returns `EEXIST`, as gate does.
    Conflict(UpdateConflict),
    /// Any other failure.
    Other(RawErrno),
}

impl UpdateError {
    /// The errno the C wrapper returns.
    pub fn errno(self) -> RawErrno {
        match self {
            UpdateError::Conflict(_) => Errno::EEXIST.into(),
            UpdateError::Other(e) => e,
        }
    }
}

/// `dls_mgmt_update()`: checks and updates a reattaching physical link;
/// its link id on success.
pub fn update<P: DoorPort>(
    port: &P,
    devname: &[u8],
    media: u32,
    novanity: bool,
) -> Result<u32, UpdateError> {
    let req = DlmgmtUpcallArgUpdate::new(devname, media, novanity)
        .map_err(|_| UpdateError::Other(Errno::EINVAL.into()))?;
    match exchange::<P, _, DlmgmtLinkidRetval>(port, &req, Some(Errno::EEXIST)) {
        Ok(r) if r.lr_linkid != DATALINK_INVALID_LINKID => Ok(r.lr_linkid),
        Ok(_) => Err(UpdateError::Other(Errno::EINVAL.into())),
        Err((_, Some(r))) if r.lr_linkid != DATALINK_INVALID_LINKID => {
            Err(UpdateError::Conflict(UpdateConflict { linkid: r.lr_linkid, media: r.lr_media }))
        }
        Err((e, Some(_))) => Err(UpdateError::Other(e)),
        Err((e, None)) => Err(UpdateError::Other(e)),
    }
}

/// What `GETNAME` says about a link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LinkInfo {
    name: [u8; MAXLINKNAMELEN],
    /// The link's class (one known class).
    pub class: DatalinkClass,
    /// Its media type.
    pub media: u32,
    /// Its flags.
    pub flags: LinkFlags,
}

impl LinkInfo {
    /// The link name in the caller's zone, without its NUL.
    pub fn name(&self) -> &[u8] {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(self.name.len());
        self.name.get(..n).unwrap_or(&self.name)
    }

    /// The name as a NUL-terminated `MAXLINKNAMELEN` field, ready to copy
    /// into a caller's `char link[MAXLINKNAMELEN]`.
    pub fn name_field(&self) -> &[u8; MAXLINKNAMELEN] {
        &self.name
    }
}

/// `dls_mgmt_get_linkinfo()`: a link's name, class, media and flags, as
/// dlmgmtd sees them from the calling thread's zone (`ENOENT` for a link
/// that zone cannot see). A reply whose name is unterminated or shorter
/// than 2 characters, or whose class is unknown, is `EINVAL`.
pub fn get_linkinfo<P: DoorPort>(port: &P, linkid: u32) -> UpcallResult<LinkInfo> {
    let req = DlmgmtDoorGetname::new(linkid)?;
    let r: DlmgmtGetnameRetval = plain(exchange(port, &req, None))?;
    let mut name = [0u8; MAXLINKNAMELEN];
    let src = r.link();
    match name.get_mut(..src.len()) {
        Some(dst) => dst.copy_from_slice(src),
        None => return Err(Errno::EINVAL.into()),
    }
    Ok(LinkInfo {
        name,
        class: DatalinkClass(r.lr_class),
        media: r.lr_media,
        flags: LinkFlags(r.lr_flags),
    })
}

/// `dls_mgmt_get_linkid()`: the id of link `name` in `zone`'s namespace
/// (`None`: the calling thread's zone; an explicit zone is honoured by
/// dlmgmtd only for a global-zone caller).
///
/// A name that cannot exist (empty, or 32 bytes or longer) is `ENOENT`
/// without an upcall; gate truncates a long name to 31 bytes and looks
/// that up, which can find a different link. A zone id outside
/// `0..=MAX_ZONEID` is `EINVAL`.
pub fn get_linkid<P: DoorPort>(port: &P, name: &[u8], zone: Option<i32>) -> UpcallResult<u32> {
    if name.is_empty() || name.len() >= MAXLINKNAMELEN || name.contains(&0) {
        return Err(Errno::ENOENT.into());
    }
    let req = DlmgmtDoorGetlinkid::new(name, zone)?;
    let r: DlmgmtLinkidRetval = plain(exchange(port, &req, None))?;
    check(r.lr_linkid != DATALINK_INVALID_LINKID && DatalinkClass(r.lr_class).is_class())?;
    Ok(r.lr_linkid)
}

/// The link `GETNEXT` found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NextLink {
    /// Its id (greater than the one asked after).
    pub linkid: u32,
    /// Its class.
    pub class: DatalinkClass,
    /// Its media type.
    pub media: u32,
    /// Its flags.
    pub flags: LinkFlags,
}

/// `GETNEXT`: the first link after `after` that the calling zone can see
/// and that matches the filters (`ENOENT` at the end).
pub fn next<P: DoorPort>(
    port: &P,
    after: u32,
    classes: DatalinkClass,
    media: DatalinkMedia,
    flags: LinkFlags,
) -> UpcallResult<NextLink> {
    let req = DlmgmtDoorGetnext::new(after, classes, media, flags)?;
    let r: DlmgmtLinkidRetval = plain(exchange(port, &req, None))?;
    check(r.lr_linkid > after && DatalinkClass(r.lr_class).is_class())?;
    Ok(NextLink {
        linkid: r.lr_linkid,
        class: DatalinkClass(r.lr_class),
        media: r.lr_media,
        flags: LinkFlags(r.lr_flags),
    })
}

/// `dls_mgmt_get_next()`: as [`next`], but any failure (the end of the
/// walk, dlmgmtd down, a bad reply, bad filters) gives
/// `DATALINK_INVALID_LINKID`, as gate's callers expect.
///
/// A reply whose id is not past `after` also ends the walk: a daemon that
/// answered so would make the `/dev/net` readdir loop forever.
pub fn get_next<P: DoorPort>(
    port: &P,
    after: u32,
    classes: DatalinkClass,
    media: DatalinkMedia,
    flags: LinkFlags,
) -> u32 {
    next(port, after, classes, media, flags).map_or(DATALINK_INVALID_LINKID, |n| n.linkid)
}

/// `i_dls_mgmt_get_linkattr()`: copies attribute `attr` of a link into
/// `out` and returns its size; `EINVAL` if `out` is too small.
pub fn get_linkattr<P: DoorPort>(
    port: &P,
    linkid: u32,
    attr: &[u8],
    out: &mut [u8],
) -> UpcallResult<usize> {
    let req = DlmgmtUpcallArgGetattr::new(linkid, attr)?;
    // Not through `exchange`: the value is read in place from the one
    // reply buffer (see `DlmgmtGetattrRetval::value_in`).
    let mut rq = DlmgmtUpcallArgGetattr::buf();
    req.encode_into(&mut rq)?;
    let mut rp = DlmgmtGetattrRetval::buf();
    upcall(port, &rq, &mut rp)?;
    let v = DlmgmtGetattrRetval::value_in(&rp)?;
    let Some(dst) = out.get_mut(..v.len()) else {
        return Err(Errno::EINVAL.into());
    };
    dst.copy_from_slice(v);
    Ok(v.len())
}

/// `dls_mgmt_get_phydev()`: the physical device of a physical link as
/// `(major, minor)`, for the caller to pass to `makedevice()`.
///
/// As in gate, every failure is `EINVAL`, including dlmgmtd being down
/// (`EBADF`) and the link not existing (`ENOENT`): its callers only ask
/// "is this a physical link I can hold?".
pub fn get_phydev<P: DoorPort>(port: &P, linkid: u32) -> KResult<(u64, u64)> {
    let one = |attr: &[u8]| -> KResult<u64> {
        let mut v = [0u8; 8];
        match get_linkattr(port, linkid, attr, &mut v) {
            Ok(8) => Ok(u64::from_ne_bytes(v)),
            _ => Err(Errno::EINVAL),
        }
    };
    let maj = one(FPHYMAJ)?;
    let inst = one(FPHYINST)?;
    Ok((maj, inst))
}

/// `dls_mgmt_linkprop_init()`: asks dlmgmtd to push the link's
/// properties into the kernel (it does so through dld ioctls before it
/// replies).
pub fn linkprop_init<P: DoorPort>(port: &P, linkid: u32) -> UpcallResult<()> {
    let req = DlmgmtDoorLinkpropInit::new(linkid)?;
    plain(exchange::<P, _, DlmgmtRetval>(port, &req, None)).map(|_| ())
}

/// `SETZONEID`: tells dlmgmtd that a link is now in `zoneid`. dlmgmtd
/// accepts it only from the global zone (`EACCES` otherwise) and only for
/// an active link.
pub fn setzoneid<P: DoorPort>(port: &P, linkid: u32, zoneid: i32) -> UpcallResult<()> {
    let req = DlmgmtDoorSetzoneid::new(linkid, zoneid)?;
    plain(exchange::<P, _, DlmgmtRetval>(port, &req, None)).map(|_| ())
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests;
