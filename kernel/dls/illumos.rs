//! The kernel seam over illumos: [`Illumos`] implements [`Kernel`] with
//! the safe wrappers of `dlszone::kmod`, one wrapper per method. There is
//! no `unsafe` here: every kernel call, pointer conversion and lock word
//! lives in `kmod`, next to its `SAFETY` comment.
//!
//! `Illumos` is zero-sized; its state is module-wide and lives in `kmod`:
//! the dlmgmtd door slot (`kmod::door_ki`), the table of MACs marked
//! exclusive (`kmod::mac`) and, without gate headers, the zone-specific
//! data key that numbers zone incarnations (`kmod::zone`). [`Illumos::init`]
//! sets that up and [`Illumos::fini`] takes it down; the C ABI's
//! `dls_mgmt_init()` and `dls_mgmt_fini()` call them first and last.
//!
//! Zone incarnations ([`ZoneInfo::uniqid`]): with gate headers
//! (`cfg(dlszone_shim)`) the zone's `zone_uniqid`, read by the C shim;
//! otherwise a number dlszone gives each zone through zone-specific data
//! (0 for the global zone, as `zone_uniqid`), which `dls_devnet_snapshot()`
//! reports (`docs/integration.md`, section 6).

use core::ffi::{CStr, c_int, c_void};

use dlszone::kmod::door_ki::DlmgmtDoor;
use dlszone::kmod::log::{self, Dest, Level};
use dlszone::kmod::{
    devname, dls_link, door_ki, iptun, link_kstat, mac, netstack, softmac, taskq, zone,
};
use dlszone::registry::{LinkId, ZoneId};

use crate::seam::{
    Cred, Dev, DevHold, DlsLinkPtr, KernResult, Kernel, Kstat, KstatUpdate, MacHandle, NsCreate,
    NsHook, Perim, TaskFn, ZoneInfo,
};

/// The illumos kernel, as the seam sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Illumos;

impl Kernel for Illumos {
    type Port = DlmgmtDoor;

    /// Sets up the module-wide state: the door slot's and the MAC marks'
    /// locks (`mutex_init()`), and in the build without gate headers the
    /// zone-specific data key (`zone_key_create()`, which numbers every
    /// zone not yet `down` before it returns). First thing in
    /// `dls_mgmt_init()`, before any other method. Sleeps.
    fn init(&self) {
        door_ki::init();
        mac::init();
        zone::init();
    }

    /// Takes down what [`init`](Kernel::init) set up (`zone_key_delete()`,
    /// `mutex_destroy()`). Last thing in `dls_mgmt_fini()`, when no other
    /// thread can call into the object. Sleeps.
    fn fini(&self) {
        zone::fini();
        mac::fini();
        door_ki::fini();
    }

    fn current_zone(&self) -> ZoneId {
        ZoneId(zone::current())
    }

    fn cred_zone(&self, cr: Cred) -> Option<ZoneId> {
        zone::of_cred(cr.0).map(ZoneId)
    }

    fn zone_info(&self, zid: ZoneId) -> Option<ZoneInfo> {
        zone::info(zid.0).map(|z| ZoneInfo { uniqid: z.uniqid, status: z.status })
    }

    fn mac_name(&self, mh: MacHandle, buf: &mut [u8]) -> Option<usize> {
        mac::name(mh.0, buf)
    }

    fn perim_enter_mh(&self, mh: MacHandle) -> Perim {
        Perim(mac::perim_enter_mh(mh.0))
    }

    fn perim_enter_by_macname(&self, mac: &[u8]) -> KernResult<Perim> {
        mac::perim_enter_by_macname(mac).map(Perim)
    }

    fn perim_exit(&self, p: Perim) {
        mac::perim_exit(p.0);
    }

    fn mac_rename_primary(&self, mac: &[u8], name: &[u8]) -> KernResult<()> {
        mac::rename_primary(mac, name)
    }

    /// Marking needs the perimeter entered by name
    /// ([`Kernel::perim_enter_by_macname`]): see `kmod::mac`.
    fn mac_exclusive(&self, mac: &[u8], on: bool) -> KernResult<()> {
        if on { mac::mark_exclusive(mac) } else { mac::unmark_exclusive(mac) }
    }

