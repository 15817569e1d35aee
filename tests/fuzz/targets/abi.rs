//! Fuzz target `abi`: every exported C entry point of `dls_mgmt.o` (the
//! host build, over the fake kernel and fake dlmgmtd of
//! `kernel/dls/host.rs`), called with arbitrary arguments in arbitrary
//! sequences against a live object.
//!
//! Arguments: NULL, and wild-but-mapped pointers (into an arena of fuzzed
//! bytes, so a name may have no NUL for hundreds of bytes, an output
//! lands anywhere, a `dls_link_t` is any 256 bytes); names with and
//! without NUL, from a dictionary or from the input; any ids, zones,
//! devices, flags, MAC handles and credentials; handles that the object
//! gave out, released ones, and forged numbers. The fake kernel's zones,
//! MACs, devices and dlmgmtd are driven too (boot, halt, destroy, kill,
//! restart, failures of kernel calls and of door commands).
//!
//! What the harness keeps from C's contract, as any caller must: pointers
//! are NULL or point to memory of the documented size; a `dls_link_t`
//! passed back is one the object gave out and that is still held; a
//! thread never waits (a destroy that drains, a long release that may
//! delete an implicit tunnel) while it holds a temporary hold itself;
//! no call hangs in dlmgmtd.
//!
//! Checked after every call: the registry's invariants; every C string
//! the object returns is terminated within `MAXNAMELEN`; every count it
//! writes is consistent. After the sequence: everything is released, every
//! zone halted, recovered and destroyed, every MAC's link destroyed, and
//! then nothing may be left: no handle, no perimeter, no kstat, no
//! `dls_link_t` reference, no link in the registry, no queued notice, and
//! the fake kernel saw no misuse (reference underflow, unknown object);
//! after `dls_mgmt_fini()`, no link record is left alive.

use core::ffi::{c_char, c_void};
use std::ptr;

use dlszone::dlszone_h::{DlsCounters, DlsHolder, DlsLinkInfo, DlsRecoverResult};
use dlszone_dls::abi::*;
use dlszone_dls::host::*;

use super::input::Input;

/// Bytes the wild pointers point into: eight regions of `SLACK` bytes.
/// The outputs of one call each get a region of their own (a caller's
/// outputs do not overlap), names region 6, other inputs region 7; a
/// pointer lands in the first half of its region, so at least
/// `SLACK / 2` mapped bytes follow it, more than any entry point reads
/// or writes through one pointer.
const ARENA: usize = 64 * 1024;
const SLACK: usize = 8 * 1024;

/// Link names, MAC names and device names the fake world knows.
const NAMES: &[&[u8]] = &[
    b"net0",
    b"net1",
    b"z1net0",
    b"vnic0",
    b"vnic1",
    b"vnic2",
    b"e1000g0",
    b"e1000g1",
    b"ip.tun0",
    b"ip6.tun1",
    b"ip.6to4tun2",
    b"vnic",
    b"e1000g",
    b"",
    b"0net",
    b"a",
];

/// Handles the object has given out and not taken back.
fn live_handles() -> u64 {
    dlszone_dls::abi::global().map_or(0, |d| d.counters().dc_handles)
}

struct Run<'a, 'b> {
    inp: &'b mut Input<'a>,
    arena: Vec<u64>,
    /// MAC handles the fake kernel registered, and how many creates of
    /// each succeeded and were not destroyed (each holds the MAC's
    /// `dls_link_t` once, until its destroy).
    macs: Vec<(*mut c_void, u32)>,
    /// Handles the object gave out: (handle, `dls_link_t` of a
    /// `hold_link`, temporary).
    handles: Vec<(*mut c_void, *mut c_void, bool)>,
    /// Link ids the object or dlmgmtd reported.
    ids: Vec<u32>,
    /// The next output region of the current call.
    next_out: usize,
    /// Failures armed in the fake kernel and dlmgmtd (bounded, so the
    /// clean-up can use them up).
    armed: u32,
    /// Print each call (`DLSZONE_FUZZ_TRACE` set), to read a failure.
    trace: bool,
}

impl Run<'_, '_> {
    fn base(&mut self) -> *mut u8 {
        self.arena.as_mut_ptr().cast()
    }

