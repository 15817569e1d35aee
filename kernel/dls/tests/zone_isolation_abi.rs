//! Zone isolation at the C API (issue 14): the entry points of
//! `dls_mgmt.o` that take a caller's credential or act for the calling
//! thread's zone, probed from non-global zones over random states.
//!
//! Each case builds a state through the C API alone (links created in the
//! global zone and in three zones, lent plainly or transiently, held from
//! inside zones and from the global zone, zones halted), then probes from
//! zones 1..3:
//!
//! - `dls_devnet_hold_zlink()` naming another zone's or the global zone's
//!   link (by its name, in its zone, in `ALL_ZONES`, in the caller's own
//!   zone; temporary and long) answers exactly as for a name no link
//!   has, and changes nothing;
//! - `dls_devnet_open()` from a zone's thread, likewise;
//! - `dls_devnet_snapshot()` with the zone's credential lists only links
//!   in the zone, with no name reserved elsewhere and a hold count of
//!   the zone's own holds and the registry's only (not the global zone's
//!   `snoop -z`);
//! - `dls_devnet_holders()`, `dls_zone_recover()`,
//!   `dls_mgmt_outbox_replay()` and `dls_devnet_counters()` are the global
//!   zone's: `EACCES`, for another zone's link as for none, changing
//!   nothing;
//! - `dls_zone_recover()` from the global zone naming a zone id the
//!   registry has not recorded since it was destroyed gets `ENXIO`, and
//!   naming a stale incarnation (once the new one is in use) `ESTALE`;
//!   neither changes anything.
//!
//! "Changes nothing": the global zone's snapshot, the counters and
//! dlmgmtd's records are the same before and after. Cases are generated
//! by a fixed-seed generator (`DLSZONE_ISOLATION_ABI_CASES`, default
//! 2,000).

use core::ffi::c_void;
use std::ffi::CString;
use std::ptr;

use dlszone::dlszone_h::{DlsCounters, DlsHolder, DlsLinkInfo, DlsRecoverResult};
use dlszone_dls::abi::*;
use dlszone_dls::host::*;

const ALL_ZONES: i32 = -1;
const GHOST: &str = "ghost0";

/// xorshift64*: the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cred(z: i32) -> *const c_void {
    dlszone_host_cred(z)
}

/// The global zone's view of everything, the counters, and dlmgmtd's
/// records: what a probe must not change.
fn state() -> (Vec<DlsLinkInfo>, DlsCounters, u64) {
    let mut buf = vec![DlsLinkInfo::default(); 64];
    let mut n = 64u32;
    let mut c = DlsCounters::default();
    // SAFETY: `buf` holds `n` records; `c` is writable.
    unsafe {
        assert_eq!(dls_devnet_snapshot(cred(0), buf.as_mut_ptr(), &mut n, ptr::null_mut()), 0);
        assert_eq!(dls_devnet_counters(cred(0), &mut c), 0);
    }
    buf.truncate(n as usize);
    (buf, c, dlszone_host_dlmgmtd_digest())
}

fn snapshot_of(z: i32) -> Vec<DlsLinkInfo> {
    let mut buf = vec![DlsLinkInfo::default(); 64];
    let mut n = 64u32;
    // SAFETY: as in state().
    unsafe {
        assert_eq!(dls_devnet_snapshot(cred(z), buf.as_mut_ptr(), &mut n, ptr::null_mut()), 0)
    };
    buf.truncate(n as usize);
    buf
}

/// The generation `dls_devnet_snapshot()` reports to zone `z`.
fn generation_of(z: i32) -> u64 {
    let mut buf = vec![DlsLinkInfo::default(); 64];
    let mut n = 64u32;
    let mut g = 0u64;
    // SAFETY: as in state(); `g` is writable.
    unsafe { assert_eq!(dls_devnet_snapshot(cred(z), buf.as_mut_ptr(), &mut n, &mut g), 0) };
    g
}

fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]
}

/// A link of the state: its MAC handle, id, name and creating zone.
struct Made {
    id: u32,
}

/// Releases a handle a probe got (a probe that succeeded is a failure
/// already; this keeps the next probes meaningful).
fn drop_handle(rc: i32, h: *mut c_void) {
    if rc == 0 {
        dls_devnet_release(h);
    }
}

/// `dls_devnet_hold_zlink()` from `caller` of `name` in `zone`.
fn zlink(caller: i32, zone: i32, name: &str, flags: u32) -> i32 {
    let n = CString::new(name).expect("name");
    let mut h: *mut c_void = ptr::null_mut();
    // SAFETY: a credential, a C string, a writable handle.
    let rc = unsafe { dls_devnet_hold_zlink(cred(caller), zone, n.as_ptr(), flags, &mut h) };
    drop_handle(rc, h);
    rc
}

/// `dls_devnet_open()` of `name` from a thread of `caller`.
fn open(caller: i32, name: &str) -> i32 {
    let n = CString::new(name).expect("name");
    let mut h: *mut c_void = ptr::null_mut();
    let mut dev = 0u64;
    dlszone_host_set_zone(caller);
    // SAFETY: a C string and writable outputs.
    let rc = unsafe { dls_devnet_open(n.as_ptr(), &mut h, &mut dev) };
    dlszone_host_set_zone(0);
    if rc == 0 {
        dls_devnet_close(h);
    }
    rc
}

/// The long holds on `linkid` taken from inside `zone`, and the
/// registry's own (existence, loan), as the global zone sees them.
fn own_holds(zone: i32, linkid: u32) -> u64 {
    let mut hb = [DlsHolder::default(); 16];
    let mut n = 16u32;
    // SAFETY: `hb` holds `n` records.
    let rc = unsafe { dls_devnet_holders(cred(0), linkid, 0, hb.as_mut_ptr(), &mut n) };
    assert_eq!(rc, 0);
    hb[..n as usize]
        .iter()
        .filter(|h| h.dh_zoneid == zone || h.dh_kind == 1 || h.dh_kind == 2)
        .map(|h| h.dh_count)
        .sum()
}

fn global_only(caller: i32, linkid: u32) -> [i32; 4] {
    let mut hb = [DlsHolder::default(); 4];
    let mut n = 4u32;
    let mut res = DlsRecoverResult::default();
    let (mut a, mut b) = (0u32, 0u32);
    let mut c = DlsCounters::default();
    // SAFETY: every output is writable and sized as declared.
    unsafe {
        [
            dls_devnet_holders(cred(caller), linkid, 1, hb.as_mut_ptr(), &mut n),
            dls_zone_recover(cred(caller), caller, 100, 0, 1, &mut res),
            dls_mgmt_outbox_replay(cred(caller), &mut a, &mut b),
            dls_devnet_counters(cred(caller), &mut c),
        ]
    }
}

