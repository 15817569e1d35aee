/*
 * t_scenarios.c -- the zone life cycles behind illumos' known datalink
 * failures, driven through dls_mgmt.o's C interface alone, as dld, the
 * drivers, sdev, zoneadmd and dlmgmtd drive it.
 */
#include "dls_test.h"

/*
 * illumos 10001: a link lent to a zone comes back at halt under its name,
 * while the global zone created another link of that name meanwhile: the
 * name was free in the global zone, and the return collided. Here the
 * global-zone name stays reserved while the link is away.
 */
static void
issue_10001(void)
{
	dt_begin("10001: a lent link's global-zone name stays reserved");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t mh = dt_mac("vnic1001");
	datalink_id_t id = dt_link(mh, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	dls_dl_handle_t ddh;
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	CHECK_EQ(dls_devnet_getzid(ddh), 5);
	CHECK_EQ(dls_devnet_getownerzid(ddh), GLOBAL_ZONEID);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), 5);
	CHECK_EQ(dlszone_host_link_zone("vnic1001"), 5);
	dls_devnet_rele_tmp(ddh);

	/* Another link may not take "net0" in the global zone now. */
	mac_handle_t mh2 = dt_mac("vnic1002");
	datalink_id_t id2 = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GLOBAL_ZONEID, 0, 0);
	CHECK_EQ(dls_devnet_create(mh2, id2, GLOBAL_ZONEID), I_EEXIST);
	CHECK_EQ(dlszone_host_link_refs("vnic1002"), -1);

	/* The halt returns it under its name, with no collision. */
	dlszone_host_zone_halt(5);
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_getzid(ddh), GLOBAL_ZONEID);
	CHECK(strcmp(dls_devnet_link(ddh), "net0") == 0);
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), GLOBAL_ZONEID);
	CHECK_EQ(dlszone_host_link_zone("vnic1001"), GLOBAL_ZONEID);
	dlszone_host_zone_destroy(5);

	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, id);
	CHECK_EQ(dlszone_host_link_refs("vnic1001"), -1);
	dt_end();
}

/*
 * illumos 15167: a link created inside a zone was "returned" to the
 * global zone at halt, dropping a reference it never had: the count
 * underflowed and the next release panicked. Here a zone's own link is
 * transient and goes away with the zone; releases stay balanced.
 */
static void
issue_15167(void)
{
	dt_begin("15167: a zone's own link goes away with it, counts balanced");
	dlszone_host_zone_boot(7, 107);
	mac_handle_t mh = dt_mac("vnic7000");
	datalink_id_t id = dt_link(mh, "z7net0", DATALINK_CLASS_VNIC, 7,
	    B_FALSE);
	dls_dl_handle_t ddh;

	/* Visible in its zone, owned by it, and transient. */
	dls_link_info_t info[4];
	uint32_t n = 4;
	CHECK_EQ(dls_devnet_snapshot(CRED(7), info, &n, NULL), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(info[0].dli_owner, 7);
	CHECK(info[0].dli_flags & DLS_LINKF_TRANSIENT);

	/* A DLPI stream opened inside the zone. */
	dlszone_host_set_zone(7);
	CHECK_EQ(dls_devnet_hold(id, &ddh), 0);
	dlszone_host_set_zone(GLOBAL_ZONEID);

	dlszone_host_zone_halt(7);
	dls_dl_handle_t again;
	CHECK_EQ(dls_devnet_hold_tmp(id, &again), I_ENOENT);
	/* The stream's release after the teardown is safe and counted once. */
	CHECK_EQ(dls_devnet_release(ddh), 0);
	CHECK_EQ(dls_devnet_release(ddh), I_ENOENT);
	dls_counters_t c;
	CHECK_EQ(dls_devnet_counters(CRED(0), &c), 0);
	CHECK_EQ(c.dc_bad_releases, 1);
	CHECK_EQ(c.dc_pending_frees, 0);

	/* dlmgmtd heard the link is gone. */
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);

	/* The driver deletes its VNIC later: only its dls_link_t is left. */
	datalink_id_t out = 99;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("vnic7000"), -1);
	dlszone_host_zone_destroy(7);
	dt_end();
}

