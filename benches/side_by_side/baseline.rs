//! The illumos model's side of the comparison: each operation as the
//! illumos kernel performs it (see `illumos.rs` and `docs/performance.md`,
//! "The illumos baseline").

use std::ffi::CString;

use crate::illumos::{ENOENT, GLOBAL_ZONEID, Illumos};
use crate::{HALT_LENT, HALT_ZONE, Subject, Target, ZONES, halt_lent, halt_own};

/// A link a benchmark targets, as the kernel names it.
pub(crate) struct Key {
    id: u32,
    zone: i32,
    mac: CString,
    name: Vec<u8>,
}

fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL in names")
}

/// The model, with the MAC names of the halting zone's own links (what
/// the VNIC driver knows when zoneadmd deletes them by id).
pub(crate) struct Baseline {
    k: Illumos,
    halt_own: Vec<(u32, CString)>,
}

impl Subject for Baseline {
    type Key = Key;

    fn new() -> Self {
        let k = Illumos::new();
        for z in 1..=ZONES {
            k.zone_create(z);
        }
        k.zone_create(HALT_ZONE);
        for j in 0..4 {
            let t = halt_lent(j);
            k.devnet_create(&cstring(&t.mac), t.id, GLOBAL_ZONEID, t.name.as_bytes()).unwrap();
        }
        let halt_own = (0..4).map(halt_own).map(|t| (t.id, cstring(&t.mac))).collect();
        Baseline { k, halt_own }
    }

    /// A link created in its zone: dlmgmtd lists it for the zone
    /// (`zone_add_datalink`, here without its search of every zone, which
    /// would make building 100,000 links quadratic), then the VNIC's
    /// `dls_devnet_create`.
    fn populate(&self, t: &Target) {
        self.k.zone_add_datalink_unchecked(t.zone, t.id);
        self.k.devnet_create(&cstring(&t.mac), t.id, t.zone, t.name.as_bytes()).unwrap();
    }

    fn key(&self, t: &Target) -> Key {
        Key { id: t.id, zone: t.zone, mac: cstring(&t.mac), name: t.name.clone().into_bytes() }
    }

    /// `dls_devnet_hold_tmp`, `dls_devnet_rele_tmp`.
    fn tmp_hold_rele(&self, k: &Key) {
        let h = self.k.hold_tmp(k.id).unwrap();
        self.k.rele_tmp(h);
    }

    /// `dls_devnet_hold`, `dls_devnet_rele`.
    fn hold_rele(&self, k: &Key) {
        let h = self.k.hold(k.id).unwrap();
        self.k.rele(h);
    }

    /// The kernel has no (zone, name) index: a hold by link name asks
    /// dlmgmtd over the door. Its nearest in-kernel equivalent, and a lower
    /// bound on it, is the long hold by MAC name `dld_str_attach` takes
    /// (`dls_devnet_hold_by_dev`): a string-keyed lookup and a hold.
    fn hold_by_name_rele(&self, k: &Key) {
        let h = self.k.hold_by_macname(&k.mac).unwrap();
        self.k.rele(h);
    }

    /// dlmgmtd lists the link for its zone, the VNIC driver creates its
    /// devnet; then the devnet is destroyed and dlmgmtd unlists it. Without
    /// `zone_list`, only the two `dls_mgmt.c` calls.
    fn create_destroy(&self, k: &Key, zone_list: bool) {
        if zone_list {
            self.k.zone_add_datalink(k.zone, k.id).unwrap();
        }
        self.k.devnet_create(&k.mac, k.id, k.zone, &k.name).unwrap();
        self.k.devnet_destroy(&k.mac).unwrap();
        if zone_list {
            self.k.zone_remove_datalink(k.zone, k.id).unwrap();
        }
    }

    /// Four links of the zone's own (created in it) and four lent by the
    /// global zone (`dls_devnet_setzid` under a temporary hold, as the
    /// zone link property's ioctl does; dlmgmtd lists each for the zone).
    fn halt_prepare(&mut self) {
        self.k.door().clear_log();
        for j in 0..4 {
            let t = halt_own(j);
            self.k.zone_add_datalink_unchecked(HALT_ZONE, t.id);
            self.k.devnet_create(&cstring(&t.mac), t.id, HALT_ZONE, t.name.as_bytes()).unwrap();
            let h = self.k.hold_tmp(HALT_LENT + j).unwrap();
            self.k.setzid(&h, HALT_ZONE).unwrap();
            self.k.rele_tmp(h);
        }
    }

    /// The kernel's part of halting the zone: `dls_stack_shutdown` walks
    /// its datalink list and returns the lent links (one `SETZONEID` each,
    /// dlmgmtd unlisting them); then zoneadmd lists what is left and
    /// deletes each transient link, which costs the kernel a
    /// `dls_devnet_destroy` and dlmgmtd's `zone_remove_datalink`.
    fn halt(&mut self) {
        self.k.stack_shutdown(HALT_ZONE);
        for id in self.k.zone_list_datalink(HALT_ZONE).unwrap() {
            let (_, mac) = self.halt_own.iter().find(|(own, _)| *own == id).expect("own link");
            self.k.devnet_destroy(mac).unwrap();
            self.k.zone_remove_datalink(HALT_ZONE, id).unwrap();
        }
    }

    fn halt_finish(&mut self) {
        assert_eq!(self.k.zone_list_datalink(HALT_ZONE), Ok(vec![]));
        assert_eq!(self.k.door().log_len(), 8, "four lends and four returns");
        for j in 0..4 {
            let h = self.k.hold_tmp(HALT_LENT + j).unwrap();
            assert_eq!(h.zid(), GLOBAL_ZONEID);
            self.k.rele_tmp(h);
            assert_eq!(self.k.hold_tmp(halt_own(j).id).err(), Some(ENOENT));
        }
    }

    fn check(&self) {
        self.k.check().unwrap();
        self.k.devnet_rebuild();
    }
}
