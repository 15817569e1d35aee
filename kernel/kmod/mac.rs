//! MAC: names, the MAC perimeter, renaming the primary client, and
//! exclusive use.
//!
//! # The perimeter
//!
//! The MAC perimeter of a MAC serialises control operations on it; it is
//! entered by handle (`mac_perim_enter_by_mh()`: the caller already holds
//! the MAC) or by name (`mac_perim_enter_by_macname()`, which opens the
//! MAC and keeps that reference until the exit). It comes before every
//! dls and registry lock (`docs/locking.md`), so it is entered with none
//! held. The handle ([`Perim`]) is an opaque integer the kernel made.
//!
//! # Exclusive use
//!
//! `mac_mark_exclusive()` succeeds only when the MAC has exactly two
//! references, its `dls_link_t`'s and the one a perimeter entered *by
//! name* holds, and then refuses every other `mac_open()` until
//! `mac_unmark_exclusive()`. So [`mark_exclusive`] must be called inside a
//! perimeter entered by name, and it gets the handle with an open and a
//! close (the perimeter's reference keeps the handle valid), as gate's
//! rename does. The unmark cannot get the handle by name again (the open
//! would fail with `EBUSY`), so the marks are remembered: a small table of
//! marked handles behind a leaf mutex, looked up by `mac_name()` at unmark
//! time. A MAC in the table is marked, so it cannot go away, and its name
//! is valid while the table's lock is held.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use alloc::vec::Vec;

use crate::door::RawErrno;
use crate::errno::Errno;

/// The MACs marked exclusive, as opaque handles.
#[derive(Default, Debug)]
pub struct Marks {
    handles: Vec<usize>,
}

impl Marks {
    /// An empty table (no allocation until the first mark).
    pub const fn new() -> Self {
        Marks { handles: Vec::new() }
    }

    /// Records the marked handle `mh`. `ENOMEM` only if the table cannot
    /// grow (capacity overflow: never, in practice).
    pub fn add(&mut self, mh: usize) -> Result<(), RawErrno> {
        self.handles.try_reserve(1).map_err(|_| RawErrno::from(Errno::ENOMEM))?;
        self.handles.push(mh);
        Ok(())
    }

    /// Removes and returns the first handle `is_it` accepts.
    pub fn take(&mut self, mut is_it: impl FnMut(usize) -> bool) -> Option<usize> {
        let i = self.handles.iter().position(|&h| is_it(h))?;
        Some(self.handles.swap_remove(i))
    }

    /// How many MACs are marked.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether no MAC is marked.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

#[cfg(kmod)]
pub use self::kernel::*;

#[cfg(kmod)]
mod kernel {
    use core::ptr;

    use super::Marks;
    use crate::door::RawErrno;
    use crate::errno::Errno;
    use crate::ffi;
    use crate::kmod::cabi;
    use crate::kmod::kmutex::StaticMutex;

    /// A perimeter entered (`mac_perim_handle_t`), as an opaque integer.
    pub type Perim = usize;

    /// The handles of the MACs marked exclusive by [`mark_exclusive`].
    static MARKS: StaticMutex<Marks> = StaticMutex::new(Marks::new());

    /// `mutex_init()` of the marks' lock; from the module's init.
    pub fn init() {
        MARKS.init();
    }

    /// Frees the marks table and destroys its lock; from the module's
    /// fini. A MAC still marked then (a caller that never unmarked) stays
    /// marked: nothing can unmark it without its handle.
    pub fn fini() {
        drop(core::mem::take(&mut *MARKS.lock()));
        MARKS.destroy();
    }

    /// The name of MAC `mh` (`mac_name()`), without its NUL; `None` for a
    /// name longer than `MAXNAMELEN` allows (which MAC never registers).
    ///
    /// # Safety
    ///
    /// `mh` is a MAC handle that stays valid for the returned lifetime.
    unsafe fn name_of<'a>(mh: usize) -> Option<&'a [u8]> {
        // SAFETY: mac_name() returns the MAC's own NUL-terminated name (at
        // most MAXNAMELEN bytes), which lives as long as the MAC (the
        // caller's promise).
        unsafe { cabi::from_c(ffi::mac_name(cabi::ptr(mh)), cabi::MAXNAMELEN) }
    }

    /// Copies the name of MAC `mh` (`mac_name()`) into `buf` with its NUL;
    /// its length without the NUL, or `None` if it does not fit.
    pub fn name(mh: usize, buf: &mut [u8]) -> Option<usize> {
        if mh == 0 {
            return None;
        }
        // SAFETY: a handle the kernel gave the caller, who holds the MAC
        // for the call (the seam's contract).
        let name = unsafe { name_of(mh) }?;
        cabi::copy_out(name, buf, true)
    }

