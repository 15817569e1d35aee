//! The `dlszone_host_*` control functions of
//! `tests/c/abi/dlszone_host.h`, over the emulated kernel: what the host
//! build's fake kernel (`kernel/dls/host.rs`) offers the C tests, with
//! the same meaning, so the same test programs drive either.
//!
//! Zones boot, halt and are destroyed on the calling thread, acting for
//! the global zone as zoneadmd does; their callbacks into the object run
//! there. A zone's incarnation, as `dlszone_host_zone_boot()` returns it,
//! is the number the object knows the zone by: its own ZSD value for the
//! zone (the object's build without gate headers numbers zones itself,
//! `kernel/kmod/zone.rs`), or `zone_uniqid` if it keeps none.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::time::Duration;

use super::{exports, loaded, read_kstats, reset, symbol};
use crate::emu::{self, complain, console, devices, dls_link, door, mac, taskq, zone};

/// # Safety
///
/// `p` is NULL or a C string.
unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    // SAFETY: by the contract.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// Runs `f` acting for the global zone, then acts for the caller's zone
/// again.
fn as_global<R>(f: impl FnOnce() -> R) -> R {
    let was = zone::thread_zone();
    zone::set_thread_zone(zone::GLOBAL);
    let r = f();
    zone::set_thread_zone(was);
    r
}

/// A fresh emulated kernel with `dls_mgmt.o` loaded, not initialised.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_reset() {
    reset();
}

/// Makes the calling thread act for zone `zid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_set_zone(zid: c_int) {
    zone::set_thread_zone(zid);
}

/// The credential of zone `zid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_cred(zid: c_int) -> *const c_void {
    loaded();
    zone::cred(zid) as *const c_void
}

/// The incarnation the object knows zone `zid` by (see the module docs);
/// 0 for the global zone, or a zone that does not exist.
pub fn incarnation(zid: c_int) -> u64 {
    if zid == zone::GLOBAL {
        return 0;
    }
    match zone::keys().first() {
        Some(k) => zone::zsd_value(zid, *k) as u64,
        None => zone::uniqid(zid).unwrap_or(0),
    }
}

/// Boots zone `zid` with `zone_uniqid` `uniqid`; the incarnation the
/// object knows it by.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_boot(zid: c_int, uniqid: u64) -> u64 {
    loaded();
    as_global(|| zone::boot(zid, uniqid));
    incarnation(zid)
}

/// The incarnation the object knows zone `zid` by, now.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_incarnation(zid: c_int) -> u64 {
    loaded();
    incarnation(zid)
}

/// Sets zone `zid`'s status, with no callback.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_status(zid: c_int, status: c_int) {
    loaded();
    zone::set_status(zid, status);
}

/// Halts zone `zid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_halt(zid: c_int) {
    loaded();
    as_global(|| zone::halt(zid));
}

/// Destroys zone `zid`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_zone_destroy(zid: c_int) {
    loaded();
    as_global(|| zone::destroy(zid));
}

/// Registers a MAC named `name`; its `mac_handle_t`.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_mac(name: *const c_char) -> *mut c_void {
    loaded();
    // SAFETY: by the contract.
    mac::register(unsafe { bytes(name) }) as *mut c_void
}

/// References on the `dls_link_t` of `mac`; -1 if there is none.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_link_refs(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    dls_link::refs(unsafe { bytes(mac) }).map_or(-1, |(r, _)| r as c_int)
}

/// The data-path zone of the `dls_link_t` of `mac`; -1 if none.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_link_zone(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    dls_link::refs(unsafe { bytes(mac) }).map_or(-1, |(_, z)| z)
}

/// A caller drops a `dls_link_t` reference it holds: `dls_link_rele()`
/// inside the MAC's perimeter, as dld does.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_link_rele(dlp: *mut c_void) {
    loaded();
    dls_link::caller_rele(dlp as usize);
}

/// Makes the next call of kernel function `op` fail with `errno`.
///
/// # Safety
///
/// `op` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_fail_next(op: *const c_char, errno: c_int) {
    loaded();
    // SAFETY: by the contract.
    let op = String::from_utf8_lossy(unsafe { bytes(op) }).into_owned();
    if !emu::fail_next(&op, errno) {
        complain(&format!("dlszone_host_fail_next: no kernel function '{op}' to fail"));
    }
}

/// MAC perimeters entered and not exited.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_perims_held() -> c_int {
    mac::perims_held() as c_int
}

/// Enters the perimeter of the MAC named `mac` on the calling thread, as
/// dld does before `dls_devnet_hold_link()`; 0 or the errno.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_perim_enter(mac: *const c_char) -> c_int {
    loaded();
    // SAFETY: by the contract.
    mac::test_perim_enter(unsafe { bytes(mac) })
}

/// Leaves the perimeter the calling thread entered last with
/// [`dlszone_host_perim_enter`] for `mac`; 0, or `ENOENT` if none.
///
/// # Safety
///
/// `mac` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_perim_exit(mac: *const c_char) -> c_int {
    // SAFETY: by the contract.
    mac::test_perim_exit(unsafe { bytes(mac) })
}

/// Waits for every queued task.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_taskq_drain() {
    if !taskq::drain(Duration::from_secs(120)) {
        complain("tasks still running after 120 s");
    }
}

/// Makes `TQ_NOSLEEP` dispatches fail (`refuse` non-zero) or succeed.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_taskq_refuse(refuse: c_int) {
    loaded();
    taskq::refuse_nosleep(refuse != 0);
}

