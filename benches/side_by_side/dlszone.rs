//! dlszone's side of the comparison: every call into the registry is in
//! this file, so that a change of the registry's API only touches it.

use dlszone::registry::{
    Action, DrainWait, HoldKind, LinkId, Registry, TeardownReport, ZoneId, ZoneKey,
};
use dlszone_ktest::fake::FakeDlmgmt;
use std::sync::Arc;

use crate::{HALT_LENT, HALT_ZONE, Subject, Target, ZONES, halt_lent, halt_own};

/// A zone's incarnation: its id and a unique id for its boot.
fn zone_key(z: i32) -> ZoneKey {
    ZoneKey::new(z, 10_000 + z as u64)
}

/// A link a benchmark targets, in the registry's types.
pub(crate) struct Key {
    id: LinkId,
    zone: ZoneId,
    name: Vec<u8>,
    mac: Vec<u8>,
}

/// The registry, with the dlmgmtd stand-in its moves talk to (its door).
pub(crate) struct Dlszone {
    reg: Registry,
    door: Arc<FakeDlmgmt>,
    halt_zone: ZoneKey,
    uniqid: u64,
    report: Option<TeardownReport>,
}

impl Subject for Dlszone {
    type Key = Key;

    fn new() -> Self {
        let reg = Registry::new();
        for z in 1..=ZONES {
            reg.zone_boot(zone_key(z)).unwrap();
        }
        let halt_zone = zone_key(HALT_ZONE);
        reg.zone_boot(halt_zone).unwrap();
        for j in 0..4 {
            let t = halt_lent(j);
            reg.create(ZoneId::GLOBAL, t.mac.as_bytes(), LinkId(t.id), t.name.as_bytes(), true)
                .unwrap();
        }
        let door = FakeDlmgmt::shared();
        reg.set_door(door.clone());
        Dlszone { reg, door, halt_zone, uniqid: 1_000_000, report: None }
    }

    fn populate(&self, t: &Target) {
        let zone = ZoneId(t.zone);
        self.reg.create(zone, t.mac.as_bytes(), LinkId(t.id), t.name.as_bytes(), false).unwrap();
    }

    fn key(&self, t: &Target) -> Key {
        Key {
            id: LinkId(t.id),
            zone: ZoneId(t.zone),
            name: t.name.clone().into_bytes(),
            mac: t.mac.clone().into_bytes(),
        }
    }

    fn tmp_hold_rele(&self, k: &Key) {
        let h = self.reg.hold_tmp(ZoneId::GLOBAL, k.id).unwrap();
        self.reg.rele_tmp(h).unwrap();
    }

    /// From inside the link's zone, as a zone's DLPI open takes it.
    fn hold_rele(&self, k: &Key) {
        let h = self.reg.hold(k.zone, k.id, HoldKind::Stream).unwrap();
        self.reg.rele(h).unwrap();
    }

    /// A long hold by the zone's own name for the link, in one step.
    fn hold_by_name_rele(&self, k: &Key) {
        let h = self.reg.hold_by_name(k.zone, k.zone, &k.name, HoldKind::Stream).unwrap();
        self.reg.rele(h).unwrap();
    }

    /// Created by its zone (transient), destroyed by its zone.
    fn create_destroy(&self, k: &Key, _zone_list: bool) {
        self.reg.create(k.zone, &k.mac, k.id, &k.name, false).unwrap();
        self.reg.destroy(k.zone, k.id, DrainWait::Wait).unwrap();
    }

    /// Four links of the zone's own and four lent by the global zone.
    fn halt_prepare(&mut self) {
        // The daemon's log is kept short, as the model's daemon's is.
        self.door.clear_log();
        let zone = self.halt_zone.id;
        for j in 0..4 {
            let t = halt_own(j);
            self.reg
                .create(zone, t.mac.as_bytes(), LinkId(t.id), t.name.as_bytes(), false)
                .unwrap();
            self.reg.lend(ZoneId::GLOBAL, LinkId(HALT_LENT + j), zone, false).unwrap();
        }
    }

    fn halt(&mut self) {
        self.report = Some(self.reg.zone_halt(self.halt_zone).unwrap());
    }

    /// Checks the halt, then destroys the zone and boots its next
    /// incarnation.
    fn halt_finish(&mut self) {
        let report = self.report.take().expect("halted");
        assert!(report.is_clean() && report.links.len() == 8);
        let returned = report.links.iter().filter(|o| matches!(o.action, Action::Returned { .. }));
        assert_eq!(returned.count(), 4);
        self.reg.zone_destroy(self.halt_zone).unwrap();
        self.uniqid += 1;
        self.halt_zone = ZoneKey::new(HALT_ZONE, self.uniqid);
        self.reg.zone_boot(self.halt_zone).unwrap();
    }

    fn check(&self) {
        self.reg.check_invariants().unwrap();
    }
}