/*
 * SmartOS OS-8627: in the global zone `snoop -z z5 -d net0` opens a
 * zone's transient link (dld_str_attach -> dls_devnet_hold_by_dev), and
 * OPTE-like code holds it by id (dls_devnet_hold). The zone is halted
 * with `vmadm stop -F`: gate forced dd_ref to 1, discarding those holds,
 * freed the devnet, and snoop's exit released freed memory. Here the
 * teardown detaches the link but keeps every global-zone hold: the
 * handles stay valid, their releases are safe, and the link is freed at
 * the last one. dls_devnet_holders(DLS_HOLDERS_DETACHED) shows it
 * meanwhile.
 */
static void
os_8627(void)
{
	dt_begin("OS-8627: global-zone holds of a halted zone's own link");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_device("vnic", 77, 500);
	mac_handle_t mh = dt_mac("vnic500");
	datalink_id_t id = dt_link(mh, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dev_t dev = DT_DEV(77, 501);
	dls_dl_handle_t ip, snoop, xde, tmp;

	/* IP in the zone has net0 plumbed: a stream opened inside it. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold_by_dev(dev, &ip), 0);
	dlszone_host_set_zone(GLOBAL_ZONEID);
	/* snoop -z from the global zone, and a hold by id. */
	CHECK_EQ(dls_devnet_hold_by_dev(dev, &snoop), 0);
	CHECK_EQ(dls_devnet_hold(id, &xde), 0);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_STREAM, 5), 1);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_STREAM, GLOBAL_ZONEID), 1);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_NAMED, GLOBAL_ZONEID), 1);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 1);

	/* vmadm stop -F: the link is torn down at once. */
	dlszone_host_zone_halt(5);
	CHECK_EQ(dls_devnet_hold_tmp(id, &tmp), I_ENOENT);
	CHECK(!dt_info(id, NULL));
	CHECK_EQ(dlszone_host_kstats("net0", 5), 0);
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);
	CHECK_DLMGMTD_AGREES();

	/* Unreachable, but its holders are shown, detached. */
	dls_holder_t h[8];
	uint32_t n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GLOBAL_ZONEID), id, 0, h, &n),
	    I_ENOENT);
	CHECK_EQ(n, 8);
	CHECK_EQ(dls_devnet_holders(CRED(GLOBAL_ZONEID), id,
	    DLS_HOLDERS_DETACHED, h, &n), 0);
	CHECK_EQ(n, 3);
	for (uint32_t i = 0; i < n && i < 8; i++) {
		CHECK_EQ(h[i].dh_linkid, id);
		CHECK_EQ(h[i].dh_state, DLS_LINK_DETACHED);
		CHECK_EQ(h[i].dh_count, 1);
		if (h[i].dh_zoneid == 5) {
			CHECK_EQ(h[i].dh_kind, DLS_HOLDER_STREAM);
			CHECK_EQ(h[i].dh_uniqid, u5);
		} else {
			CHECK_EQ(h[i].dh_zoneid, GLOBAL_ZONEID);
			CHECK(h[i].dh_kind == DLS_HOLDER_STREAM ||
			    h[i].dh_kind == DLS_HOLDER_NAMED);
		}
	}
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_pending_frees, 1);
	CHECK_EQ(c.dc_handles, 3);

	/* snoop's handle still describes what it opened. */
	CHECK_EQ(dls_devnet_linkid(snoop), id);
	CHECK_STR(dls_devnet_mac(snoop), "vnic500");
	CHECK_STR(dls_devnet_link(snoop), "net0");
	CHECK_EQ(dls_devnet_getzid(snoop), 5);
	CHECK_EQ(dls_devnet_getownerzid(snoop), 5);

	/* zoneadmd deletes the VNIC: only its dls_link_t is left to drop. */
	datalink_id_t out = 99;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("vnic500"), -1);
	CHECK_EQ(dt_counters().dc_pending_frees, 1);

	/* The zone is dead: forced recovery drops its own hold only. */
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u5, 100,
	    DLS_RECOVER_FORCE, &res), 0);
	CHECK_EQ(res.drr_holds_reclaimed, 1);
	CHECK_EQ(res.drr_left, 0);
	CHECK_EQ(res.drr_returned, 0);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_STREAM, 5), 0);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_STREAM, GLOBAL_ZONEID), 1);
	CHECK_EQ(dt_counters().dc_pending_frees, 1);

	/* Releases, in any order: the zone's is late, the others free it. */
	CHECK_EQ(dls_devnet_release(ip), I_ESTALE);
	CHECK_EQ(dt_counters().dc_late_releases, 1);
	dls_devnet_rele(snoop);
	CHECK_EQ(dt_counters().dc_pending_frees, 1);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_NAMED, GLOBAL_ZONEID), 1);
	CHECK_EQ(dls_devnet_release(xde), 0);
	c = dt_counters();
	CHECK_EQ(c.dc_pending_frees, 0);
	CHECK_EQ(c.dc_handles, 0);
	CHECK_EQ(c.dc_bad_releases, 0);
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GLOBAL_ZONEID), id,
	    DLS_HOLDERS_DETACHED, h, &n), I_ENOENT);
	/* A second release of the same handle changes nothing. */
	CHECK_EQ(dls_devnet_release(snoop), I_ENOENT);
	CHECK_EQ(dt_counters().dc_bad_releases, 1);
	dlszone_host_zone_destroy(5);
	dt_end();
}

