//! The rest of misc/dls, which `dls_mgmt.o` is linked with: `dls_link_t`
//! (`usr/src/uts/common/io/dls/dls_link.c`: `dls_link_hold`,
//! `dls_link_hold_create`, `dls_link_rele`, `dls_link_rele_by_name`,
//! `dls_link_setzid`, `dls_link_getzid`, `dls_link_dev`, the hash
//! `i_dls_link_hash` and `mod_hash_find()` on it) and the "link" kstats (`dls_stat.c`:
//! `dls_stat_create`, `dls_stat_update`). They are provided as module
//! misc/dls (the module the object is linked into).
//!
//! A `dls_link_t` is a record whose first bytes are its MAC name, as
//! `dl_name` is; it holds its MAC open (`mac_open()`) from its creation
//! to its last release. The reference counting is gate's, line for line:
//! `dls_link_setzid()` keeps one extra reference while the link's data
//! path is in a non-global zone and drops it when it comes back.
//!
//! | misuse | result |
//! |---|---|
//! | any of these (but the hash lookup and the stat update) outside the MAC's perimeter | panic (`ASSERT(MAC_PERIM_HELD(dlp->dl_mh))`) |
//! | `dls_link_rele` of a `dls_link_t` that is gone (a reference underflow) | panic |
//! | `mod_hash_find` on another hash; `dls_stat_update` of a kstat or link that is gone | panic |
//! | a `dls_link_t` still referenced after `dls_mgmt_fini()` | complaint (dls_link_fini() would fail with `EBUSY`) |

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use super::console::fatal;
use super::{Def, KernelSymbol, Provider, c_str, kstat, mac, take_failure};

/// The module that defines these symbols: misc/dls itself.
pub const MODULE: &str = "misc/dls";

const ENOENT: c_int = 2;
const EACCES: c_int = 13;
const EINVAL: c_int = 22;
/// `MH_ERR_NOTFOUND`.
const MH_ERR_NOTFOUND: c_int = -1;
/// What `i_dls_link_hash` points at: no real memory, only an identity.
const HASH: u64 = 0x0d15_11a5_0000_1000;
/// `dls_stat.c`'s named statistics: `STAT_INFO_COUNT` MAC statistics and
/// two of its own. Only their count matters here.
const LINK_STATS: &[(&str, u8)] = &[
    ("ifspeed", 4),
    ("multircv", 4),
    ("brdcstrcv", 4),
    ("multixmt", 4),
    ("brdcstxmt", 4),
    ("norcvbuf", 4),
    ("ierrors", 4),
    ("noxmtbuf", 4),
    ("oerrors", 4),
    ("collisions", 4),
    ("rbytes", 4),
    ("ipackets", 4),
    ("obytes", 4),
    ("opackets", 4),
    ("rbytes64", 4),
    ("ipackets64", 4),
    ("obytes64", 4),
    ("opackets64", 4),
    ("link_state", 2),
    ("link_duplex", 2),
    ("unknowns", 2),
];

struct Link {
    /// `dl_name` first: the name, NUL-terminated.
    mem: Box<[u8; 256]>,
    refs: u32,
    zid: i32,
    mh: usize,
}

#[derive(Default)]
struct Links {
    by_name: BTreeMap<Vec<u8>, Link>,
}

static LINKS: Mutex<Option<Links>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Links) -> R) -> R {
    let mut g = LINKS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Links::default))
}

