//! The door to dlmgmtd: the slot holding its `door_handle_t`, and the
//! [`DoorPort`](crate::door::upcall::DoorPort) the upcall rules of
//! `crate::door::upcall` run over (`door_ki_*`, `zone_kcred()`, `delay()`,
//! `cmn_err()`).
//!
//! # The slot
//!
//! One `door_handle_t` behind a `kmutex_t`: null until dlmgmtd registers
//! (`open`, from `DLDIOC_DOORSERVER`), replaced when it registers again,
//! cleared when it leaves (`close`). The lock is a leaf: it is held only
//! to read or swap the handle and, for an upcall, to take a reference on
//! it (`door_ki_hold()`, which takes the file's own `f_tlock`). Opening
//! the door file (a path lookup, may sleep), asking whether it is revoked
//! and releasing a reference are all done after the lock is dropped, and
//! no upcall is ever made under it.
//!
//! # An upcall
//!
//! `hold` takes a reference on the registered door and refuses one that
//! is revoked (`door_ki_info()` fails or says `DOOR_REVOKED`) or a system
//! that is shutting down (`sys_shutdown`), as gate's upcall does before
//! calling; `call` is one `door_ki_upcall_limited(dh, &arg, zone_kcred(),
//! SIZE_MAX, 0)`, so dlmgmtd sees the calling thread's zone, and no
//! descriptors can come back. The reply's size is `data_size` on return:
//! the door layer leaves `rsize` at the caller's buffer size when the
//! reply fits (`door_results()`), so `rsize` cannot tell a reply cut
//! short. A reply too large for the caller's buffer is put by the door
//! layer in a buffer of its own (`rbuf` and `rsize` then describe it),
//! which `call` frees (`kmem_free(rbuf, rsize)`) before reporting it.
//!
//! The module's fini does not release the registered door, as gate's
//! `dls_mgmt_fini()` does not: the door's life is dlmgmtd's register and
//! unregister, and a module whose unload fails after its fini keeps
//! serving upcalls.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::door::upcall::{Delivered, UpcallEvent};
use crate::kmod::log::{self, Dest, Level};
use crate::kmod::logbuf::LogBuf;

/// Where a successful door call left its reply: in the buffer the caller
/// passed (`sent_rbuf`) if the door layer kept it, with `got_size` bytes
/// (`data_size` on return); elsewhere (a buffer the door layer
/// allocated) if `got_rbuf` differs.
pub fn delivered(sent_rbuf: usize, got_rbuf: usize, got_size: usize) -> Delivered {
    if got_rbuf == sent_rbuf { Delivered::InPlace(got_size) } else { Delivered::Relocated }
}

/// The `cmn_err()` level of an upcall event, as gate reports it.
pub fn event_level(ev: UpcallEvent) -> Level {
    match ev {
        UpcallEvent::Revoked => Level::NOTE,
        UpcallEvent::Fatal(_) => Level::WARN,
    }
}

/// Reports an upcall event on the console and in the system log
/// (`cmn_err(level, "%s", text)`). Never sleeps.
pub fn report(ev: UpcallEvent) {
    let level = event_level(ev);
    match ev {
        UpcallEvent::Revoked => {
            log::log_cstr(level, Dest::Both, c"dls: dlmgmtd door revoked");
        }
        UpcallEvent::Fatal(e) => {
            // Out of line: the only formatted message on the upcall path.
            fatal(level, e.get());
        }
    }
}