/*
 * OS-8627 with SmartOS' transient loan: a global-zone link lent to a zone
 * with dls_devnet_setzid_transient() and snooped from the global zone
 * goes away with the zone; the snoop's release frees it.
 */
static void
os_8627_transient_loan(void)
{
	dt_begin("OS-8627: a transient loan snooped from the global zone");
	dlszone_host_zone_boot(6, 106);
	dlszone_host_device("vnic", 77, 600);
	mac_handle_t mh = dt_mac("vnic600");
	datalink_id_t id = dt_link(mh, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	dls_dl_handle_t ddh, snoop;
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, 6, B_TRUE), 0);
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 601), &snoop), 0);

	dls_link_info_t li;
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_flags, DLS_LINKF_TRANSIENT | DLS_LINKF_LENT);
	CHECK_STR(li.dli_reserved, "net0");

	dlszone_host_zone_halt(6);
	CHECK(!dt_info(id, NULL));
	CHECK_EQ(dt_holds(id, DLS_HOLDER_STREAM, GLOBAL_ZONEID), 1);
	CHECK_EQ(dt_counters().dc_pending_frees, 1);
	/* Its reserved global-zone name went with it. */
	mac_handle_t mh2 = dt_mac("vnic601");
	datalink_id_t id2 = dt_link(mh2, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	CHECK(dt_info(id2, NULL));
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);

	/* No recovery is needed for a global-zone hold; its release frees. */
	CHECK_EQ(dls_devnet_getzid(snoop), 6);
	CHECK_EQ(dls_devnet_getownerzid(snoop), GLOBAL_ZONEID);
	CHECK_EQ(dls_devnet_release(snoop), 0);
	CHECK_EQ(dt_counters().dc_pending_frees, 0);
	dlszone_host_zone_destroy(6);

	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_devnet_destroy(mh2, &out, B_TRUE), 0);
	CHECK_EQ(out, id2);
	CHECK_EQ(dlszone_host_link_refs("vnic600"), -1);
	CHECK_EQ(dlszone_host_link_refs("vnic601"), -1);
	dt_end();
}

/*
 * A zone stuck in "down": dlmgmtd was killed before the halt, so the
 * lent links could not be returned ("datalinks remain in zone after
 * shutdown") and zoneadmd gave up. dls_zone_recover() brings the links to
 * where a clean halt would have left them, without dlmgmtd; the notices
 * dlmgmtd missed wait in the outbox, and dlmgmtd's restart replays them.
 */