    /// A pointer into region `region` of the arena, aligned for `T`.
    fn wild_in<T>(&mut self, region: usize) -> *mut T {
        let align = core::mem::align_of::<T>().max(8);
        let off = region * SLACK + (usize::from(self.inp.u16()) % (SLACK / 2)) / align * align;
        // SAFETY: `off` + SLACK / 2 <= ARENA: inside the arena.
        unsafe { self.base().add(off).cast() }
    }

    /// An input pointer somewhere in the arena.
    fn wild<T>(&mut self) -> *mut T {
        self.wild_in(7)
    }

    /// An output pointer: NULL now and then, else a region of its own.
    fn out<T>(&mut self) -> *mut T {
        if self.inp.pick(8) == 0 {
            return ptr::null_mut();
        }
        let r = self.next_out % 6;
        self.next_out += 1;
        self.wild_in(r)
    }

    /// A name argument: NULL, a dictionary name or fuzzed bytes as a C
    /// string, bytes with no NUL for a long way, or any arena bytes.
    fn name(&mut self) -> *const c_char {
        let p: *mut u8 = self.wild_in(6);
        let bytes: Vec<u8> = match self.inp.pick(8) {
            0 => return ptr::null(),
            1 => {
                // No NUL in the first 4 KiB.
                // SAFETY: the arena has SLACK bytes after `p`.
                unsafe { ptr::write_bytes(p, b'a', 4096) };
                return p.cast();
            }
            2 => return p.cast(),
            3 | 4 => {
                let mut n = self.inp.string(300);
                n.retain(|b| *b != 0);
                n
            }
            _ => {
                let i = self.inp.pick(NAMES.len());
                NAMES[i].to_vec()
            }
        };
        // SAFETY: at most 301 bytes, and the arena has SLACK after `p`.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            p.add(bytes.len()).write(0);
        }
        p.cast()
    }

    fn linkid(&mut self) -> u32 {
        match self.inp.pick(4) {
            0 | 1 if !self.ids.is_empty() => {
                let i = self.inp.pick(self.ids.len());
                self.ids[i]
            }
            _ => self.inp.id(),
        }
    }

    fn mac(&mut self) -> *mut c_void {
        match self.inp.pick(8) {
            0 => ptr::null_mut(),
            1 => ptr::without_provenance_mut(self.inp.u64() as usize),
            _ if !self.macs.is_empty() => {
                let i = self.inp.pick(self.macs.len());
                self.macs[i].0
            }
            _ => ptr::without_provenance_mut(0x1010),
        }
    }

    fn dev(&mut self) -> u64 {
        match self.inp.pick(4) {
            0 => self.inp.u64(),
            // vnic/77 and e1000g/88, instances 0..3 (minor = instance + 1).
            1 => (77u64 << 32) | u64::from(self.inp.u8() % 4),
            _ => (88u64 << 32) | u64::from(self.inp.u8() % 4),
        }
    }

    fn cred(&mut self) -> *const c_void {
        match self.inp.pick(8) {
            0 => ptr::null(),
            1 => ptr::without_provenance(self.inp.u64() as usize),
            _ => {
                // A zone's credential (the fake kernel makes them for
                // zone ids 0..=9999 only).
                let z = self.inp.zone().clamp(0, 9999);
                dlszone_host_cred(z)
            }
        }
    }

    /// A handle: one the object gave out (maybe released since), or a
    /// forged number.
    fn handle(&mut self) -> (usize, *mut c_void) {
        if !self.handles.is_empty() && self.inp.pick(4) != 0 {
            let i = self.inp.pick(self.handles.len());
            return (i, self.handles[i].0);
        }
        (usize::MAX, ptr::without_provenance_mut(self.inp.u64() as usize))
    }

    /// Counts a create (+1) or a destroy (-1) of MAC `mh`.
    fn created(&mut self, mh: *mut c_void, by: i32) {
        if let Some(m) = self.macs.iter_mut().find(|m| m.0 == mh) {
            m.1 = m.1.saturating_add_signed(by);
        }
    }

    /// Keeps a handle the object gave out (up to 256; past that it is
    /// given back at once, so none is lost).
    fn keep(&mut self, r: i32, h: *mut c_void, dlp: *mut c_void, tmp: bool) {
        if r != 0 {
            return;
        }
        if self.handles.len() < 256 {
            self.handles.push((h, dlp, tmp));
        } else if tmp && !dlp.is_null() {
            dls_devnet_rele_link(h, dlp);
        } else {
            dls_devnet_release(h);
        }
    }

    /// Releases every temporary hold this thread has, before a call that
    /// may wait for temporary holds to drain.
    fn drop_tmp(&mut self) {
        let mut keep = Vec::new();
        for (h, dlp, tmp) in self.handles.drain(..) {
            if tmp {
                if dlp.is_null() {
                    dls_devnet_rele_tmp(h);
                } else {
                    dls_devnet_rele_link(h, dlp);
                }
            } else {
                keep.push((h, dlp, tmp));
            }
        }
        self.handles = keep;
    }

    fn check(&self) {
        let d = dlszone_dls::abi::global().expect("dls_mgmt_init() ran");
        if let Err(v) = d.registry().check_invariants() {
            panic!("invariant {} broken: {}", v.rule, v.detail);
        }
    }

    /// One call.
    #[allow(clippy::too_many_lines)]
    fn step(&mut self) {
        let op = self.inp.pick(50);
        self.next_out = 0;
        if self.trace {
            eprintln!("op {op} handles {:?} dls_link_t refs {:?}", self.handles, link_refs());
        }
        // SAFETY: for every call below, each pointer argument is NULL,
        // or points into the arena with SLACK / 2 bytes after it, or is a
        // value the object gave out; a `dls_link_t` passed back is one a
        // hold_link of the pool still holds.
        unsafe {
            match op {
                0 => {
                    let start = self.inp.pick(4) != 0;
                    dls_mgmt_door_set(i32::from(start));
                }
                1 => {
                    let (n, dev, class, media, persist) =
                        (self.name(), self.dev(), self.inp.u32(), self.inp.u32(), self.inp.bool());
                    let out: *mut u32 = self.out();
                    if dls_mgmt_create(n, dev, 1 << (class % 12), media, i32::from(persist), out)
                        == 0
                    {
                        self.ids.push(*out);
                    }
                }
                2 => {
                    let id = self.linkid();
                    dls_mgmt_destroy(id, i32::from(self.inp.bool()));
                }
                3 => {
                    let (n, media, nv) = (self.name(), self.inp.u32(), self.inp.bool());
                    let (m, l): (*mut u32, *mut u32) = (self.out(), self.out());
                    dls_mgmt_update(n, media, i32::from(nv), m, l);
                }
                4 => {
                    let id = self.linkid();
                    let link: *mut c_char = self.out();
                    let (c, m, f): (*mut u32, *mut u32, *mut u32) =
                        (self.out(), self.out(), self.out());
                    if dls_mgmt_get_linkinfo(id, link, c, m, f) == 0 && !link.is_null() {
                        assert!((0..32).any(|i| *link.add(i) == 0), "unterminated link name");
                    }
                }
                5 => {
                    let n = self.name();
                    let out: *mut u32 = self.out();
                    if dls_mgmt_get_linkid(n, out) == 0 {
                        self.ids.push(*out);
                    }
                }
                6 => {
                    let id = self.linkid();
                    let next =
                        dls_mgmt_get_next(id, self.inp.u32(), self.inp.u64(), self.inp.u32());
                    assert!(next == 0 || next > id, "GETNEXT went backwards");
                }
                7 => {
                    let id = self.linkid();
                    let out: *mut u64 = self.out();
                    dls_mgmt_get_phydev(id, out);
                }
                8 => {
                    let id = self.linkid();
                    dls_mgmt_linkprop_init(id);
                }
                9 | 10 => {
                    let (mh, id, z) = (self.mac(), self.linkid(), self.inp.zone());
                    let r = if op == 9 {
                        dls_devnet_create(mh, id, z)
                    } else {
                        dls_devnet_recreate(mh, id)
                    };
                    if self.trace {
                        eprintln!("  -> create/recreate({mh:?}, {id}, {z}) = {r}");
                    }
                    if op == 9 && r == 0 {
                        self.created(mh, 1);
                    }
                }
                11 => {
                    let mh = self.mac();
                    let out: *mut u32 = self.out();
                    let mut wait = self.inp.bool();
                    if wait && self.handles.iter().any(|h| h.2) {
                        if self.inp.bool() {
                            self.drop_tmp();
                        } else {
                            wait = false;
                        }
                    }
                    let r = dls_devnet_destroy(mh, out, i32::from(wait));
                    if self.trace {
                        eprintln!("  -> destroy({mh:?}, wait {wait}) = {r}");
                    }
                    if r == 0 {
                        self.created(mh, -1);
                    }
                }
                12 => {
                    let (a, b, n) = (self.linkid(), self.linkid(), self.name());
                    dls_devnet_rename(a, b, n);
                }
                13 | 14 => {
                    let id = self.linkid();
                    let out: *mut *mut c_void = self.out();
                    let r = if op == 13 {
                        dls_devnet_hold(id, out)
                    } else {
                        dls_devnet_hold_tmp(id, out)
                    };
                    if r == 0 {
                        self.keep(r, *out, ptr::null_mut(), op == 14);
                    }
                }
                15 | 20 | 22 | 23 | 37 => {
                    let (i, h) = self.handle();
                    let long = i < self.handles.len() && !self.handles[i].2;
                    if long || op == 37 {
                        // A long release may delete an implicit tunnel,
                        // which drains its temporary holds.
                        self.drop_tmp();
                    }
                    let dlp = self.handles.iter().find(|x| x.0 == h).map(|x| x.1);
                    let before = live_handles();
                    match (op, dlp) {
                        // A hold_link handle goes back with its dls_link_t.
                        (15 | 37, Some(d)) if !d.is_null() => dls_devnet_rele_link(h, d),
                        (15, _) => dls_devnet_rele_tmp(h),
                        (20, _) => dls_devnet_rele(h),
                        (22, _) => dls_devnet_close(h),
                        (23, _) => dls_devnet_prop_task_wait(h),
                        _ => {
                            dls_devnet_release(h);
                        }
                    }
                    // A release of the wrong kind is ignored by the object:
                    // the handle is forgotten only if it went.
                    if live_handles() < before {
                        self.handles.retain(|x| x.0 != h);
                    }
                }
                16 => {
                    let held: Vec<*mut c_void> =
                        self.handles.iter().map(|x| x.1).filter(|d| !d.is_null()).collect();
                    let dlp: *mut c_void = match self.inp.pick(4) {
                        0 => ptr::null_mut(),
                        1 if !held.is_empty() => held[self.inp.pick(held.len())],
                        _ => self.wild(),
                    };
                    let out: *mut *mut c_void = self.out();
                    if dls_devnet_hold_tmp_by_link(dlp, out) == 0 {
                        self.keep(0, *out, ptr::null_mut(), true);
                    }
                }
                17 => {
                    let id = self.linkid();
                    let (out, dlpp): (*mut *mut c_void, *mut *mut c_void) =
                        (self.out(), self.out());
                    if dls_devnet_hold_link(id, out, dlpp) == 0 {
                        self.keep(0, *out, *dlpp, true);
                    }
                }
                18 => {
                    let (i, h) = self.handle();
                    let dlp =
                        if i < self.handles.len() { self.handles[i].1 } else { ptr::null_mut() };
                    let before = live_handles();
                    dls_devnet_rele_link(h, dlp);
                    if live_handles() < before {
                        self.handles.retain(|x| x.0 != h);
                    }
                }
                19 => {
                    let dev = self.dev();
                    let out: *mut *mut c_void = self.out();
                    if dls_devnet_hold_by_dev(dev, out) == 0 {
                        self.keep(0, *out, ptr::null_mut(), false);
                    }
                }
                21 => {
                    let n = self.name();
                    let (out, dev): (*mut *mut c_void, *mut u64) = (self.out(), self.out());
                    if dls_devnet_open(n, out, dev) == 0 {
                        self.keep(0, *out, ptr::null_mut(), false);
                    }
                }
                24 | 25 => {
                    let (_, h) = self.handle();
                    let z = self.inp.zone();
                    if op == 24 {
                        dls_devnet_setzid(h, z);
                    } else {
                        dls_devnet_setzid_transient(h, z, i32::from(self.inp.bool()));
                    }
                }
                26 => {
                    let (_, h) = self.handle();
                    let _ = (dls_devnet_getzid(h), dls_devnet_getownerzid(h), dls_devnet_linkid(h));
                    for s in [dls_devnet_link(h), dls_devnet_mac(h)] {
                        assert!(!s.is_null());
                        assert!((0..256).any(|i| *s.add(i) == 0), "unterminated string");
                    }
                }
                27 => {
                    let id = self.linkid();
                    dls_devnet_islinkvisible(id, self.inp.zone());
                }
                28 => {
                    let n = self.name();
                    let out: *mut u32 = self.out();
                    dls_devnet_macname2linkid(n, out);
                }
                29 => {
                    let dev = self.dev();
                    let out: *mut u32 = self.out();
                    dls_devnet_dev2linkid(dev, out);
                }
                30 => {
                    let id = self.linkid();
                    let out: *mut u64 = self.out();
                    dls_devnet_phydev(id, out);
                }
                31 => {
                    dls_devnet_rebuild();
                }
                32 => {
                    let (cr, z, n) = (self.cred(), self.inp.zone(), self.name());
                    let flags = u32::from(self.inp.u8() % 4);
                    let out: *mut *mut c_void = self.out();
                    if dls_devnet_hold_zlink(cr, z, n, flags, out) == 0 {
                        self.keep(0, *out, ptr::null_mut(), flags == 1);
                    }
                }
                33 => {
                    let (cr, z, u) = (self.cred(), self.inp.zone(), u64::from(self.inp.u8() % 4));
                    let flags = u32::from(self.inp.u8() % 3);
                    let res: *mut DlsRecoverResult = self.out();
                    // Recovery waits for temporary holds: only briefly.
                    dls_zone_recover(cr, z, 100 + u, u32::from(self.inp.u8() % 2), flags, res);
                }
                34 | 35 => {
                    let cr = self.cred();
                    let countp: *mut u32 = self.out();
                    let cap = u32::from(self.inp.u8() % 8);
                    if !countp.is_null() {
                        *countp = cap;
                    }
                    if op == 34 {
                        let id = self.linkid();
                        let flags = u32::from(self.inp.u8() % 3);
                        let buf: *mut DlsHolder = if cap == 0 { self.out() } else { self.wild() };
                        let r = dls_devnet_holders(cr, id, flags, buf, countp);
                        if r == 0 {
                            assert!(*countp <= cap);
                        }
                    } else {
                        let buf: *mut DlsLinkInfo = if cap == 0 { self.out() } else { self.wild() };
                        let genp: *mut u64 = self.out();
                        let r = dls_devnet_snapshot(cr, buf, countp, genp);
                        if r == 0 {
                            assert!(*countp <= cap);
                            for i in 0..*countp as usize {
                                let li = &*buf.add(i);
                                assert!(li.dli_name.contains(&0) && li.dli_mac.contains(&0));
                            }
                        }
                    }
                }
                36 => {
                    let cr = self.cred();
                    let (a, b): (*mut u32, *mut u32) = (self.out(), self.out());
                    dls_mgmt_outbox_replay(cr, a, b);
                }
                38 => {
                    let cr = self.cred();
                    let out: *mut DlsCounters = self.out();
                    dls_devnet_counters(cr, out);
                }
                39 => dlszone_host_set_zone(self.inp.zone()),
                40 => {
                    let z = i32::from(self.inp.u8() % 4) + 1;
                    dlszone_host_zone_boot(z, 100 + u64::from(self.inp.u8() % 4));
                }
                41 => dlszone_host_zone_halt(i32::from(self.inp.u8() % 4) + 1),
                42 => dlszone_host_zone_destroy(i32::from(self.inp.u8() % 4) + 1),
                43 => {
                    if self.inp.bool() {
                        dlszone_host_dlmgmtd_kill();
                    } else {
                        dlszone_host_dlmgmtd_start();
                    }
                }
                44 => {
                    let n = self.name();
                    if !n.is_null() && (0..256).any(|i| *n.add(i) == 0) {
                        let class = 1u32 << (self.inp.u8() % 12);
                        let flags = u32::from(self.inp.u8() % 8);
                        let z = self.inp.zone();
                        let (maj, inst) =
                            (u64::from(self.inp.u8() % 2) * 88, u64::from(self.inp.u8() % 4));
                        let id = dlszone_host_dlmgmtd_add(n, class, flags, z, maj, inst);
                        self.ids.push(id);
                    }
                }
                45 if self.armed < 4 => {
                    self.armed += 1;
                    let e = i32::from(self.inp.u8() % 152);
                    if self.inp.bool() {
                        const OPS: &[&[u8]] = &[
                            b"link_hold_create\0",
                            b"link_hold\0",
                            b"link_rele_by_name\0",
                            b"link_setzid\0",
                            b"perim_enter\0",
                            b"mac_rename_primary\0",
                            b"mac_exclusive\0",
                            b"door_open\0",
                            b"iptun_create\0",
                            b"iptun_delete\0",
                            b"kstat_create\0",
                        ];
                        let i = self.inp.pick(OPS.len());
                        dlszone_host_fail_next(OPS[i].as_ptr().cast(), e.max(1));
                    } else {
                        dlszone_host_dlmgmtd_fail_next(i32::from(self.inp.u8() % 10), e as u32);
                    }
                }
                46 => dlszone_host_taskq_refuse(i32::from(self.inp.bool())),
                47 => {
                    let n = self.name();
                    if !n.is_null() && (0..256).any(|i| *n.add(i) == 0) && self.macs.len() < 16 {
                        let mh = dlszone_host_mac(n);
                        self.macs.push((mh, 0));
                    }
                }
                _ => {
                    dlszone_host_settle();
                }
            }
        }
        self.check();
    }
}