/// The message of an upcall that gives up, with its errno.
#[cold]
#[inline(never)]
fn fatal(level: Level, errno: i32) {
    let mut buf = LogBuf::<64>::default();
    buf.push_str("dls: dlmgmtd upcall failed: error ");
    buf.push_i64(i64::from(errno));
    log::emit(level, Dest::Both, &mut buf);
}

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::mem;
    use core::ptr;

    use super::{delivered, report};
    use crate::door::RawErrno;
    use crate::door::proto::DLMGMT_DOOR;
    use crate::door::upcall::{Delivered, DoorPort, UpcallEvent};
    use crate::ffi;
    use crate::kmod::cabi;
    use crate::kmod::kmutex::StaticMutex;
    use crate::kmod::log::{self, Dest, Level};
    use crate::kmod::zone;

    /// The registered door handle, or null.
    struct Slot(ffi::door_handle_t);

    // SAFETY: a door handle is a counted file reference, usable and
    // releasable from any thread; the mutex serialises access to the word.
    unsafe impl Send for Slot {}

    /// dlmgmtd's door, as `dls_mgmt_door_set()` registered it.
    static SLOT: StaticMutex<Slot> = StaticMutex::new(Slot(ptr::null_mut()));

    /// `mutex_init()` of the slot's lock; from the module's init.
    pub fn init() {
        SLOT.init();
    }

    /// `mutex_destroy()` of the slot's lock; from the module's fini. The
    /// registered door, if any, stays registered (see the module doc).
    pub fn fini() {
        SLOT.destroy();
    }

    /// Opens dlmgmtd's door file (`door_ki_open(DLMGMT_DOOR)`) and makes
    /// it the registered door; the door registered before, if any, is
    /// released whether or not the open worked (so after a failed open
    /// upcalls fail with `EBADF`, as in gate). Sleeps (path lookup).
    pub fn open() -> Result<(), RawErrno> {
        let mut dh: ffi::door_handle_t = ptr::null_mut();
        // SAFETY: DLMGMT_DOOR is a NUL-terminated path (checked by a unit
        // test of crate::door::proto) that door_ki_open() only reads,
        // though its parameter is `char *`; `dh` is a local it writes on
        // success.
        let err = unsafe { ffi::door_ki_open(DLMGMT_DOOR.as_ptr().cast_mut().cast(), &mut dh) };
        let new = if err == 0 { dh } else { ptr::null_mut() };
        let old = mem::replace(&mut SLOT.lock().0, new);
        rele(old);
        cabi::check(err)
    }

    /// Unregisters the door and releases it: upcalls fail with `EBADF`
    /// until the next [`open`]. An upcall in progress keeps its own
    /// reference and finishes.
    pub fn close() {
        let old = mem::replace(&mut SLOT.lock().0, ptr::null_mut());
        rele(old);
    }

    /// `door_ki_rele()` of a handle taken out of the slot, if any.
    fn rele(dh: ffi::door_handle_t) {
        if !dh.is_null() {
            // SAFETY: the slot owned one reference on `dh`, now ours.
            unsafe { ffi::door_ki_rele(dh) };
        }
    }

    /// A reference on the registered door (`door_ki_hold()`), for the
    /// length of one upcall. [`DlmgmtDoor::release`] gives it back.
    pub struct HeldDoor(ffi::door_handle_t);

    /// The upcall port over the registered door. Zero-sized: the state is
    /// the module-wide slot.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct DlmgmtDoor;

    impl DoorPort for DlmgmtDoor {
        type Door = HeldDoor;

        fn hold(&self) -> Option<HeldDoor> {
            let dh = {
                let slot = SLOT.lock();
                if slot.0.is_null() {
                    return None;
                }
                // SAFETY: the slot's reference keeps the handle valid while
                // the lock is held; this adds one for the caller.
                unsafe { ffi::door_ki_hold(slot.0) };
                slot.0
            };
            let door = HeldDoor(dh);
            if self.revoked(&door) {
                self.release(door);
                return None;
            }
            Some(door)
        }

        fn release(&self, door: HeldDoor) {
            rele(door.0);
        }

        fn call(
            &self,
            door: &HeldDoor,
            req: &[u8],
            reply: &mut [u8],
        ) -> Result<Delivered, RawErrno> {
            let sent = reply.as_mut_ptr();
            let mut arg = ffi::door_arg_t {
                // The door layer only reads the request (it copies it out
                // to the server), whatever the pointer's constness.
                data_ptr: req.as_ptr().cast_mut().cast(),
                data_size: req.len(),
                desc_ptr: ptr::null_mut(),
                desc_num: 0,
                rbuf: sent.cast(),
                rsize: reply.len(),
            };
            // SAFETY: `door` is held; `arg` points at `req` and `reply`,
            // both valid for the whole (blocking) call; max_desc 0 means no
            // descriptor is ever written into `reply`. zone_kcred() needs
            // no hold (the zone outlives this thread).
            let err = unsafe {
                ffi::door_ki_upcall_limited(door.0, &mut arg, zone::kcred(), usize::MAX, 0)
            };
            cabi::check(err)?;
            let got = arg.rbuf;
            // The reply's size: `rsize` stays the buffer's when it fits.
            let d = delivered(sent.addr(), got.addr(), arg.data_size);
            if d == Delivered::Relocated && !got.is_null() {
                // SAFETY: the door layer allocated `got` with kmem_alloc()
                // for `size` bytes because the reply did not fit in `reply`;
                // the caller of the upcall owns it now.
                unsafe { ffi::kmem_free(got.cast(), arg.rsize) };
            }
            Ok(d)
        }

        fn revoked(&self, door: &HeldDoor) -> bool {
            // SAFETY: a plain read of an int the kernel sets once, at
            // shutdown.
            if unsafe { (&raw const ffi::sys_shutdown).read_volatile() } != 0 {
                log::log_cstr(
                    Level::NOTE,
                    Dest::Both,
                    c"dls: system shutting down, dlmgmtd door closed",
                );
                return true;
            }
            // SAFETY: door_info_t is plain integers, so zeroes are a valid
            // value; door_ki_info() fills it for a held handle.
            let mut info: ffi::door_info_t = unsafe { mem::zeroed() };
            // SAFETY: `door` is held; `info` is a local.
            if unsafe { ffi::door_ki_info(door.0, &mut info) } != 0 {
                return true;
            }
            // Copied out by value: the structure is 4-byte packed.
            let attributes = info.di_attributes;
            attributes & (ffi::DOOR_REVOKED as ffi::door_attr_t) != 0
        }

        fn delay(&self, usec: u64) {
            let usec = ffi::clock_t::try_from(usec).unwrap_or(ffi::clock_t::MAX);
            // SAFETY: plain conversions and a sleep; the upcall rules call
            // this with no lock held.
            unsafe { ffi::delay(ffi::drv_usectohz(usec)) };
        }

        fn event(&self, ev: UpcallEvent) {
            report(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    #[test]
    fn a_moved_reply_buffer_is_relocated() {
        assert_eq!(delivered(0x1000, 0x1000, 8), Delivered::InPlace(8));
        assert_eq!(delivered(0x1000, 0x1000, 0), Delivered::InPlace(0));
        assert_eq!(delivered(0x1000, 0x2000, 4096), Delivered::Relocated);
    }

    #[test]
    fn events_have_gates_levels_and_log_without_panicking() {
        assert_eq!(event_level(UpcallEvent::Revoked), Level::NOTE);
        let fatal = UpcallEvent::Fatal(Errno::EBADF.into());
        assert_eq!(event_level(fatal), Level::WARN);
        report(UpcallEvent::Revoked);
        report(fatal);
    }
}