fn is_link_kstat(i: &emu::kstat::Info) -> bool {
    i.module == "link" && i.installed && !i.deleted
}

/// Live "link" kstats named `name` in zone `zid`, each read (its
/// `ks_update` called) as `kstat(8)` would.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_kstats(name: *const c_char, zid: c_int) -> c_int {
    // SAFETY: by the contract.
    let n = String::from_utf8_lossy(unsafe { bytes(name) }).into_owned();
    let pick = |i: &emu::kstat::Info| is_link_kstat(i) && i.name == n && i.zone == zid;
    read_kstats(pick).len() as c_int
}

/// All live "link" kstats; every live kstat is read (its `ks_update`
/// called) as `kstat(8)` would.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_kstats_total() -> c_int {
    read_kstats(|i| i.installed && !i.deleted);
    emu::kstat::kstats().iter().filter(|i| is_link_kstat(i)).count() as c_int
}

/// Console messages so far.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_console_lines() -> c_int {
    console::messages().len() as c_int
}

/// What the emulated kernel found wrong since boot (see [`super`]): a
/// correct object causes nothing.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_kernel_complaints() -> c_int {
    emu::complaints().len() as c_int
}

/// A physical device softmac can attach: driver `drv` with major `major`,
/// instance `inst`.
///
/// # Safety
///
/// `drv` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_device(drv: *const c_char, major: u32, inst: u32) {
    loaded();
    // SAFETY: by the contract.
    devices::add_device(unsafe { bytes(drv) }, major, inst);
}

/// `softmac_recreate()` calls so far.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_softmac_recreates() -> c_int {
    devices::recreates() as c_int
}

/// Whether implicit tunnel `linkid` exists.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_tunnel(linkid: u32) -> c_int {
    c_int::from(devices::tunnel(linkid))
}

/// Starts dlmgmtd (its door can then be opened).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_start() {
    loaded();
    door::daemon_start();
}

/// Kills dlmgmtd: its door is revoked.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_kill() {
    loaded();
    door::daemon_kill();
}

/// Adds a link record to dlmgmtd; its id. `phymaj` 0: not physical.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_dlmgmtd_add(
    name: *const c_char,
    class: u32,
    flags: u32,
    zid: c_int,
    phymaj: u64,
    phyinst: u64,
) -> u32 {
    loaded();
    // SAFETY: by the contract.
    let n = unsafe { bytes(name) };
    let phys = (phymaj != 0).then_some((phymaj, phyinst));
    door::with_daemon(|d| d.add(n, class, flags, zid, phys))
}

/// The zone dlmgmtd has link `linkid` in; -2 if it has no such link.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_zone(linkid: u32) -> c_int {
    door::with_daemon(|d| d.links.get(&linkid).map_or(-2, |l| l.zone))
}

/// How many commands `cmd` dlmgmtd served (0: all).
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_calls(cmd: c_int) -> c_int {
    door::with_daemon(|d| d.log.iter().filter(|(c, _, _)| cmd == 0 || *c == cmd).count() as c_int)
}

/// Makes dlmgmtd answer its next command `cmd` (0: any) with `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_fail_next(cmd: c_int, errno: u32) {
    loaded();
    door::with_daemon(|d| d.fail_next(cmd, errno));
}

/// A digest of dlmgmtd's link records: equal digests, equal records.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_digest() -> u64 {
    door::with_daemon(|d| d.digest())
}

/// Renames link `linkid` in dlmgmtd: 0, or `ENOENT`.
///
/// # Safety
///
/// `name` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlszone_host_dlmgmtd_rename(linkid: u32, name: *const c_char) -> c_int {
    // SAFETY: by the contract.
    let n = unsafe { bytes(name) }.to_vec();
    door::with_daemon(|d| match d.links.get_mut(&linkid) {
        Some(l) => {
            l.name = n;
            0
        }
        None => 2,
    })
}

/// Makes dlmgmtd's next door call of command `cmd` (0: any) hang until
/// [`dlszone_host_dlmgmtd_unstall`].
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_stall(cmd: c_int) {
    door::stall(cmd);
}

/// Waits up to 10 seconds for a door call to hang; whether one does.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_hanging() -> c_int {
    c_int::from(door::hanging(Duration::from_secs(10)))
}

/// Lets the hanging door call go on.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_dlmgmtd_unstall() {
    door::unstall();
}

/// Waits for every queued task, then returns the number of notices the
/// object still has queued for dlmgmtd (its `dc_outbox`, read with
/// `dls_devnet_counters()` from the global zone); 0 while it is not
/// initialised.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_settle() -> c_int {
    dlszone_host_taskq_drain();
    let mut c = [0u64; 6];
    let cr = as_global(|| zone::cred(zone::GLOBAL)) as *const c_void;
    as_global(|| {
        if exports::dls_devnet_counters(cr, c.as_mut_ptr().cast()) == 0 {
            // dls_counters_t: dc_bad_releases, dc_late_releases,
            // dc_pending_frees, dc_outbox, ...
            c[3] as c_int
        } else {
            0
        }
    })
}

/// The loaded object's own `devnet_need_rebuild` (a `boolean_t`), which
/// the C tests read in place of the variable the host build defines.
#[unsafe(no_mangle)]
pub extern "C" fn dlszone_host_devnet_need_rebuild() -> *mut c_int {
    static NONE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
    loaded();
    symbol("devnet_need_rebuild").map_or(NONE.as_ptr(), |a| a as *mut c_int)
}
