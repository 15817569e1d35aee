//! MAC (`usr/src/uts/common/io/mac/`): `mac_name`, `mac_open`,
//! `mac_close`, `mac_rename_primary`, `mac_mark_exclusive`,
//! `mac_unmark_exclusive`, and the MAC perimeter
//! (`mac_perim_enter_by_mh`, `mac_perim_enter_by_macname`,
//! `mac_perim_exit`). misc/dls depends on misc/mac; so must an object
//! that uses these.
//!
//! MACs are registered by tests ([`register`]), as drivers register them.
//! Each has a reference count (`mi_ref`: one per `mac_open()`, which a
//! perimeter entered by name and a `dls_link_t` both take), an
//! exclusive mark, and a perimeter: a lock owned by one kernel thread,
//! re-entrant for its owner (`mi_perim_ocnt`), which other threads wait
//! for. A perimeter handle entered by name carries the need to close
//! the MAC on exit (illumos' `MAC_ENCODE_MPH`).
//!
//! | misuse | result |
//! |---|---|
//! | `mac_perim_exit` by a thread that does not own the perimeter, or of one not entered | panic (`ASSERT(mip->mi_perim_owner == curthread)`) |
//! | `mac_rename_primary`, `mac_mark_exclusive`, `mac_unmark_exclusive` outside the perimeter | panic (`ASSERT(MAC_PERIM_HELD(mh))`) |
//! | `mac_close` of a MAC not open (reference underflow) | panic |
//! | a handle that is no registered MAC | panic (a kernel would fault) |
//! | marking twice, unmarking a MAC not marked | panic (`ASSERT`) |
//! | a perimeter still entered, a MAC still open or marked at unload | complaint |
//!
//! `mac_mark_exclusive()` succeeds only with exactly two references (the
//! `dls_link_t`'s and the perimeter's), as illumos' does; a marked MAC
//! refuses `mac_open()` with `EBUSY`.

use std::collections::BTreeMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::console::fatal;
use super::{KernelSymbol, Provider, c_str, complain, take_failure};
use crate::kthread;

/// The module that defines these symbols.
pub const MODULE: &str = "misc/mac";

const ENOENT: c_int = 2;
const EBUSY: c_int = 16;

struct Mac {
    name: CString,
    refs: u32,
    exclusive: bool,
    owner: u64,
    count: u32,
    registered: bool,
    /// Registration order (a pseudo minor number).
    seq: u32,
}

#[derive(Default)]
struct Macs {
    /// By handle (the address of a buffer of `mem`).
    macs: BTreeMap<usize, Mac>,
    #[allow(clippy::vec_box, reason = "each box's address is a kernel object's identity")]
    mem: Vec<Box<[u64; 8]>>,
    seq: u32,
    /// Perimeters the tests entered on their threads, for their exits:
    /// (thread, MAC name) → handles, innermost last.
    test_perims: BTreeMap<(u64, Vec<u8>), Vec<usize>>,
}

static MACS: Mutex<Option<Macs>> = Mutex::new(None);
static PERIM_FREE: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Option<Macs>> {
    MACS.lock().unwrap_or_else(|e| e.into_inner())
}

fn with<R>(f: impl FnOnce(&mut Macs) -> R) -> R {
    f(lock().get_or_insert_with(Macs::default))
}

/// Forgets every MAC (a fresh boot).
pub fn reset() {
    *lock() = None;
}

/// Registers a MAC named `name` (`mac_register()`); its `mac_handle_t`.
/// A name already registered gives back that MAC.
pub fn register(name: &[u8]) -> usize {
    with(|m| {
        if let Some((h, _)) = m.macs.iter().find(|(_, x)| x.registered && x.name.as_bytes() == name)
        {
            return *h;
        }
        let b = Box::new([0u64; 8]);
        let h = b.as_ptr() as usize;
        m.mem.push(b);
        m.seq += 1;
        let mac = Mac {
            name: CString::new(name.to_vec()).unwrap_or_default(),
            refs: 0,
            exclusive: false,
            owner: 0,
            count: 0,
            registered: true,
            seq: m.seq,
        };
        m.macs.insert(h, mac);
        h
    })
}

/// Unregisters MAC `mh` (`mac_unregister()`): a complaint while it is
/// open (illumos refuses with `EBUSY` and the driver cannot detach).
pub fn unregister(mh: usize) {
    let busy = with(|m| {
        let mac = m.macs.get_mut(&mh)?;
        if mac.refs > 0 {
            return Some(mac.name.to_string_lossy().into_owned());
        }
        mac.registered = false;
        None
    });
    if let Some(n) = busy {
        complain(&format!("mac_unregister of MAC '{n}' while it is open"));
    }
}

