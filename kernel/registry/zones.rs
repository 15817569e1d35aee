//! Zones as the registry knows them: booted (may receive links), shutting
//! down, down; and forgotten once destroyed.

use super::Registry;
use super::table::Room;
use super::types::{ZoneId, ZoneKey, ZoneState};
use super::unlocked::Unlocked;
use crate::errno::{Errno, KResult};

impl Registry {
    /// Records a booted zone that may hold links (an exclusive-IP zone's
    /// netstack came up).
    ///
    /// Errors: `EINVAL` bad id; `EEXIST` the id is in use (the global zone,
    /// or an earlier incarnation not yet destroyed).
    pub fn zone_boot(&self, zone: ZoneKey) -> KResult<()> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        let mut t =
            self.table.write_room(&mut cx, &self.outbox, |_| Room { zones: 1, ..Room::NONE });
        if t.zones.contains_key(&zone.id) {
            return Err(Errno::EEXIST);
        }
        t.add_zone(zone);
        crate::sdt::zone_boot(zone.id.0, zone.uniqid);
        Ok(())
    }

    /// Forgets a halted zone (`zone_destroy`).
    ///
    /// Errors: `ENXIO`/`ESTALE` unknown zone; `EINVAL` the global zone;
    /// `EBUSY` not halted; `ENOTEMPTY` links remain (recover first).
    pub fn zone_destroy(&self, zone: ZoneKey) -> KResult<()> {
        let mut cx = Unlocked::new();
        zone.id.validate()?;
        if zone.id.is_global() {
            return Err(Errno::EINVAL);
        }
        let _g = self.gate.enter(&mut cx, zone.id);
        let mut t = self.table.write(&mut cx);
        let z = t.zone(zone)?;
        if z.state != ZoneState::Down {
            return Err(Errno::EBUSY);
        }
        if z.count != 0 {
            return Err(Errno::ENOTEMPTY);
        }
        t.remove_zone(zone.id);
        crate::sdt::zone_destroy(zone.id.0, zone.uniqid);
        Ok(())
    }

    /// A zone's current incarnation and state.
    pub fn zone_state(&self, id: ZoneId) -> Option<(ZoneKey, ZoneState)> {
        let mut cx = Unlocked::new();
        self.table.read(&mut cx).zones.get(&id).map(|z| (z.key, z.state))
    }
}