static void
stuck_down(void)
{
	dt_begin("stuck down: recovery without dlmgmtd, replay at its restart");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	mac_handle_t m0 = dt_mac("vnic100"), m1 = dt_mac("vnic101");
	mac_handle_t m2 = dt_mac("vnic102"), m3 = dt_mac("vnic103");
	datalink_id_t net0 = dt_link(m0, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	datalink_id_t net1 = dt_link(m1, "net1", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	datalink_id_t own = dt_link(m2, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	datalink_id_t net3 = dt_link(m3, "net3", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	dls_dl_handle_t ddh, zhold, h;
	CHECK_EQ(dls_devnet_hold_tmp(net0, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dls_devnet_hold_tmp(net1, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, 5, B_TRUE), 0);
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dls_devnet_hold_tmp(net3, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	dls_devnet_rele_tmp(ddh);
	/* A process in the zone holds net3 and will never let go. */
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), ALL_ZONES, "net3",
	    DLS_HOLD_LONG, &zhold), 0);
	CHECK_DLMGMTD_AGREES();

	/* dlmgmtd dies; the zone halts. */
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	dls_link_info_t li;
	CHECK(dt_info(net0, &li));
	CHECK_EQ(li.dli_zone, 5);
	CHECK(li.dli_flags & DLS_LINKF_LENT);
	CHECK(dt_info(net3, &li));
	CHECK_EQ(li.dli_zone, 5);
	CHECK(!dt_info(net1, NULL));
	CHECK(!dt_info(own, NULL));
	CHECK_EQ(dlszone_host_settle(), 2);
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_outbox, 2);
	CHECK_EQ(dlszone_host_link_zone("vnic100"), 5);
	/* The halted zone takes no new long hold; its name stays reserved. */
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), ALL_ZONES, "net0",
	    DLS_HOLD_LONG, &h), I_ENXIO);
	mac_handle_t m4 = dt_mac("vnic104");
	datalink_id_t other = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GLOBAL_ZONEID, 0, 0);
	CHECK_EQ(dls_devnet_create(m4, other, GLOBAL_ZONEID), I_EBADF);

	/* Recovery without force: net0 comes home, net3 is held inside. */
	dls_recover_result_t res;
	(void) memset(&res, 0xff, sizeof (res));
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u5, 100, 0, &res),
	    I_EBUSY);
	CHECK_EQ(res.drr_returned, 1);
	CHECK_EQ(res.drr_condemned, 0);
	CHECK_EQ(res.drr_left, 1);
	CHECK_EQ(res.drr_holds_reclaimed, 0);
	CHECK_EQ(res.drr_delayed, 0);
	CHECK_EQ(res.drr_notices, 1);
	CHECK(dt_info(net0, &li));
	CHECK_EQ(li.dli_zone, GLOBAL_ZONEID);
	CHECK_EQ(li.dli_flags, 0);
	CHECK_STR(li.dli_name, "net0");
	CHECK_STR(li.dli_reserved, "");
	CHECK_EQ(dlszone_host_link_zone("vnic100"), GLOBAL_ZONEID);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 0);
	CHECK_EQ(dlszone_host_kstats("net0", GLOBAL_ZONEID), 1);
	CHECK_EQ(dt_counters().dc_outbox, 3);

	/* Re-running it changes nothing. */
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u5, 100, 0, &res),
	    I_EBUSY);
	CHECK_EQ(res.drr_returned, 0);
	CHECK_EQ(res.drr_left, 1);
	CHECK_EQ(res.drr_notices, 0);
	CHECK_SAME(before);

	/* With force, the dead zone's hold goes and net3 comes home. */
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u5, 100,
	    DLS_RECOVER_FORCE, &res), 0);
	CHECK_EQ(res.drr_returned, 1);
	CHECK_EQ(res.drr_holds_reclaimed, 1);
	CHECK_EQ(res.drr_left, 0);
	CHECK_EQ(res.drr_notices, 1);
	CHECK(dt_info(net3, &li));
	CHECK_EQ(li.dli_zone, GLOBAL_ZONEID);
	CHECK_EQ(li.dli_long_holds, 1);
	dt_state_take(&before);
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u5, 0,
	    DLS_RECOVER_FORCE, &res), 0);
	CHECK_EQ(res.drr_returned + res.drr_condemned + res.drr_left +
	    res.drr_holds_reclaimed + res.drr_delayed + res.drr_notices, 0);
	CHECK_SAME(before);

	/* The replays the recoveries asked for have failed. */
	CHECK_EQ(dlszone_host_settle(), 4);
	/* The notices wait for dlmgmtd; only the global zone may push. */
	uint32_t delivered = 99, pending = 99;
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GLOBAL_ZONEID), &delivered,
	    &pending), I_EBADF);
	CHECK_EQ(delivered, 0);
	CHECK_EQ(pending, 4);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(5), &delivered, &pending),
	    I_EACCES);
	CHECK_EQ(dt_counters().dc_outbox, 4);
	/* The dead zone's process exits at last: its release is late. */
	CHECK_EQ(dls_devnet_release(zhold), I_ESTALE);
	c = dt_counters();
	CHECK_EQ(c.dc_late_releases, 1);
	CHECK_EQ(c.dc_bad_releases, 0);

	/*
	 * dlmgmtd restarts and registers its door: the replay runs on the
	 * task queue, never on the registering thread.
	 */
	int recreates = dlszone_host_softmac_recreates();
	dlszone_host_dlmgmtd_start();
	dlszone_host_taskq_refuse(1);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates + 1);
	CHECK_EQ(dlszone_host_settle(), 4);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(net0), 5);
	dlszone_host_taskq_refuse(0);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates + 2);
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dt_counters().dc_outbox, 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(net0), GLOBAL_ZONEID);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(net3), GLOBAL_ZONEID);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(net1), -2);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(own), -2);
	CHECK_DLMGMTD_AGREES();
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GLOBAL_ZONEID), &delivered,
	    &pending), 0);
	CHECK_EQ(delivered, 0);
	CHECK_EQ(pending, 0);
	dlszone_host_zone_destroy(5);

	/* The drivers delete their VNICs. */
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(m0, &out, B_TRUE), 0);
	CHECK_EQ(out, net0);
	CHECK_EQ(dls_devnet_destroy(m1, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(m2, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(m3, &out, B_TRUE), 0);
	CHECK_EQ(out, net3);
	dt_end();
}

/*
 * dlmgmtd restarting, in general: with its door withdrawn or revoked,
 * every upcall fails with EBADF (dls_mgmt_get_next() ends its walk,
 * dls_mgmt_get_phydev() says EINVAL) and what needs dlmgmtd changes
 * nothing; kernel-only operations go on. A physical device that attaches
 * meanwhile waits for its id; dlmgmtd's registration runs
 * softmac_recreate(), which gives it one.
 */
static void
dlmgmtd_restart(void)
{
	dt_begin("dlmgmtd restart: EBADF while away, re-creation on return");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t mh = dt_mac("vnic200");
	datalink_id_t id = dt_link(mh, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	(void) dlszone_host_settle();
	CHECK_EQ(dls_mgmt_door_set(B_FALSE), 0);

	for (int round = 0; round < 2; round++) {
		char name[MAXLINKNAMELEN] = "untouched";
		datalink_id_t lid = 77;
		uint32_t media = 5;
		dev_t dev = 5;
		dls_dl_handle_t ddh;
		dt_state_t before;

		dt_state_take(&before);
		CHECK_EQ(dls_mgmt_get_linkinfo(id, name, NULL, NULL, NULL),
		    I_EBADF);
		CHECK_STR(name, "untouched");
		CHECK_EQ(dls_mgmt_get_linkid("net0", &lid), I_EBADF);
		CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
		    DATALINK_ANY_MEDIATYPE, DLMGMT_ACTIVE),
		    DATALINK_INVALID_LINKID);
		CHECK_EQ(dls_mgmt_get_phydev(id, &dev), I_EINVAL);
		CHECK_EQ(dls_mgmt_create("vnic9", 0, DATALINK_CLASS_VNIC, 4,
		    B_FALSE, &lid), I_EBADF);
		CHECK_EQ(dls_mgmt_destroy(id, B_FALSE), I_EBADF);
		CHECK_EQ(dls_mgmt_update("e1000g9", 4, B_FALSE, &media, &lid),
		    I_EBADF);
		CHECK_EQ(dls_mgmt_linkprop_init(id), I_EBADF);
		CHECK_EQ(lid, 77);
		CHECK_EQ(media, 5);
		CHECK_EQ(dev, 5);
		CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
		CHECK_EQ(dls_devnet_setzid(ddh, 5), I_EBADF);
		dls_devnet_rele_tmp(ddh);
		mac_handle_t mh2 = dt_mac(round == 0 ? "vnic201" : "vnic202");
		CHECK_EQ(dls_devnet_create(mh2, id + 100, GLOBAL_ZONEID),
		    I_EBADF);
		CHECK_SAME(before);
		/* Kernel-only operations go on. */
		CHECK_EQ(dls_devnet_hold_zlink(CRED(GLOBAL_ZONEID), ALL_ZONES,
		    "net0", DLS_HOLD_TMP, &ddh), 0);
		CHECK_EQ(dls_devnet_linkid(ddh), id);
		dls_devnet_rele_tmp(ddh);
		CHECK_EQ(dls_devnet_hold(id, &ddh), 0);
		dls_devnet_rele(ddh);
		/* Second round: the door is set, but dlmgmtd is killed. */
		dlszone_host_dlmgmtd_start();
		CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
		dlszone_host_dlmgmtd_kill();
	}

	/* A NIC attaches while dlmgmtd is away: it waits for its id. */
	mac_handle_t phys = dt_mac("e1000g0");
	CHECK_EQ(dls_devnet_create(phys, DATALINK_INVALID_LINKID,
	    GLOBAL_ZONEID), 0);
	datalink_id_t pid = 99;
	CHECK_EQ(dls_devnet_macname2linkid("e1000g0", &pid), 0);
	CHECK_EQ(pid, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("e1000g0"), 1);

	/* Registration fails while there is no dlmgmtd to open. */
	CHECK(dls_mgmt_door_set(B_TRUE) != 0);
	dlszone_host_dlmgmtd_start();
	dlszone_host_fail_next("door_open", I_EIO);
	int recreates = dlszone_host_softmac_recreates();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), I_EIO);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), I_EBADF);

	/* dlmgmtd is back: softmac re-creates the NIC's link. */
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates + 1);
	int props = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT);
	datalink_id_t nid = dlszone_host_dlmgmtd_add("e1000g0",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST,
	    GLOBAL_ZONEID, 88, 0);
	CHECK_EQ(dls_devnet_recreate(phys, nid), 0);
	CHECK_EQ(dls_devnet_macname2linkid("e1000g0", &pid), 0);
	CHECK_EQ(pid, nid);
	dls_link_info_t li;
	CHECK(dt_info(nid, &li));
	CHECK_STR(li.dli_name, "e1000g0");
	CHECK_EQ(li.dli_flags, DLS_LINKF_PERSISTENT);
	CHECK_EQ(dlszone_host_kstats("e1000g0", GLOBAL_ZONEID), 1);
	(void) dlszone_host_settle();
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
	    props + 1);
	char name[MAXLINKNAMELEN];
	CHECK_EQ(dls_mgmt_get_linkinfo(id, name, NULL, NULL, NULL), 0);
	CHECK_STR(name, "net0");
	CHECK_DLMGMTD_AGREES();

	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(phys, &out, B_TRUE), 0);
	CHECK_EQ(out, nid);
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, id);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