/// The `dls_link_t` references of the three MACs set up, for the trace.
fn link_refs() -> [i32; 3] {
    [c"vnic0", c"vnic1", c"vnic2"].map(|m| {
        // SAFETY: a NUL-terminated literal.
        unsafe { dlszone_host_link_refs(m.as_ptr()) }
    })
}

/// A fresh object over a fresh fake kernel with some links in place.
fn setup(run: &mut Run<'_, '_>) {
    dls_mgmt_fini();
    dlszone_host_reset();
    dls_mgmt_init();
    dlszone_host_dlmgmtd_start();
    assert_eq!(dls_mgmt_door_set(1), 0);
    dlszone_host_zone_boot(1, 100);
    dlszone_host_zone_boot(2, 100);
    // SAFETY: NUL-terminated literals.
    unsafe {
        dlszone_host_device(c"vnic".as_ptr(), 77, 0);
        dlszone_host_device(c"e1000g".as_ptr(), 88, 0);
        for (mac, name, zone) in
            [(c"vnic0", c"net0", 0), (c"vnic1", c"net1", 0), (c"vnic2", c"z1net0", 1)]
        {
            let mh = dlszone_host_mac(mac.as_ptr());
            let id = dlszone_host_dlmgmtd_add(name.as_ptr(), 0x08, 1, zone, 0, 0);
            assert_eq!(dls_devnet_create(mh, id, zone), 0);
            run.macs.push((mh, 1));
            run.ids.push(id);
        }
        dlszone_host_dlmgmtd_add(c"e1000g0".as_ptr(), 0x01, 3, 0, 88, 0);
    }
    dlszone_host_settle();
}