/// Forgets every `dls_link_t` (a fresh boot).
pub fn reset() {
    *LINKS.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// References on the `dls_link_t` of MAC `name`, and its data-path zone.
pub fn refs(name: &[u8]) -> Option<(u32, i32)> {
    with(|l| l.by_name.get(name).map(|x| (x.refs, x.zid)))
}

/// `dls_link_t`s still referenced, one line each.
pub fn leftovers() -> Vec<String> {
    with(|l| {
        l.by_name
            .iter()
            .map(|(n, x)| {
                format!(
                    "the dls_link_t of MAC '{}' still has {} reference(s)",
                    String::from_utf8_lossy(n),
                    x.refs
                )
            })
            .collect()
    })
}

fn name_arg(p: *const c_char, op: &str) -> Vec<u8> {
    // SAFETY: the module passes a NUL-terminated MAC name (MAXNAMELEN).
    let s = unsafe { c_str(p, 256) }.unwrap_or_else(|| fatal(&format!("{op}: NULL name")));
    s.into_bytes()
}

fn need_perim(mh: usize, name: &[u8], op: &str) {
    if !mac::perim_held_by_me(mh) {
        fatal(&format!(
            "{op}('{}'): the MAC perimeter is not held by the caller \
             (ASSERT(MAC_PERIM_HELD(dlp->dl_mh)))",
            String::from_utf8_lossy(name)
        ));
    }
}

/// `dls_link_hold_common()`: the `dls_link_t` of `name` with one more
/// reference, created (opening the MAC) if `create`.
fn hold(name: &[u8], create: bool, op: &str) -> Result<usize, c_int> {
    if let Some(mh) = with(|l| l.by_name.get(name).map(|x| x.mh)) {
        need_perim(mh, name, op);
    } else {
        if !create {
            return Err(ENOENT);
        }
        let mh = mac::open(name)?;
        if !mac::perim_held_by_me(mh) {
            mac::close(mh);
            need_perim(mh, name, op);
        }
        let mut mem = Box::new([0u8; 256]);
        let n = name.len().min(255);
        mem[..n].copy_from_slice(&name[..n]);
        with(|l| l.by_name.insert(name.to_vec(), Link { mem, refs: 0, zid: 0, mh }));
    }
    Ok(with(|l| {
        let x = l.by_name.get_mut(name).map(|x| {
            x.refs += 1;
            x.mem.as_ptr() as usize
        });
        x.unwrap_or(0)
    }))
}

/// `dls_link_rele()` of the `dls_link_t` at `dlp`.
fn rele(dlp: usize, op: &str) {
    let Some((name, mh)) = with(|l| {
        l.by_name
            .iter()
            .find(|(_, x)| x.mem.as_ptr() as usize == dlp)
            .map(|(n, x)| (n.clone(), x.mh))
    }) else {
        fatal(&format!(
            "{op}({dlp:#x}): not a dls_link_t that exists (released more often than held?)"
        ))
    };
    need_perim(mh, &name, op);
    let gone = with(|l| {
        let x = l.by_name.get_mut(&name)?;
        x.refs -= 1;
        if x.refs == 0 {
            l.by_name.remove(&name);
            return Some(true);
        }
        Some(false)
    });
    if gone == Some(true) {
        mac::close(mh);
    }
}

/// A caller outside the object drops its reference on the `dls_link_t`
/// at `dlp`: `dls_link_rele()` inside the perimeter, entered and left
/// by name around it, on the calling thread.
pub fn caller_rele(dlp: usize) {
    let (name, _) = link_of(dlp as *mut c_void, "dls_link_rele");
    match mac::perim_enter_by_name(&name) {
        Ok(mph) => {
            rele(dlp, "dls_link_rele");
            mac::perim_exit(mph);
        }
        Err(e) => fatal(&format!("dls_link_rele: the perimeter cannot be entered: error {e}")),
    }
}

fn link_of(dlp: *mut c_void, op: &str) -> (Vec<u8>, usize) {
    let r = with(|l| {
        l.by_name
            .iter()
            .find(|(_, x)| std::ptr::eq(x.mem.as_ptr(), dlp.cast::<u8>()))
            .map(|(n, x)| (n.clone(), x.mh))
    });
    r.unwrap_or_else(|| fatal(&format!("{op}({dlp:p}): not a dls_link_t that exists")))
}

// --- The DDI ---------------------------------------------------------------

extern "C" fn dls_link_hold_create(name: *const c_char, dlpp: *mut *mut c_void) -> c_int {
    if let Some(e) = take_failure("link_hold_create") {
        return e;
    }
    let n = name_arg(name, "dls_link_hold_create");
    match hold(&n, true, "dls_link_hold_create") {
        Ok(p) => {
            // SAFETY: the module passes a dls_link_t * to fill in.
            unsafe { dlpp.write(p as *mut c_void) };
            0
        }
        Err(e) => e,
    }
}

extern "C" fn dls_link_hold(name: *const c_char, dlpp: *mut *mut c_void) -> c_int {
    if let Some(e) = take_failure("link_hold") {
        return e;
    }
    let n = name_arg(name, "dls_link_hold");
    match hold(&n, false, "dls_link_hold") {
        Ok(p) => {
            // SAFETY: the module passes a dls_link_t * to fill in.
            unsafe { dlpp.write(p as *mut c_void) };
            0
        }
        Err(e) => e,
    }
}

extern "C" fn dls_link_rele(dlp: *mut c_void) {
    rele(dlp as usize, "dls_link_rele");
}

extern "C" fn dls_link_rele_by_name(name: *const c_char) -> c_int {
    let n = name_arg(name, "dls_link_rele_by_name");
    let Some((dlp, mh)) = with(|l| l.by_name.get(&n).map(|x| (x.mem.as_ptr() as usize, x.mh)))
    else {
        return ENOENT;
    };
    need_perim(mh, &n, "dls_link_rele_by_name");
    if let Some(e) = take_failure("link_rele_by_name") {
        return e;
    }
    rele(dlp, "dls_link_rele_by_name");
    0
}

extern "C" fn dls_link_setzid(name: *const c_char, zid: c_int) -> c_int {
    let n = name_arg(name, "dls_link_setzid");
    let dlp = match hold(&n, true, "dls_link_setzid") {
        Ok(p) => p,
        Err(e) => return e,
    };
    let old = with(|l| l.by_name.get(&n).map_or(0, |x| x.zid));
    let mut err = 0;
    if old != zid {
        if let Some(e) = take_failure("link_setzid") {
            // dl_zone_ref != 0: streams opened in the link's own zone.
            err = e;
        } else {
            with(|l| {
                if let Some(x) = l.by_name.get_mut(&n) {
                    x.zid = zid;
                }
            });
            if zid == 0 {
                // Back in the global zone: drop the reference the move to
                // a non-global zone kept.
                rele(dlp, "dls_link_setzid");
            }
        }
    }
    // Only a successful move out of the global zone keeps its reference.
    if err != 0 || old != 0 {
        rele(dlp, "dls_link_setzid");
    }
    err
}

extern "C" fn dls_link_getzid(name: *const c_char, zidp: *mut c_int) -> c_int {
    let n = name_arg(name, "dls_link_getzid");
    let dlp = match hold(&n, false, "dls_link_getzid") {
        Ok(p) => p,
        Err(e) => return e,
    };
    let zid = with(|l| l.by_name.get(&n).map_or(0, |x| x.zid));
    // SAFETY: the module passes a zoneid_t * to fill in.
    unsafe { zidp.write(zid) };
    rele(dlp, "dls_link_getzid");
    0
}

extern "C" fn dls_link_dev(dlp: *mut c_void) -> u64 {
    let (_, mh) = link_of(dlp, "dls_link_dev");
    super::devices::mac_dev(mh)
}

extern "C" fn mod_hash_find(
    hash: *mut c_void,
    key: *const c_char,
    valp: *mut *mut c_void,
) -> c_int {
    if hash as u64 != HASH {
        fatal(&format!("mod_hash_find({hash:p}): not a hash the kernel made"));
    }
    let n = name_arg(key, "mod_hash_find");
    match with(|l| l.by_name.get(&n).map(|x| x.mem.as_ptr() as usize)) {
        Some(p) => {
            // SAFETY: the caller passes a mod_hash_val_t to fill in.
            unsafe { valp.write(p as *mut c_void) };
            0
        }
        None => MH_ERR_NOTFOUND,
    }
}

fn init_hash(b: &mut [u8]) {
    b.copy_from_slice(&HASH.to_le_bytes());
}

#[allow(clippy::too_many_arguments)]
extern "C" fn dls_stat_create(
    module: *const c_char,
    instance: c_int,
    name: *const c_char,
    zid: c_int,
    update: usize,
    private: usize,
    kspp: *mut *mut c_void,
) -> c_int {
    if let Some(_e) = take_failure("kstat_create") {
        // kstat_create_zone() failed.
        return EINVAL;
    }
    // SAFETY: NUL-terminated names of at most KSTAT_STRLEN.
    let (m, n) = unsafe { (c_str(module, 31), c_str(name, 31)) };
    let (Some(m), Some(n)) = (m, n) else { fatal("dls_stat_create: NULL name") };
    let ksp = kstat::create_named(&m, instance, &n, "net", LINK_STATS, zid);
    kstat::set_update(ksp, update, private);
    kstat::install(ksp);
    // SAFETY: the module passes a kstat_t * to fill in.
    unsafe { kspp.write(ksp as *mut c_void) };
    0
}

extern "C" fn dls_stat_update(ksp: *mut c_void, dlp: *mut c_void, rw: c_int) -> c_int {
    if !kstat::is_live(ksp as usize) {
        fatal(&format!("dls_stat_update({ksp:p}): not a kstat that exists"));
    }
    link_of(dlp, "dls_stat_update");
    if rw != kstat::KSTAT_READ {
        return EACCES;
    }
    0
}

/// misc/dls's `dls_link_t` and "link" kstat calls, and `mod_hash_find`
/// (genunix).
pub fn symbols() -> Vec<KernelSymbol> {
    let f = |name: &str, addr: usize| KernelSymbol {
        name: name.into(),
        provider: Provider::Module(MODULE),
        def: Def::Func(addr),
    };
    vec![
        f("dls_link_hold_create", dls_link_hold_create as *const () as usize),
        f("dls_link_hold", dls_link_hold as *const () as usize),
        f("dls_link_rele", dls_link_rele as *const () as usize),
        f("dls_link_rele_by_name", dls_link_rele_by_name as *const () as usize),
        f("dls_link_setzid", dls_link_setzid as *const () as usize),
        f("dls_link_getzid", dls_link_getzid as *const () as usize),
        f("dls_link_dev", dls_link_dev as *const () as usize),
        f("dls_stat_create", dls_stat_create as *const () as usize),
        f("dls_stat_update", dls_stat_update as *const () as usize),
        KernelSymbol {
            name: "i_dls_link_hash".into(),
            provider: Provider::Module(MODULE),
            def: Def::Data { size: 8, align: 8, init: init_hash },
        },
        KernelSymbol::core_fn("mod_hash_find", mod_hash_find as *const () as usize),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setzid_keeps_a_reference_while_the_data_path_is_away() {
        let _g = crate::machine::test_lock();
        reset();
        mac::reset();
        let _ = mac::register(b"vnic1");
        let mph = mac::perim_enter_by_name(b"vnic1").unwrap();
        let mut dlp: *mut c_void = std::ptr::null_mut();
        assert_eq!(dls_link_hold_create(c"vnic1".as_ptr(), &mut dlp), 0);
        assert_eq!(refs(b"vnic1"), Some((1, 0)));
        assert_eq!(dls_link_setzid(c"vnic1".as_ptr(), 5), 0);
        assert_eq!(refs(b"vnic1"), Some((2, 5)));
        assert_eq!(dls_link_setzid(c"vnic1".as_ptr(), 6), 0);
        assert_eq!(refs(b"vnic1"), Some((2, 6)));
        assert_eq!(dls_link_setzid(c"vnic1".as_ptr(), 0), 0);
        assert_eq!(refs(b"vnic1"), Some((1, 0)));
        let mut v: *mut c_void = std::ptr::null_mut();
        let hash = HASH as *mut c_void;
        assert_eq!(mod_hash_find(hash, c"vnic1".as_ptr(), &mut v), 0);
        assert_eq!(v, dlp);
        assert_eq!(dls_link_rele_by_name(c"vnic1".as_ptr()), 0);
        assert_eq!(refs(b"vnic1"), None);
        assert_eq!(mod_hash_find(hash, c"vnic1".as_ptr(), &mut v), MH_ERR_NOTFOUND);
        mac::perim_exit(mph);
        assert!(mac::leftovers().is_empty(), "{:?}", mac::leftovers());
        reset();
        mac::reset();
    }
}