/*
 * Zone id reuse: zone 5, incarnation 105, is stuck in "down" with links
 * (a lent link its process holds, its own link held inside), and is
 * destroyed; a new zone 5, incarnation 205, boots and borrows the same
 * link. Nothing of incarnation 105 touches 205: its late releases are
 * refused, and recovery naming 105 is ESTALE.
 */
static void
zone_id_reuse(void)
{
	dt_begin("zone id reuse: incarnation 105's leftovers never touch 205");
	uint64_t u105 = dlszone_host_zone_boot(5, 105);
	mac_handle_t m0 = dt_mac("vnic300"), m1 = dt_mac("vnic301");
	datalink_id_t net0 = dt_link(m0, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	datalink_id_t own = dt_link(m1, "z5own0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dls_dl_handle_t ddh, old_net0, old_own, new_net0;
	CHECK_EQ(dls_devnet_hold_tmp(net0, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	dls_devnet_rele_tmp(ddh);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(net0, &old_net0), 0);
	CHECK_EQ(dls_devnet_hold(own, &old_own), 0);
	dlszone_host_set_zone(GLOBAL_ZONEID);
	CHECK_EQ(dt_holds(net0, DLS_HOLDER_NAMED, 5), 1);

	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	CHECK(dt_info(net0, NULL));
	CHECK(!dt_info(own, NULL));
	CHECK_EQ(dt_counters().dc_pending_frees, 1);

	/* The zone is destroyed: what it left is reclaimed then. */
	dlszone_host_zone_destroy(5);
	dls_link_info_t li;
	CHECK(dt_info(net0, &li));
	CHECK_EQ(li.dli_zone, GLOBAL_ZONEID);
	CHECK_EQ(dt_counters().dc_pending_frees, 0);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u105, 0, 0, &res),
	    I_ENXIO);

	/* dlmgmtd returns; a new zone 5 boots and borrows net0. */
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_settle(), 0);
	uint64_t u205 = dlszone_host_zone_boot(5, 205);
	CHECK(u205 != u105);
	CHECK_EQ(dls_devnet_hold_tmp(net0, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	dls_devnet_rele_tmp(ddh);
	CHECK(dt_info(net0, &li));
	CHECK_EQ(li.dli_zone, 5);
	CHECK_EQ(li.dli_zone_uniqid, u205);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(net0, &new_net0), 0);
	dlszone_host_set_zone(GLOBAL_ZONEID);
	CHECK_DLMGMTD_AGREES();

	/* Incarnation 105's releases come late and take nothing from 205. */
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_release(old_net0), I_ESTALE);
	CHECK_EQ(dls_devnet_release(old_own), I_ESTALE);
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_late_releases, 2);
	CHECK_EQ(c.dc_handles, before.ds_counters.dc_handles - 2);
	CHECK_EQ(dt_holds(net0, DLS_HOLDER_NAMED, 5), 1);
	dls_holder_t h[8];
	uint32_t n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GLOBAL_ZONEID), net0, 0, h, &n), 0);
	int seen = 0;
	for (uint32_t i = 0; i < n && i < 8; i++) {
		if (h[i].dh_zoneid == 5) {
			CHECK_EQ(h[i].dh_uniqid, u205);
			seen++;
		}
	}
	CHECK_EQ(seen, 1);

	/* Recovery naming 105 is stale; 205 is running. */
	dt_state_take(&before);
	(void) memset(&res, 0xff, sizeof (res));
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u105, 0,
	    DLS_RECOVER_FORCE, &res), I_ESTALE);
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u205, 0,
	    DLS_RECOVER_FORCE, &res), I_EBUSY);
	CHECK_EQ(res.drr_returned + res.drr_condemned + res.drr_left +
	    res.drr_holds_reclaimed + res.drr_delayed + res.drr_notices, 0);
	CHECK_SAME(before);

	/* 205 halts cleanly once its process lets go. */
	CHECK_EQ(dls_devnet_release(new_net0), 0);
	dlszone_host_zone_halt(5);
	CHECK(dt_info(net0, &li));
	CHECK_EQ(li.dli_zone, GLOBAL_ZONEID);
	dlszone_host_zone_destroy(5);
	CHECK_DLMGMTD_AGREES();
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(m0, &out, B_TRUE), 0);
	CHECK_EQ(out, net0);
	CHECK_EQ(dls_devnet_destroy(m1, &out, B_TRUE), 0);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	dt_end();
}