fn one_case(seed: u64, tally: &mut [u64; 4]) -> Result<(), String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    dls_mgmt_fini();
    dlszone_host_reset();
    dls_mgmt_init();
    dlszone_host_dlmgmtd_start();
    assert_eq!(dls_mgmt_door_set(1), 0);
    for z in 1..=3 {
        dlszone_host_zone_boot(z, 100);
    }
    let names = ["net0", "net1", "net2", "e1000g0"];
    let mut made: Vec<Made> = Vec::new();
    let mut holds: Vec<*mut c_void> = Vec::new();
    for i in 0..(4 + rng.below(6)) {
        let zone = rng.below(4) as i32;
        let name = names[rng.below(4) as usize];
        let mac = CString::new(format!("vnic{i}")).expect("mac");
        let n = CString::new(name).expect("name");
        // SAFETY: C strings.
        let (mh, id) = unsafe {
            (
                dlszone_host_mac(mac.as_ptr()),
                dlszone_host_dlmgmtd_add(n.as_ptr(), 0x08, 1, zone, 0, 0),
            )
        };
        if dls_devnet_create(mh, id, zone) == 0 {
            made.push(Made { id });
        }
    }
    for _ in 0..rng.below(8) {
        let Some(m) = made.get(rng.below(made.len().max(1) as u64) as usize) else { break };
        let mut h: *mut c_void = ptr::null_mut();
        match rng.below(3) {
            0 => {
                // SAFETY: a writable handle.
                if unsafe { dls_devnet_hold_tmp(m.id, &mut h) } == 0 {
                    let to = 1 + rng.below(3) as i32;
                    let _ = dls_devnet_setzid_transient(h, to, i32::from(rng.below(2) == 0));
                    dls_devnet_rele_tmp(h);
                }
            }
            _ => {
                let z = rng.below(4) as i32;
                dlszone_host_set_zone(z);
                // SAFETY: a writable handle.
                if unsafe { dls_devnet_hold(m.id, &mut h) } == 0 {
                    holds.push(h);
                }
                dlszone_host_set_zone(0);
            }
        }
    }
    if rng.below(3) == 0 {
        dlszone_host_zone_halt(1 + rng.below(3) as i32);
    }
    dlszone_host_settle();

    for _ in 0..12 {
        let caller = 1 + rng.below(3) as i32;
        let all = snapshot_of(0);
        // The caller's own view.
        for li in snapshot_of(caller) {
            if li.dli_zone != caller || cstr(&li.dli_reserved) != b"" {
                return Err(format!("zone {caller}'s snapshot shows {li:?}"));
            }
            let own = own_holds(caller, li.dli_linkid);
            if li.dli_long_holds != own {
                return Err(format!(
                    "zone {caller}'s snapshot counts {} holds on link {}, its own and the \
                     registry's are {own}",
                    li.dli_long_holds, li.dli_linkid
                ));
            }
        }
        // A link outside the caller's zone, or a reserved name.
        let foreign: Vec<&DlsLinkInfo> =
            all.iter().filter(|g| g.dli_zone != caller && g.dli_linkid != 0).collect();
        let Some(g) = foreign.get(rng.below(foreign.len().max(1) as u64) as usize) else {
            continue;
        };
        let mine: Vec<&[u8]> =
            all.iter().filter(|x| x.dli_zone == caller).map(|x| cstr(&x.dli_name)).collect();
        let use_reserved = rng.below(2) == 0 && !cstr(&g.dli_reserved).is_empty();
        let (name, in_zone) = if use_reserved {
            (cstr(&g.dli_reserved), g.dli_owner)
        } else {
            (cstr(&g.dli_name), g.dli_zone)
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let before = state();
        for zone in [in_zone, ALL_ZONES, caller, 0] {
            // A name the caller's own zone also has is its own to see.
            if (zone == caller || zone == ALL_ZONES) && mine.contains(&name.as_bytes()) {
                continue;
            }
            for flags in [1u32, 2] {
                let real = zlink(caller, zone, &name, flags);
                let ghost = zlink(caller, zone, GHOST, flags);
                if real != ghost {
                    return Err(format!(
                        "hold_zlink from {caller} of {name:?} in {zone}: {real}, for no link: {ghost}"
                    ));
                }
                tally[0] += 1;
            }
        }
        if !mine.contains(&name.as_bytes()) {
            let (real, ghost) = (open(caller, &name), open(caller, GHOST));
            if real != ghost {
                return Err(format!(
                    "open from {caller} of {name:?}: {real}, for no link: {ghost}"
                ));
            }
            tally[1] += 1;
        }
        let (real, ghost) = (global_only(caller, g.dli_linkid), global_only(caller, 777));
        if real != ghost || real.iter().any(|&e| e != 13) {
            return Err(format!(
                "global-zone calls from {caller}: {real:?}, for no link: {ghost:?}"
            ));
        }
        tally[2] += 1;
        if state() != before {
            return Err(format!(
                "probes from zone {caller} of link {} changed the state",
                g.dli_linkid
            ));
        }
    }
    // A zone's snapshot generation tells it nothing of other zones: a
    // global-zone link created, then destroyed, moves the global zone's
    // generation each time, and no zone's.
    let gens = || -> Vec<u64> { (0..=3).map(generation_of).collect() };
    let mut seen = gens();
    let mac = CString::new("vnic_gen").expect("mac");
    let n = CString::new("genprobe0").expect("name");
    // SAFETY: C strings.
    let (mh, id) = unsafe {
        (dlszone_host_mac(mac.as_ptr()), dlszone_host_dlmgmtd_add(n.as_ptr(), 0x08, 1, 0, 0, 0))
    };
    if dls_devnet_create(mh, id, 0) != 0 {
        return Err("a global-zone link for the generation probe".into());
    }
    for step in ["create", "destroy"] {
        if step == "destroy" {
            let mut gone = 0u32;
            // SAFETY: `gone` is writable.
            if unsafe { dls_devnet_destroy(mh, &mut gone, 1) } != 0 {
                return Err("destroy of the generation probe's link".into());
            }
        }
        let now = gens();
        if now[0] == seen[0] || now[1..] != seen[1..] {
            return Err(format!("generations {seen:?} became {now:?} after a global-zone {step}"));
        }
        seen = now;
    }
    // A stale incarnation: zone 3 destroyed and booted again.
    dlszone_host_zone_halt(3);
    dlszone_host_zone_destroy(3);
    dlszone_host_zone_boot(3, 200);
    dlszone_host_settle();
    // The registry records a zone at its first use (as under illumos,
    // where the netstack constructor runs before the zone is findable):
    // until then the id is unknown, for either incarnation.
    for uniqid in [100, 200] {
        let before = state();
        let mut res = DlsRecoverResult::default();
        // SAFETY: `res` is writable.
        let rc = unsafe { dls_zone_recover(cred(0), 3, uniqid, 0, 1, &mut res) };
        if rc != 6 || state() != before {
            return Err(format!("recovery of unrecorded zone 3 ({uniqid}): {rc}"));
        }
    }
    // First use of the new incarnation: a link created in it.
    let mac = CString::new("vnic_new").expect("mac");
    let n = CString::new("net9").expect("name");
    // SAFETY: C strings.
    let (mh, id) = unsafe {
        (dlszone_host_mac(mac.as_ptr()), dlszone_host_dlmgmtd_add(n.as_ptr(), 0x08, 1, 3, 0, 0))
    };
    if dls_devnet_create(mh, id, 3) != 0 {
        return Err("a link in the new incarnation of zone 3".into());
    }
    let before = state();
    let mut res = DlsRecoverResult::default();
    // SAFETY: `res` is writable.
    let rc = unsafe { dls_zone_recover(cred(0), 3, 100, 0, 1, &mut res) };
    if rc != 151 || state() != before || res != DlsRecoverResult::default() {
        return Err(format!("recovery of a stale incarnation: {rc}"));
    }
    tally[3] += 1;
    for h in holds {
        dls_devnet_release(h);
    }
    Ok(())
}

#[test]
fn zones_see_nothing_outside_through_the_c_api() {
    let cases: u64 = std::env::var("DLSZONE_ISOLATION_ABI_CASES")
        .map_or(2_000, |v| v.parse().expect("a number"));
    let mut tally = [0u64; 4];
    for seed in 0..cases {
        if let Err(e) = one_case(seed, &mut tally) {
            panic!("case {seed}: {e}");
        }
    }
    dls_mgmt_fini();
    println!(
        "zone isolation (C API): {cases} cases; {} hold_zlink probes, {} opens, {} rounds of \
         global-zone-only calls, {} stale recoveries, each answered as for no link",
        tally[0], tally[1], tally[2], tally[3]
    );
}