    /// Enters the perimeter of MAC `mh` (`mac_perim_enter_by_mh()`).
    /// Sleeps.
    pub fn perim_enter_mh(mh: usize) -> Perim {
        let mut p: ffi::mac_perim_handle_t = ptr::null_mut();
        // SAFETY: a handle the caller holds (the seam's contract); `p` is
        // a local.
        unsafe { ffi::mac_perim_enter_by_mh(cabi::ptr(mh), &mut p) };
        cabi::handle(p)
    }

    /// Enters the perimeter of the MAC named `mac` (a C string;
    /// `mac_perim_enter_by_macname()`, which holds the MAC open until the
    /// exit). Sleeps.
    pub fn perim_enter_by_macname(mac: &[u8]) -> Result<Perim, RawErrno> {
        let name = cabi::arg(mac)?;
        let mut p: ffi::mac_perim_handle_t = ptr::null_mut();
        // SAFETY: a NUL-terminated name; `p` is a local written on success.
        cabi::check(unsafe { ffi::mac_perim_enter_by_macname(name.as_ptr(), &mut p) })?;
        Ok(cabi::handle(p))
    }

    /// Leaves a perimeter (`mac_perim_exit()`); 0 is ignored.
    pub fn perim_exit(p: Perim) {
        if p != 0 {
            // SAFETY: a handle from one of the enters above, exited once
            // by the thread that entered (the seam's contract).
            unsafe { ffi::mac_perim_exit(cabi::ptr(p)) };
        }
    }

    /// A MAC opened by name (`mac_open()`), closed on drop.
    struct Opened(ffi::mac_handle_t);

    impl Opened {
        fn open(mac: &[u8]) -> Result<Opened, RawErrno> {
            let name = cabi::arg(mac)?;
            let mut mh: ffi::mac_handle_t = ptr::null_mut();
            // SAFETY: a NUL-terminated name; `mh` is written on success.
            cabi::check(unsafe { ffi::mac_open(name.as_ptr(), &mut mh) })?;
            Ok(Opened(mh))
        }
    }

    impl Drop for Opened {
        fn drop(&mut self) {
            // SAFETY: the reference mac_open() took, dropped once.
            unsafe { ffi::mac_close(self.0) };
        }
    }

    /// Renames the primary MAC client of `mac` to `name` (both C strings):
    /// `mac_open()`, `mac_rename_primary()`, `mac_close()`. Call inside the
    /// MAC's perimeter.
    pub fn rename_primary(mac: &[u8], name: &[u8]) -> Result<(), RawErrno> {
        let name = cabi::arg(name)?;
        let m = Opened::open(mac)?;
        // SAFETY: `m` holds the MAC open; `name` is NUL-terminated.
        cabi::check(unsafe { ffi::mac_rename_primary(m.0, name.as_ptr()) })
    }

    /// Marks MAC `mac` exclusive (`mac_mark_exclusive()`): `EBUSY` while it
    /// has clients besides its `dls_link_t`. Call inside the MAC's
    /// perimeter entered by name (see the module doc); undo with
    /// [`unmark_exclusive`] before leaving it.
    pub fn mark_exclusive(mac: &[u8]) -> Result<(), RawErrno> {
        // The perimeter's own reference keeps the handle valid after the
        // close; the mark needs the reference count without ours.
        let mh = Opened::open(mac)?.0;
        // SAFETY: `mh` is valid (above) and the caller is in its perimeter.
        cabi::check(unsafe { ffi::mac_mark_exclusive(mh) })?;
        let added = MARKS.lock().add(cabi::handle(mh));
        if added.is_err() {
            // SAFETY: marked just above, by this thread, in the perimeter.
            unsafe { ffi::mac_unmark_exclusive(mh) };
        }
        added
    }

    /// Undoes [`mark_exclusive`] of `mac` (`mac_unmark_exclusive()`), in
    /// the same perimeter. `EINVAL` if `mac` was not marked through it.
    pub fn unmark_exclusive(mac: &[u8]) -> Result<(), RawErrno> {
        let want = cabi::arg(mac)?.to_bytes();
        let found = MARKS.lock().take(|h| {
            // SAFETY: a marked MAC cannot be unregistered, and it stays
            // marked while it is in the table, whose lock is held.
            let name = unsafe { name_of(h) };
            name == Some(want)
        });
        let Some(mh) = found else {
            return Err(Errno::EINVAL.into());
        };
        // SAFETY: a handle this module marked; the caller is in its
        // perimeter (the seam's contract), which keeps it valid.
        unsafe { ffi::mac_unmark_exclusive(cabi::ptr(mh)) };
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_found_by_predicate_and_removed_once() {
        let mut m = Marks::new();
        assert!(m.is_empty());
        m.add(0x100).unwrap();
        m.add(0x200).unwrap();
        m.add(0x300).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.take(|h| h == 0x200), Some(0x200));
        assert_eq!(m.take(|h| h == 0x200), None);
        assert_eq!(m.len(), 2);
        assert_eq!(m.take(|_| false), None);
        assert_eq!(m.take(|h| h == 0x100), Some(0x100));
        assert_eq!(m.take(|h| h == 0x300), Some(0x300));
        assert!(m.is_empty());
    }
}