/*
 * A reused zone id whose earlier incarnation was never destroyed (the
 * netstack destroy was missed): the new incarnation's netstack creation
 * retires the old one, reclaiming what it kept. (illumos creates the
 * netstack while the new zone is not yet visible to zone_find_by_id(), so
 * the new incarnation itself is recorded at its first use: here, its
 * first loan.)
 */
static void
zone_id_reuse_without_destroy(void)
{
	dt_begin("zone id reuse: a new incarnation retires an undestroyed one");
	uint64_t u105 = dlszone_host_zone_boot(5, 105);
	mac_handle_t m0 = dt_mac("vnic310");
	datalink_id_t net0 = dt_link(m0, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	dls_dl_handle_t ddh, old;
	CHECK_EQ(dls_devnet_hold_tmp(net0, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	dls_devnet_rele_tmp(ddh);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(net0, &old), 0);
	dlszone_host_set_zone(GLOBAL_ZONEID);
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);

	/* Incarnation 205 boots with no destroy of 105 in between. */
	CHECK(dlszone_host_zone_boot(5, 205) != u105);
	dls_link_info_t li;
	CHECK(dt_info(net0, &li));
	CHECK_EQ(li.dli_zone, GLOBAL_ZONEID);
	CHECK_EQ(li.dli_long_holds, 1);
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(net0), GLOBAL_ZONEID);
	CHECK_EQ(dls_devnet_release(old), I_ESTALE);
	CHECK_EQ(dls_devnet_hold_tmp(net0, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	CHECK_EQ(dls_devnet_getzid(ddh), 5);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GLOBAL_ZONEID), 5, u105, 0, 0, &res),
	    I_ESTALE);
	CHECK_EQ(dls_devnet_setzid(ddh, GLOBAL_ZONEID), 0);
	dls_devnet_rele_tmp(ddh);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(m0, &out, B_TRUE), 0);
	dt_end();
}

