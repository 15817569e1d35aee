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

int
main(void)
{
	static void (*const tests[])(void) = {
		issue_10001,
		issue_15167,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