/// The handle of the registered MAC named `name`.
pub fn handle_of(name: &[u8]) -> Option<usize> {
    with(|m| {
        m.macs.iter().find(|(_, x)| x.registered && x.name.as_bytes() == name).map(|(h, _)| *h)
    })
}

/// The name of MAC `mh`.
pub fn name_of(mh: usize) -> Option<Vec<u8>> {
    with(|m| m.macs.get(&mh).map(|x| x.name.as_bytes().to_vec()))
}

/// The registration order of MAC `mh` (1 for the first).
pub fn seq_of(mh: usize) -> u32 {
    with(|m| m.macs.get(&mh).map_or(0, |x| x.seq))
}

/// Perimeters entered and not exited, counting re-entries.
pub fn perims_held() -> u32 {
    with(|m| m.macs.values().map(|x| x.count).sum())
}

/// Perimeters the calling thread holds.
pub fn perims_held_by_me() -> u32 {
    let me = kthread::curthread();
    with(|m| m.macs.values().filter(|x| x.owner == me).map(|x| x.count).sum())
}

/// Whether the calling thread owns the perimeter of MAC `mh`.
pub fn perim_held_by_me(mh: usize) -> bool {
    let me = kthread::curthread();
    with(|m| m.macs.get(&mh).is_some_and(|x| x.owner == me && x.count > 0))
}

/// Perimeters entered, MACs open or marked: one line each.
pub fn leftovers() -> Vec<String> {
    with(|m| {
        let mut v = Vec::new();
        for x in m.macs.values() {
            let n = x.name.to_string_lossy();
            if x.count > 0 {
                v.push(format!(
                    "the perimeter of MAC '{n}' is still entered ({} time(s))",
                    x.count
                ));
            }
            if x.refs > 0 {
                v.push(format!("MAC '{n}' is still open ({} mac_open reference(s))", x.refs));
            }
            if x.exclusive {
                v.push(format!("MAC '{n}' is still marked exclusive"));
            }
        }
        v
    })
}

/// `mac_open()` of the MAC named `name`: its handle, or the errno.
pub fn open(name: &[u8]) -> Result<usize, c_int> {
    with(|m| {
        let (h, mac) = m
            .macs
            .iter_mut()
            .find(|(_, x)| x.registered && x.name.as_bytes() == name)
            .ok_or(ENOENT)?;
        if mac.exclusive {
            return Err(EBUSY);
        }
        mac.refs += 1;
        Ok(*h)
    })
}

/// `mac_close()`.
pub fn close(mh: usize) {
    let r = with(|m| {
        let mac = m.macs.get_mut(&mh)?;
        if mac.refs == 0 {
            return Some(Err(mac.name.to_string_lossy().into_owned()));
        }
        mac.refs -= 1;
        Some(Ok(()))
    });
    match r {
        Some(Ok(())) => {}
        Some(Err(n)) => fatal(&format!("mac_close of MAC '{n}': it is not open (underflow)")),
        None => fatal(&format!("mac_close({mh:#x}): not a MAC handle")),
    }
}

/// Enters the perimeter of `mh` on the calling thread, waiting for
/// another owner to leave it.
fn perim_enter(mh: usize, op: &str) {
    let me = kthread::curthread();
    let mut g = lock();
    let mut waiting = false;
    loop {
        let m = g.get_or_insert_with(Macs::default);
        let Some(mac) = m.macs.get_mut(&mh) else {
            drop(g);
            fatal(&format!("{op}({mh:#x}): not a MAC handle"));
        };
        if mac.owner == 0 || mac.owner == me {
            mac.owner = me;
            mac.count += 1;
            if waiting {
                super::sync::note_unblocked();
            }
            return;
        }
        if !waiting {
            let n = mac.name.to_string_lossy().into_owned();
            super::sync::note_blocked(&format!("{op} (the perimeter of MAC '{n}')"));
            waiting = true;
        }
        g = PERIM_FREE.wait(g).unwrap_or_else(|e| e.into_inner());
    }
}