/// Releases and tears down everything, then checks nothing is left.
/// Returns the link records the registry had, to check they go with the
/// object.
fn teardown(run: &mut Run<'_, '_>) -> Vec<std::sync::Weak<dlszone::registry::Link>> {
    let records = {
        let d = dlszone_dls::abi::global().expect("initialised");
        let snap = d.registry().snapshot();
        snap.links
            .iter()
            .filter_map(|l| d.registry().link_ref(l.linkid).ok())
            .map(|a| std::sync::Arc::downgrade(&a))
            .collect::<Vec<_>>()
    };
    dlszone_host_set_zone(0);
    dlszone_host_taskq_refuse(0);
    dlszone_host_dlmgmtd_start();
    // A door_open failure armed and not yet used must not fail the
    // clean-up.
    for _ in 0..5 {
        if dls_mgmt_door_set(1) == 0 {
            break;
        }
    }
    dlszone_host_settle();
    // Temporary holds first: a long release may delete an implicit
    // tunnel, which waits for the temporary holds on it to drain.
    let mut handles = std::mem::take(&mut run.handles);
    handles.sort_by_key(|h| !h.2);
    for (h, dlp, tmp) in handles {
        if tmp && !dlp.is_null() {
            dls_devnet_rele_link(h, dlp);
        } else {
            dls_devnet_release(h);
        }
        if run.trace {
            eprintln!(
                "clean-up: release of {h:?} ({dlp:?}): {} complaints; refs {:?}",
                dlszone_host_kernel_complaints(),
                link_refs()
            );
        }
    }
    let d = dlszone_dls::abi::global().expect("initialised");
    let zones: Vec<_> = d.registry().snapshot().zones.iter().map(|z| z.0).collect();
    for z in zones.iter().filter(|z| z.id.0 != 0) {
        dlszone_host_zone_halt(z.id.0);
        dlszone_host_zone_destroy(z.id.0);
        let mut res = DlsRecoverResult::default();
        // SAFETY: a credential, and `res` is writable.
        unsafe { dls_zone_recover(dlszone_host_cred(0), z.id.0, z.uniqid, 0, 1, &mut res) };
    }
    for z in 1..=4 {
        dlszone_host_zone_halt(z);
        dlszone_host_zone_destroy(z);
    }
    dlszone_host_settle();
    for (mh, creates) in run.macs.clone() {
        // One destroy per create (a create of a MAC whose link went with
        // its zone holds its dls_link_t once more); an armed kernel
        // failure may refuse one: try again.
        let mut left = creates;
        for _ in 0..creates + 5 {
            if left == 0 {
                break;
            }
            let mut id = 0u32;
            // SAFETY: `id` is writable.
            let r = unsafe { dls_devnet_destroy(mh, &mut id, 1) };
            if run.trace {
                eprintln!("clean-up: destroy of {mh:?}: {r} (link {id}); refs {:?}", link_refs());
            }
            if r == 0 {
                left -= 1;
            }
        }
    }
    for _ in 0..8 {
        let mut n = (0u32, 0u32);
        // SAFETY: the outputs are writable.
        unsafe { dls_mgmt_outbox_replay(dlszone_host_cred(0), &mut n.0, &mut n.1) };
        dlszone_host_settle();
    }
    run.check();
    let c = d.counters();
    let snap = d.registry().snapshot();
    // Links left: only an implicit tunnel whose deletion failed, or a
    // physical link softmac attached and no one destroyed.
    let left: Vec<_> = snap
        .links
        .iter()
        .filter(|l| {
            !l.mac.as_bytes().starts_with(b"iptun") && !l.mac.as_bytes().starts_with(b"e1000g")
        })
        .collect();
    assert!(left.is_empty(), "links left after the clean-up: {left:?}");
    assert_eq!(c.dc_handles, 0, "handles left");
    assert_eq!(c.dc_pending_frees, 0, "detached links not freed");
    assert_eq!(c.dc_outbox, 0, "notices left");
    assert_eq!(dlszone_host_perims_held(), 0, "perimeters left held");
    if dlszone_host_kernel_complaints() != 0 {
        let console = Host::default().env().world().console.clone();
        panic!("the fake kernel saw misuse: {console:?}");
    }
    let links = snap.links.len();
    let ks = dlszone_host_kstats_total() as usize;
    assert!(ks <= 2 * links, "{ks} kstats for {links} links");
    for mac in [c"vnic0", c"vnic1", c"vnic2"] {
        // SAFETY: a NUL-terminated literal.
        let refs = unsafe { dlszone_host_link_refs(mac.as_ptr()) };
        assert_eq!(refs, -1, "dls_link_t of {mac:?} left");
    }
    records
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut run = Run {
        inp: &mut inp,
        arena: vec![0x6161_6161_6161_6161; ARENA / 8],
        macs: Vec::new(),
        handles: Vec::new(),
        ids: Vec::new(),
        next_out: 0,
        armed: 0,
        trace: std::env::var_os("DLSZONE_FUZZ_TRACE").is_some(),
    };
    dlszone_host_set_zone(0);
    setup(&mut run);
    // The arena starts as fuzzed bytes.
    let seed = run.inp.bytes(64);
    for (i, b) in seed.iter().enumerate() {
        run.arena[i * 97 % (ARENA / 8)] = u64::from(*b) * 0x0101_0101_0101_0101;
    }
    let mut n = 0;
    while !run.inp.done() && n < 200 {
        run.step();
        n += 1;
    }
    let records = teardown(&mut run);
    dls_mgmt_fini();
    // Every link record went with the object: none leaked.
    let alive = records.iter().filter(|w| w.strong_count() > 0).count();
    assert_eq!(alive, 0, "link records outlive dls_mgmt_fini()");
}