/*
 * SmartOS' temporary-name flow: a zone's VNIC is created in the global
 * zone under a temporary name, lent to the zone, and renamed inside it
 * while lent (gate refuses the rename with EBUSY; SmartOS passes a
 * zoneinit flag; IPD 3 allows it). A transient loan goes away with the
 * zone; a plain one comes back under its reserved global-zone name.
 */
static void
smartos_tmpname(boolean_t transient)
{
	dt_begin(transient ?
	    "SmartOS temporary name: renamed inside, gone with the zone" :
	    "SmartOS temporary name: renamed inside, back under its name");
	dlszone_host_zone_boot(8, 108);
	mac_handle_t mh = dt_mac("z8_net0");
	datalink_id_t id = dt_link(mh, "z8tmp12345", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	dls_dl_handle_t ddh;
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, 8, transient), 0);
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dlszone_host_kstats("z8tmp12345", 8), 1);

	/* zoneinit renames it, dlmgmtd first, as libdladm does. */
	CHECK_EQ(dlszone_host_dlmgmtd_rename(id, "net0"), 0);
	CHECK_EQ(dls_devnet_rename(id, DATALINK_INVALID_LINKID, "net0"), 0);
	dls_link_info_t li;
	CHECK(dt_info(id, &li));
	CHECK_STR(li.dli_name, "net0");
	CHECK_STR(li.dli_reserved, "z8tmp12345");
	CHECK_EQ(li.dli_zone, 8);
	CHECK_EQ(li.dli_owner, GLOBAL_ZONEID);
	CHECK_EQ(li.dli_flags, DLS_LINKF_LENT |
	    (transient ? DLS_LINKF_TRANSIENT : 0));
	CHECK_EQ(dlszone_host_kstats("net0", 8), 1);
	CHECK_EQ(dlszone_host_kstats("z8tmp12345", 8), 0);
	CHECK_EQ(dlszone_host_kstats("z8tmp12345", GLOBAL_ZONEID), 1);
	/* The zone sees net0, and only there. */
	dls_link_info_t zi[4];
	uint32_t n = 4;
	CHECK_EQ(dls_devnet_snapshot(CRED(8), zi, &n, NULL), 0);
	CHECK_EQ(n, 1);
	CHECK_STR(zi[0].dli_name, "net0");
	CHECK_STR(zi[0].dli_reserved, "");
	CHECK_EQ(dls_devnet_hold_zlink(CRED(8), ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &ddh), 0);
	CHECK_STR(dls_devnet_link(ddh), "net0");
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GLOBAL_ZONEID), GLOBAL_ZONEID,
	    "net0", DLS_HOLD_TMP, &ddh), I_ENOENT);
	CHECK_DLMGMTD_AGREES();

	/* The temporary name stays reserved; net0 is free in the GZ. */
	mac_handle_t m2 = dt_mac("vnic801");
	datalink_id_t taken = dlszone_host_dlmgmtd_add("z8tmp12345",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GLOBAL_ZONEID, 0, 0);
	CHECK_EQ(dls_devnet_create(m2, taken, GLOBAL_ZONEID), I_EEXIST);
	datalink_id_t gz0 = dt_link(m2, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);

	dlszone_host_zone_halt(8);
	CHECK_EQ(dlszone_host_settle(), 0);
	if (transient) {
		CHECK(!dt_info(id, NULL));
		CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);
		CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), I_ENOENT);
		CHECK_EQ(dlszone_host_kstats_total(), 1);
	} else {
		CHECK(dt_info(id, &li));
		CHECK_STR(li.dli_name, "z8tmp12345");
		CHECK_STR(li.dli_reserved, "");
		CHECK_EQ(li.dli_zone, GLOBAL_ZONEID);
		CHECK_EQ(li.dli_flags, 0);
		CHECK_EQ(dlszone_host_dlmgmtd_zone(id), GLOBAL_ZONEID);
		CHECK_EQ(dlszone_host_kstats("z8tmp12345", GLOBAL_ZONEID), 1);
		CHECK_EQ(dlszone_host_kstats("net0", GLOBAL_ZONEID), 1);
		CHECK_EQ(dlszone_host_kstats_total(), 2);
		/* dlmgmtd, told of the return, renames it back too. */
		CHECK_EQ(dlszone_host_dlmgmtd_rename(id, "z8tmp12345"), 0);
	}
	CHECK_DLMGMTD_AGREES();
	dlszone_host_zone_destroy(8);
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, transient ? DATALINK_INVALID_LINKID : id);
	CHECK_EQ(dls_devnet_destroy(m2, &out, B_TRUE), 0);
	CHECK_EQ(out, gz0);
	dt_end();
}

static void
smartos_tmpname_transient(void)
{
	smartos_tmpname(B_TRUE);
}

static void
smartos_tmpname_returned(void)
{
	smartos_tmpname(B_FALSE);
}

int
main(void)
{
	static void (*const tests[])(void) = {
		issue_10001,
		issue_15167,
		os_8627,
		os_8627_transient_loan,
		stuck_down,
		dlmgmtd_restart,
		zone_id_reuse,
		zone_id_reuse_without_destroy,
		smartos_tmpname_transient,
		smartos_tmpname_returned,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