/// Checks that the calling thread holds the perimeter of `mh`.
fn need_perim(mh: usize, op: &str) {
    if !perim_held_by_me(mh) {
        let n = name_of(mh).map(|n| String::from_utf8_lossy(&n).into_owned());
        match n {
            Some(n) => fatal(&format!(
                "{op}: the perimeter of MAC '{n}' is not held by the caller \
                 (ASSERT(MAC_PERIM_HELD(mh)))"
            )),
            None => fatal(&format!("{op}({mh:#x}): not a MAC handle")),
        }
    }
}

/// Whether a handle is a perimeter entered by name (bit 0).
const BY_NAME: usize = 1;

/// `mac_perim_enter_by_macname()` on the calling thread: the perimeter
/// handle, or the errno.
pub fn perim_enter_by_name(name: &[u8]) -> Result<usize, c_int> {
    if let Some(e) = take_failure("perim_enter") {
        return Err(e);
    }
    let mh = open(name)?;
    perim_enter(mh, "mac_perim_enter_by_macname");
    Ok(mh | BY_NAME)
}

/// `mac_perim_exit()` on the calling thread.
pub fn perim_exit(mph: usize) {
    let mh = mph & !BY_NAME;
    let me = kthread::curthread();
    let r = with(|m| {
        let mac = m.macs.get_mut(&mh)?;
        if mac.owner != me || mac.count == 0 {
            return Some(Err((mac.name.to_string_lossy().into_owned(), mac.owner)));
        }
        mac.count -= 1;
        if mac.count == 0 {
            mac.owner = 0;
        }
        Some(Ok(()))
    });
    match r {
        Some(Ok(())) => PERIM_FREE.notify_all(),
        Some(Err((n, 0))) => {
            fatal(&format!("mac_perim_exit: the perimeter of MAC '{n}' is not entered"))
        }
        Some(Err((n, o))) => fatal(&format!(
            "mac_perim_exit: the perimeter of MAC '{n}' is owned by kthread {o}, not the caller"
        )),
        None => fatal(&format!("mac_perim_exit({mph:#x}): not a perimeter handle")),
    }
    if mph & BY_NAME != 0 {
        close(mh);
    }
}

/// A test enters the perimeter of the MAC named `name` on its thread, as
/// dld does before `dls_devnet_hold_link()`; 0 or the errno.
pub fn test_perim_enter(name: &[u8]) -> c_int {
    match perim_enter_by_name(name) {
        Ok(mph) => {
            let me = kthread::curthread();
            with(|m| m.test_perims.entry((me, name.to_vec())).or_default().push(mph));
            0
        }
        Err(e) => e,
    }
}

/// Leaves the perimeter [`test_perim_enter`] entered last for `name` on
/// this thread; `ENOENT` if there is none.
pub fn test_perim_exit(name: &[u8]) -> c_int {
    let me = kthread::curthread();
    let Some(mph) = with(|m| m.test_perims.get_mut(&(me, name.to_vec()))?.pop()) else {
        return ENOENT;
    };
    perim_exit(mph);
    0
}

// --- The DDI ---------------------------------------------------------------

extern "C" fn mac_name(mh: *mut c_void) -> *const c_char {
    let p = with(|m| m.macs.get(&(mh as usize)).map(|x| x.name.as_ptr()));
    p.unwrap_or_else(|| fatal(&format!("mac_name({mh:p}): not a MAC handle")))
}

/// Reads a MAC name argument (at most `MAXNAMELEN`, 256, with its NUL).
fn name_arg(p: *const c_char, op: &str) -> Vec<u8> {
    // SAFETY: the module passes a NUL-terminated MAC name.
    let s = unsafe { c_str(p, 256) }.unwrap_or_else(|| fatal(&format!("{op}: NULL name")));
    s.into_bytes()
}

extern "C" fn mac_open(name: *const c_char, mhp: *mut *mut c_void) -> c_int {
    let n = name_arg(name, "mac_open");
    match open(&n) {
        Ok(h) => {
            // SAFETY: the module passes a mac_handle_t to fill in.
            unsafe { mhp.write(h as *mut c_void) };
            0
        }
        Err(e) => e,
    }
}

extern "C" fn mac_close(mh: *mut c_void) {
    close(mh as usize);
}

extern "C" fn mac_perim_enter_by_mh(mh: *mut c_void, mphp: *mut *mut c_void) {
    perim_enter(mh as usize, "mac_perim_enter_by_mh");
    // SAFETY: the module passes a mac_perim_handle_t to fill in.
    unsafe { mphp.write(mh) };
}

