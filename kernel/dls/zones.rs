//! Zones: the netstack hooks that tell the registry a zone came up, is
//! halting, or is gone (`dls_stack_create/shutdown/destroy` in gate), the
//! kernel-side effects of a teardown, and IPD 3's forced recovery.

use dlszone::errno::Errno;
use dlszone::registry::{Action, MacName, TeardownReport, ZoneId, ZoneKey};

use crate::devnet::MacStr;
use crate::dls::{CResult, Dls};
use crate::seam::Kernel;
use dlszone::dlszone_h::DlsRecoverResult;

impl<K: Kernel> Dls<K> {
    /// A netstack came up in zone `zid`: a new zone with that id is being
    /// made (illumos VERIFYs that no exclusive stack of the id exists
    /// then), so an incarnation of the id the registry still has is an
    /// earlier one whose destroy was missed, and is retired now.
    ///
    /// The new zone is recorded here when the kernel already shows it.
    /// illumos does not: the netstack framework's ZSD constructor, which
    /// makes this call, runs while the zone is `ZONE_IS_INITIALIZED`,
    /// which `zone_find_by_id()` does not return, and before this
    /// module's own ZSD constructor has numbered the zone. It is then
    /// recorded at its first use (`ensure_zone()`), which is no error.
    pub fn zone_created(&self, zid: ZoneId) {
        if zid.is_global() {
            return;
        }
        if self.k.zone_info(zid).is_none() {
            if let Some(old) = self.zone_key(zid) {
                if self.retire_zone(old).is_err() {
                    self.k.note(c"dls: an earlier incarnation of a reused zone id keeps datalinks");
                }
            }
            return;
        }
        if self.ensure_zone(zid).is_err() {
            self.k.note(c"dls: a new zone could not be recorded");
        }
    }

    /// Zone `zid` is halting (its netstack shuts down): transient links
    /// are torn down, lent links go home once dlmgmtd agrees; what cannot
    /// be done now is left for `dls_zone_recover()`.
    pub fn zone_shutdown(&self, zid: ZoneId) {
        let Some(key) = self.zone_key(zid) else { return };
        if key.id.is_global() {
            return;
        }
        if let Ok(report) = self.reg.zone_halt(key) {
            self.after_teardown(&report);
            if !report.is_clean() {
                self.k.note(
                    c"dls: datalinks remain in a halted zone; dls_zone_recover() reclaims them",
                );
            }
        }
    }

    /// Zone `zid` is gone: the registry forgets it, reclaiming first what
    /// a stuck halt left behind.
    pub fn zone_destroyed(&self, zid: ZoneId) {
        let Some(key) = self.zone_key(zid) else { return };
        if key.id.is_global() {
            return;
        }
        match self.reg.zone_destroy(key) {
            Ok(()) | Err(Errno::ENXIO) | Err(Errno::ESTALE) => return,
            Err(_) => {}
        }
        if let Ok(report) = self.reg.zone_recover(key, true, 0) {
            self.after_teardown(&report);
        }
        if self.reg.zone_destroy(key).is_err() {
            self.k.warn(c"dls: a destroyed zone still has datalinks; its id stays reserved");
        }
    }

    /// What the kernel outside the registry must follow after a halt or
    /// recovery: a returned link's data path and kstats go home; a
    /// torn-down link's data path goes to the global zone and its kstats
    /// go away.
    pub(crate) fn after_teardown(&self, report: &TeardownReport) {
        for o in &report.links {
            match o.action {
                Action::Returned { .. } | Action::ReturnQueued { .. } => {
                    if let Some(mac) = self.side_mac(o.link) {
                        self.data_path_home(&mac);
                    }
                    self.kstats_sync(o.link);
                    self.need_rebuild();
                }
                Action::Condemned { .. } => {
                    if let Some(mac) = self.side_remove(o.link) {
                        self.data_path_home(&mac);
                        self.need_rebuild();
                    }
                }
                Action::Blocked | Action::ReturnFailed(_) | Action::Destroying => {}
            }
        }
    }

    fn data_path_home(&self, mac: &MacName) {
        let r = self.in_perim(mac, || {
            self.move_data_path(mac.c(), ZoneId::GLOBAL).map_err(|e| e.to_errno())
        });
        if r.is_err() {
            self.k.warn(c"dls: a datalink's data path could not return to the global zone");
        }
    }

    /// `dls_zone_recover()`: forced loan recovery of the incarnation
    /// `key`, every wait bounded by `timeout_ms`.
    ///
    /// Errors: as the registry's `zone_recover`, and `EBUSY` when links
    /// remain in the zone afterwards (the summary is filled all the same).
    pub fn recover(
        &self,
        key: ZoneKey,
        force: bool,
        timeout_ms: u32,
    ) -> (CResult<()>, DlsRecoverResult) {
        let mut res = DlsRecoverResult::default();
        let report = match self.reg.zone_recover(key, force, u64::from(timeout_ms)) {
            Ok(r) => r,
            Err(e) => return (Err(e), res),
        };
        self.after_teardown(&report);
        for o in &report.links {
            match o.action {
                Action::Returned { .. } | Action::ReturnQueued { .. } => res.drr_returned += 1,
                Action::Condemned { freed } => {
                    res.drr_condemned += 1;
                    if !freed {
                        res.drr_delayed += 1;
                    }
                }
                _ => {}
            }
            let reclaimed: u32 = o.reclaimed.iter().map(|h| h.count).sum();
            res.drr_holds_reclaimed = res.drr_holds_reclaimed.saturating_add(reclaimed);
        }
        res.drr_left = u32::try_from(report.remaining).unwrap_or(u32::MAX);
        res.drr_notices = u32::try_from(report.queued).unwrap_or(u32::MAX);
        let r = if report.remaining == 0 { Ok(()) } else { Err(Errno::EBUSY) };
        (r, res)
    }
}