    fn link_hold_create(&self, mac: &[u8]) -> KernResult<DlsLinkPtr> {
        dls_link::hold_create(mac).map(DlsLinkPtr)
    }

    fn link_hold(&self, mac: &[u8]) -> KernResult<DlsLinkPtr> {
        dls_link::hold(mac).map(DlsLinkPtr)
    }

    fn link_rele(&self, dlp: DlsLinkPtr) {
        dls_link::rele(dlp.0);
    }

    fn link_rele_by_name(&self, mac: &[u8]) -> KernResult<()> {
        dls_link::rele_by_name(mac)
    }

    fn link_setzid(&self, mac: &[u8], zid: ZoneId) -> KernResult<()> {
        dls_link::setzid(mac, zid.0)
    }

    fn link_getzid(&self, mac: &[u8]) -> KernResult<ZoneId> {
        dls_link::getzid(mac).map(ZoneId)
    }

    fn link_dev(&self, dlp: DlsLinkPtr) -> Dev {
        dls_link::dev(dlp.0)
    }

    fn link_find(&self, mac: &[u8]) -> Option<DlsLinkPtr> {
        dls_link::find(mac).map(DlsLinkPtr)
    }

    fn major_to_name(&self, major: u32, buf: &mut [u8]) -> Option<usize> {
        devname::major_to_name(major, buf)
    }

    fn name_to_major(&self, name: &[u8]) -> Option<u32> {
        devname::name_to_major(name)
    }

    fn door(&self) -> &DlmgmtDoor {
        &DlmgmtDoor
    }

    fn door_open(&self) -> KernResult<()> {
        door_ki::open()
    }

    fn door_close(&self) {
        door_ki::close();
    }

    fn softmac_recreate(&self) {
        softmac::recreate();
    }

    fn softmac_hold_device(&self, dev: Dev) -> KernResult<DevHold> {
        softmac::hold_device(dev).map(DevHold)
    }

    fn softmac_rele_device(&self, h: DevHold) {
        softmac::rele_device(h.0);
    }

    fn iptun_create_implicit(&self, linkid: LinkId, kind: u32) -> KernResult<()> {
        iptun::create_implicit(linkid.0, kind)
    }

    fn iptun_delete(&self, linkid: LinkId) -> KernResult<()> {
        iptun::delete(linkid.0)
    }

    fn dispatch(&self, f: TaskFn, arg: *mut c_void, sleep: bool) -> bool {
        taskq::dispatch(f, arg, sleep)
    }

    fn netstack_register(&self, create: NsCreate, shutdown: NsHook, destroy: NsHook) {
        netstack::register(create, shutdown, destroy);
    }

    fn netstack_unregister(&self) {
        netstack::unregister();
    }

    fn netstack_zone(&self, stackid: i32) -> ZoneId {
        ZoneId(netstack::zone_of(stackid))
    }

    fn kstat_create(
        &self,
        name: &[u8],
        zid: ZoneId,
        linkid: LinkId,
        update: KstatUpdate,
    ) -> Option<Kstat> {
        link_kstat::create_link(name, zid.0, linkid.0, update).map(Kstat)
    }

    fn kstat_delete(&self, ks: Kstat) {
        link_kstat::delete(ks.0);
    }

    /// A kstat without a link id reads as `DATALINK_INVALID_LINKID`, which
    /// no link has.
    fn kstat_linkid(&self, ksp: *mut c_void) -> LinkId {
        link_kstat::linkid(ksp.expose_provenance()).map_or(LinkId::INVALID, LinkId)
    }

    fn kstat_update(&self, ksp: *mut c_void, dlp: DlsLinkPtr, rw: c_int) -> c_int {
        link_kstat::update(ksp.expose_provenance(), dlp.0, rw)
    }

    fn warn(&self, msg: &'static CStr) {
        log::log_cstr(Level::WARN, Dest::Both, msg);
    }

    fn note(&self, msg: &'static CStr) {
        log::log_cstr(Level::NOTE, Dest::Both, msg);
    }
}