extern "C" fn mac_perim_enter_by_macname(name: *const c_char, mphp: *mut *mut c_void) -> c_int {
    let n = name_arg(name, "mac_perim_enter_by_macname");
    match perim_enter_by_name(&n) {
        Ok(mph) => {
            // SAFETY: the module passes a mac_perim_handle_t to fill in.
            unsafe { mphp.write(mph as *mut c_void) };
            0
        }
        Err(e) => e,
    }
}

extern "C" fn mac_perim_exit(mph: *mut c_void) {
    perim_exit(mph as usize);
}

extern "C" fn mac_rename_primary(mh: *mut c_void, _name: *const c_char) -> c_int {
    need_perim(mh as usize, "mac_rename_primary");
    take_failure("mac_rename_primary").unwrap_or(0)
}

extern "C" fn mac_mark_exclusive(mh: *mut c_void) -> c_int {
    let mh = mh as usize;
    need_perim(mh, "mac_mark_exclusive");
    if let Some(e) = take_failure("mac_exclusive") {
        return e;
    }
    let r = with(|m| {
        let mac = m.macs.get_mut(&mh)?;
        if mac.exclusive {
            return Some(Err(mac.name.to_string_lossy().into_owned()));
        }
        if mac.refs != 2 {
            return Some(Ok(EBUSY));
        }
        mac.exclusive = true;
        Some(Ok(0))
    });
    match r {
        Some(Ok(rc)) => rc,
        Some(Err(n)) => fatal(&format!("mac_mark_exclusive: MAC '{n}' is already marked")),
        None => fatal(&format!("mac_mark_exclusive({mh:#x}): not a MAC handle")),
    }
}

extern "C" fn mac_unmark_exclusive(mh: *mut c_void) {
    let mh = mh as usize;
    need_perim(mh, "mac_unmark_exclusive");
    let r = with(|m| {
        let mac = m.macs.get_mut(&mh)?;
        let was = mac.exclusive;
        mac.exclusive = false;
        Some((was, mac.name.to_string_lossy().into_owned()))
    });
    match r {
        Some((true, _)) => {}
        Some((false, n)) => fatal(&format!("mac_unmark_exclusive: MAC '{n}' is not marked")),
        None => fatal(&format!("mac_unmark_exclusive({mh:#x}): not a MAC handle")),
    }
}

/// The MAC calls (provided by misc/mac).
pub fn symbols() -> Vec<KernelSymbol> {
    let f = |name: &str, addr: usize| KernelSymbol {
        name: name.into(),
        provider: Provider::Module(MODULE),
        def: super::Def::Func(addr),
    };
    vec![
        f("mac_name", mac_name as *const () as usize),
        f("mac_open", mac_open as *const () as usize),
        f("mac_close", mac_close as *const () as usize),
        f("mac_perim_enter_by_mh", mac_perim_enter_by_mh as *const () as usize),
        f("mac_perim_enter_by_macname", mac_perim_enter_by_macname as *const () as usize),
        f("mac_perim_exit", mac_perim_exit as *const () as usize),
        f("mac_rename_primary", mac_rename_primary as *const () as usize),
        f("mac_mark_exclusive", mac_mark_exclusive as *const () as usize),
        f("mac_unmark_exclusive", mac_unmark_exclusive as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perimeters_are_reentrant_and_exclusive_needs_two_references() {
        let _g = crate::machine::test_lock();
        reset();
        let mh = register(b"vnic1");
        assert_eq!(register(b"vnic1"), mh);
        let mph = perim_enter_by_name(b"vnic1").unwrap();
        perim_enter(mh, "test");
        assert_eq!(perims_held(), 2);
        assert!(perim_held_by_me(mh));
        assert_eq!(mac_mark_exclusive(mh as *mut c_void), EBUSY, "one reference only");
        let dl = open(b"vnic1").unwrap();
        assert_eq!(mac_mark_exclusive(mh as *mut c_void), 0);
        assert_eq!(open(b"vnic1"), Err(EBUSY));
        mac_unmark_exclusive(mh as *mut c_void);
        close(dl);
        perim_exit(mh);
        perim_exit(mph);
        assert_eq!(perims_held(), 0);
        assert!(leftovers().is_empty(), "{:?}", leftovers());
        // Another thread waits for the perimeter.
        let mph = perim_enter_by_name(b"vnic1").unwrap();
        let t = std::thread::spawn(move || {
            let p = perim_enter_by_name(b"vnic1").unwrap();
            perim_exit(p);
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!t.is_finished());
        perim_exit(mph);
        t.join().unwrap();
        reset();
    }
}
