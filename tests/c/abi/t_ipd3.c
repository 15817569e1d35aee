/*
 * t_ipd3.c -- the IPD 3 entry points of sys/dlszone.h, as documented
 * there: dls_devnet_setzid_transient, dls_devnet_hold_zlink (both
 * flavours), dls_devnet_holders (with the ENOSPC count protocol and
 * detached links), dls_devnet_snapshot (scoped to the caller's zone, with
 * a generation that changes on changes and not otherwise),
 * dls_mgmt_outbox_replay, dls_devnet_release, dls_devnet_counters and
 * dls_zone_recover.
 */
#include <pthread.h>

#include "dls_test.h"

#define	GZ	GLOBAL_ZONEID

static void
destroy_ok(mac_handle_t mh, datalink_id_t expect)
{
	datalink_id_t out = 12345;

	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, expect);
}

static void
move(datalink_id_t id, zoneid_t zid, boolean_t transient)
{
	dls_dl_handle_t ddh;

	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, zid, transient), 0);
	dls_devnet_rele_tmp(ddh);
}

static void
ipd3_setzid_transient(void)
{
	dt_begin("dls_devnet_setzid_transient: the transient flag");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t g = dt_mac("vnic1");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	dls_link_info_t li;
	dls_dl_handle_t ddh;

	/* To the global zone, the flag is ignored. */
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, GZ, B_TRUE), 0);
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_flags, 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, 5, B_TRUE), 0);
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_flags, DLS_LINKF_TRANSIENT | DLS_LINKF_LENT);
	CHECK_EQ(dls_devnet_getzid(ddh), 5);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, GZ, B_TRUE), 0);
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_flags, 0);
	CHECK_EQ(li.dli_zone, GZ);
	/* Gate's two-argument form is the plain loan. */
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_flags, DLS_LINKF_LENT);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, GZ, B_FALSE), 0);
	dls_devnet_rele_tmp(ddh);
	destroy_ok(g, id);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
ipd3_hold_zlink(void)
{
	dt_begin("dls_devnet_hold_zlink: by name in a zone, one step");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_zone_boot(6, 106);
	mac_handle_t g = dt_mac("vnic10"), z = dt_mac("vnic11");
	mac_handle_t l = dt_mac("vnic12");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	datalink_id_t zid = dt_link(z, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	datalink_id_t lid = dt_link(l, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	move(lid, 5, B_FALSE);
	dls_dl_handle_t a, b, c, d, keep = DT_FORGED;
	(void) dlszone_host_settle();
	int calls = dlszone_host_dlmgmtd_calls(0);

	/* The global zone: its own names, or any zone's. */
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &a), 0);
	CHECK_EQ(dls_devnet_linkid(a), gid);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), 5, "net0", DLS_HOLD_LONG,
	    &b), 0);
	CHECK_EQ(dls_devnet_linkid(b), zid);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_NAMED, GZ), 1);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_TEMPORARY, -1), 1);
	/* A zone: its own, with its own provenance. */
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), ALL_ZONES, "net0",
	    DLS_HOLD_LONG, &c), 0);
	CHECK_EQ(dls_devnet_linkid(c), zid);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_NAMED, 5), 1);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), 5, "net1", DLS_HOLD_TMP,
	    &d), 0);
	CHECK_EQ(dls_devnet_linkid(d), lid);
	/* No upcall. */
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), calls);

	/* What a caller may not see is ENOENT; nothing is taken. */
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), GZ, "net0", DLS_HOLD_TMP,
	    &keep), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), 6, "net0", DLS_HOLD_TMP,
	    &keep), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(6), ALL_ZONES, "net0",
	    DLS_HOLD_LONG, &keep), I_ENOENT);
	/* A lent link's global-zone name is reserved, not holdable. */
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), GZ, "net1", DLS_HOLD_TMP,
	    &keep), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), 7, "net0", DLS_HOLD_TMP,
	    &keep), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net9",
	    DLS_HOLD_TMP, &keep), I_ENOENT);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);

	/* Each flavour releases with its own function, or the new one. */
	dls_devnet_rele_tmp(a);
	dls_devnet_rele(b);
	CHECK_EQ(dls_devnet_release(c), 0);
	CHECK_EQ(dls_devnet_release(d), 0);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_NAMED, GZ), 0);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_NAMED, 5), 0);
	CHECK_EQ(dt_counters().dc_bad_releases, 0);

	/* A rename is seen at once: the old name is gone. */
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "web0"), 0);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), GZ, "net0", DLS_HOLD_TMP,
	    &a), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), GZ, "web0", DLS_HOLD_TMP,
	    &a), 0);
	CHECK_EQ(dls_devnet_linkid(a), gid);
	dls_devnet_rele_tmp(a);

	/* A halted zone: temporary holds yes, long holds no. */
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), ALL_ZONES, "net1",
	    DLS_HOLD_TMP, &a), 0);
	CHECK_EQ(dls_devnet_linkid(a), lid);
	dls_devnet_rele_tmp(a);
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), ALL_ZONES, "net1",
	    DLS_HOLD_LONG, &keep), I_ENXIO);
	/* Its own link went with the halt. */
	CHECK_EQ(dls_devnet_hold_zlink(CRED(5), ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &keep), I_ENOENT);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);

	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 100, 0, &res), 0);
	CHECK_EQ(dlszone_host_settle(), 0);
	destroy_ok(g, gid);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	destroy_ok(l, lid);
	dlszone_host_zone_destroy(5);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dt_end();
}

static void
ipd3_holders(void)
{
	dt_begin("dls_devnet_holders: records, ENOSPC and the count");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_device("vnic", 77, 20);
	mac_handle_t g = dt_mac("vnic20");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	move(id, 5, B_FALSE);
	dls_dl_handle_t s1, s2, n1, o1, t1, t2, t3;
	dev_t dev;

	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 21), &s1), 0);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 21), &s2), 0);
	CHECK_EQ(dls_devnet_open("net0", &o1, &dev), 0);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dls_devnet_hold(id, &n1), 0);
	CHECK_EQ(dls_devnet_hold_tmp(id, &t1), 0);
	CHECK_EQ(dls_devnet_hold_tmp(id, &t2), 0);
	CHECK_EQ(dls_devnet_hold_tmp(id, &t3), 0);

	/* How many: no buffer, ENOSPC, the count. */
	uint32_t n = 0;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, NULL, &n), I_ENOSPC);
	CHECK_EQ(n, 6);
	/* All of them. */
	dls_holder_t h[8];
	(void) memset(h, 0xa5, sizeof (h));
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, h, &n), 0);
	CHECK_EQ(n, 6);
	const struct {
		uint32_t kind;
		zoneid_t zone;
		uint64_t uniqid;
		uint64_t count;
	} want[6] = {
		{ DLS_HOLDER_EXISTENCE, GZ, 0, 1 },
		{ DLS_HOLDER_LOAN, GZ, 0, 1 },
		{ DLS_HOLDER_NAMED, GZ, 0, 1 },
		{ DLS_HOLDER_STREAM, 5, u5, 2 },
		{ DLS_HOLDER_DEVNET, 5, u5, 1 },
		{ DLS_HOLDER_TEMPORARY, -1, 0, 3 },
	};
	for (int i = 0; i < 6; i++) {
		int found = 0;

		for (uint32_t j = 0; j < n; j++) {
			if (h[j].dh_kind != want[i].kind ||
			    h[j].dh_zoneid != want[i].zone)
				continue;
			found++;
			CHECK_EQ(h[j].dh_linkid, id);
			CHECK_EQ(h[j].dh_state, DLS_LINK_ACTIVE);
			CHECK_EQ(h[j].dh_uniqid, want[i].uniqid);
			CHECK_EQ(h[j].dh_count, want[i].count);
		}
		CHECK_EQ(found, 1);
	}
	CHECK_EQ(h[0].dh_kind, DLS_HOLDER_EXISTENCE);
	CHECK_EQ(h[5].dh_kind, DLS_HOLDER_TEMPORARY);
	CHECK_EQ(h[6].dh_linkid, 0xa5a5a5a5u);
	/* Too few: the first ones, ENOSPC, the number needed. */
	dls_holder_t p[3];
	(void) memset(p, 0xa5, sizeof (p));
	n = 2;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, p, &n), I_ENOSPC);
	CHECK_EQ(n, 6);
	CHECK_EQ(memcmp(p, h, 2 * sizeof (h[0])), 0);
	CHECK_EQ(p[2].dh_linkid, 0xa5a5a5a5u);
	/* The flag adds nothing for a link that is not detached. */
	n = 8;
	dls_holder_t d[8];
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, DLS_HOLDERS_DETACHED, d,
	    &n), 0);
	CHECK_EQ(n, 6);
	CHECK_EQ(memcmp(d, h, 6 * sizeof (h[0])), 0);
	/* Only for the global zone; nothing is written otherwise. */
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(5), id, 0, d, &n), I_EACCES);
	CHECK_EQ(n, 8);
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id + 1000, 0, d, &n), I_ENOENT);
	CHECK_EQ(n, 8);

	dls_devnet_rele(s1);
	dls_devnet_rele(s2);
	dls_devnet_close(o1);
	dls_devnet_rele(n1);
	dls_devnet_rele_tmp(t1);
	dls_devnet_rele_tmp(t2);
	dls_devnet_rele_tmp(t3);
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, h, &n), 0);
	CHECK_EQ(n, 2);
	move(id, GZ, B_FALSE);
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, h, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(h[0].dh_kind, DLS_HOLDER_EXISTENCE);
	destroy_ok(g, id);
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, DLS_HOLDERS_DETACHED, h,
	    &n), I_ENOENT);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

/*
 * An id held both by a detached link (a global-zone snoop of a halted
 * zone's link) and by a new link dlmgmtd created under it: the new
 * link's records come first.
 */
static void
ipd3_holders_reused_id(void)
{
	dt_begin("dls_devnet_holders: a reused id, the new link first");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic30");
	datalink_id_t id = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dls_dl_handle_t snoop, ddh;
	CHECK_EQ(dls_devnet_hold(id, &snoop), 0);
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	CHECK_EQ(dlszone_host_settle(), 1);
	/* dlmgmtd returns, not yet told the link went; it hands the id out. */
	dlszone_host_dlmgmtd_start();
	dlszone_host_taskq_refuse(1);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	mac_handle_t g = dt_mac("vnic31");
	CHECK_EQ(dls_devnet_create(g, id, GZ), 0);
	dlszone_host_taskq_refuse(0);
	/* The notice about the old link is moot now: retired. */
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);

	dls_holder_t h[8];
	uint32_t n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, h, &n), 0);
	CHECK_EQ(n, 2);
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, DLS_HOLDERS_DETACHED, h,
	    &n), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(h[0].dh_kind, DLS_HOLDER_EXISTENCE);
	CHECK_EQ(h[0].dh_state, DLS_LINK_ACTIVE);
	CHECK_EQ(h[1].dh_kind, DLS_HOLDER_TEMPORARY);
	CHECK_EQ(h[1].dh_state, DLS_LINK_ACTIVE);
	CHECK_EQ(h[2].dh_kind, DLS_HOLDER_NAMED);
	CHECK_EQ(h[2].dh_zoneid, GZ);
	CHECK_EQ(h[2].dh_state, DLS_LINK_DETACHED);
	/* The snoop's handle still names the old link, and only it. */
	CHECK_EQ(dls_devnet_getzid(snoop), 5);
	CHECK_EQ(dls_devnet_getzid(ddh), GZ);
	dlszone_host_zone_boot(6, 106);
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_setzid(snoop, 6), I_ENOENT);
	CHECK_EQ(dls_devnet_setzid_transient(snoop, 6, B_TRUE), I_ENOENT);
	CHECK_SAME(before);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dls_devnet_rele_tmp(ddh);
	dls_devnet_rele(snoop);
	n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, DLS_HOLDERS_DETACHED, h,
	    &n), 0);
	CHECK_EQ(n, 1);
	destroy_ok(g, id);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
ipd3_snapshot(void)
{
	dt_begin("dls_devnet_snapshot: per zone, ENOSPC, the generation");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_zone_boot(6, 106);
	dls_link_info_t s[8], z[8];
	uint32_t n, m;
	uint64_t gen, gen2, gen3;

	n = 0;
	gen = 77;
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), NULL, &n, &gen), 0);
	CHECK_EQ(n, 0);
	CHECK(gen != 77);
	mac_handle_t g = dt_mac("vnic40"), l = dt_mac("vnic41");
	mac_handle_t o = dt_mac("vnic42"), p = dt_mac("e1000g0");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	datalink_id_t lid = dt_link(l, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	datalink_id_t oid = dt_link(o, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	CHECK_EQ(dls_devnet_create(p, DATALINK_INVALID_LINKID, GZ), 0);
	move(lid, 5, B_TRUE);

	/* The global zone: every link, by id, the pending one first. */
	n = 8;
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), s, &n, &gen), 0);
	CHECK_EQ(n, 4);
	CHECK_EQ(s[0].dli_linkid, DATALINK_INVALID_LINKID);
	CHECK_EQ(s[0].dli_state, DLS_LINK_INITIALIZING);
	CHECK_STR(s[0].dli_mac, "e1000g0");
	CHECK_STR(s[0].dli_name, "");
	CHECK_EQ(s[1].dli_linkid, gid);
	CHECK_EQ(s[2].dli_linkid, lid);
	CHECK_EQ(s[3].dli_linkid, oid);
	CHECK_EQ(s[1].dli_flags, DLS_LINKF_PERSISTENT);
	CHECK_EQ(s[2].dli_flags, DLS_LINKF_TRANSIENT | DLS_LINKF_LENT);
	CHECK_STR(s[2].dli_reserved, "net1");
	CHECK_EQ(s[2].dli_owner, GZ);
	CHECK_EQ(s[2].dli_zone, 5);
	CHECK_EQ(s[2].dli_zone_uniqid, u5);
	CHECK_EQ(s[2].dli_owner_uniqid, 0);
	CHECK_EQ(s[2].dli_long_holds, 2);
	CHECK_EQ(s[3].dli_flags, DLS_LINKF_TRANSIENT);
	CHECK_EQ(s[3].dli_owner_uniqid, u5);
	for (uint32_t i = 0; i < n; i++)
		CHECK_EQ(s[i].dli_pad, 0);
	/* A zone: the links in it, without the names kept elsewhere. */
	m = 8;
	gen2 = 0;
	CHECK_EQ(dls_devnet_snapshot(CRED(5), z, &m, &gen2), 0);
	CHECK_EQ(m, 2);
	/*
	 * Its generation is its own view's (never the table's, which would
	 * tell it of other zones' changes), the same while the view is.
	 */
	uint64_t zgen = gen2;
	CHECK(zgen != gen);
	m = 8;
	CHECK_EQ(dls_devnet_snapshot(CRED(5), z, &m, &gen2), 0);
	CHECK_EQ(m, 2);
	CHECK_EQ(gen2, zgen);
	CHECK_EQ(memcmp(&z[1], &s[3], sizeof (z[1])), 0);
	CHECK_EQ(z[0].dli_linkid, lid);
	CHECK_STR(z[0].dli_reserved, "");
	CHECK_STR(z[0].dli_name, "net1");
	m = 8;
	CHECK_EQ(dls_devnet_snapshot(CRED(6), z, &m, NULL), 0);
	CHECK_EQ(m, 0);

	/* Too small: the first records, ENOSPC, the number needed. */
	dls_link_info_t q[3];
	(void) memset(q, 0xa5, sizeof (q));
	n = 2;
	gen2 = 0;
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), q, &n, &gen2), I_ENOSPC);
	CHECK_EQ(n, 4);
	CHECK_EQ(gen2, gen);
	CHECK_EQ(memcmp(q, s, 2 * sizeof (q[0])), 0);
	CHECK_EQ(q[2].dli_linkid, 0xa5a5a5a5u);
	n = 0;
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), NULL, &n, NULL), I_ENOSPC);
	CHECK_EQ(n, 4);

	/* The generation: unchanged while nothing is, holds included... */
	dls_dl_handle_t a, b;
	CHECK_EQ(dls_devnet_hold(gid, &a), 0);
	CHECK_EQ(dls_devnet_hold_tmp(gid, &b), 0);
	CHECK_EQ(dt_gen(), gen);
	dls_devnet_rele(a);
	dls_devnet_rele_tmp(b);
	CHECK_EQ(dt_gen(), gen);
	/* ...and refused calls. */
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net1"),
	    I_EEXIST);
	CHECK_EQ(dls_devnet_hold_tmp(gid, &a), 0);
	CHECK_EQ(dls_devnet_setzid(a, 5), I_EEXIST);
	dls_devnet_rele_tmp(a);
	CHECK_EQ(dt_gen(), gen);
	/* Each change changes it: rename, move, create, destroy, halt. */
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "web0"), 0);
	gen2 = dt_gen();
	CHECK(gen2 != gen);
	CHECK_EQ(dt_gen(), gen2);
	move(gid, 6, B_FALSE);
	gen3 = dt_gen();
	CHECK(gen3 != gen2);
	move(gid, GZ, B_FALSE);
	gen = dt_gen();
	CHECK(gen != gen3);
	mac_handle_t x = dt_mac("vnic43");
	datalink_id_t xid = dt_link(x, "net3", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	gen2 = dt_gen();
	CHECK(gen2 != gen);
	destroy_ok(x, xid);
	gen3 = dt_gen();
	CHECK(gen3 != gen2);
	dlszone_host_zone_halt(5);
	gen = dt_gen();
	CHECK(gen != gen3);
	n = 8;
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), s, &n, NULL), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(dt_gen(), gen);

	destroy_ok(g, gid);
	destroy_ok(l, DATALINK_INVALID_LINKID);
	destroy_ok(o, DATALINK_INVALID_LINKID);
	destroy_ok(p, DATALINK_INVALID_LINKID);
	dlszone_host_zone_destroy(5);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dt_end();
}

/*
 * The outbox: notices queued in commit order while dlmgmtd is away,
 * delivered oldest first, each once; a failure stops the replay and stays
 * queued.
 */
static void
ipd3_outbox(void)
{
	dt_begin("dls_mgmt_outbox_replay: in order, once, stops at a failure");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	mac_handle_t t = dt_mac("vnic50"), l = dt_mac("vnic51");
	datalink_id_t tid = dt_link(t, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	datalink_id_t lid = dt_link(l, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	move(lid, 5, B_FALSE);
	uint32_t delivered = 77, pending = 77;

	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &delivered, &pending), 0);
	CHECK_EQ(delivered, 0);
	CHECK_EQ(pending, 0);
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, 0, &res), 0);
	CHECK_EQ(res.drr_notices, 1);
	CHECK_EQ(dlszone_host_settle(), 2);
	CHECK_EQ(dt_counters().dc_outbox, 2);

	/* Not from a zone; not while dlmgmtd is away. */
	delivered = pending = 77;
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(5), &delivered, &pending),
	    I_EACCES);
	CHECK_EQ(delivered, 77);
	CHECK_EQ(pending, 77);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &delivered, &pending),
	    I_EBADF);
	CHECK_EQ(delivered, 0);
	CHECK_EQ(pending, 2);

	/* dlmgmtd is back; it refuses the second notice once. */
	dlszone_host_dlmgmtd_start();
	dlszone_host_taskq_refuse(1);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	int destroys = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_DESTROY);
	int setzones = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_SETZONEID, I_EROFS);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &delivered, &pending),
	    I_EROFS);
	CHECK_EQ(delivered, 1);
	CHECK_EQ(pending, 1);
	/* The oldest first: the halt's teardown, then the recovery's. */
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_DESTROY),
	    destroys + 1);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(tid), -2);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(lid), 5);
	CHECK_EQ(dt_counters().dc_outbox, 1);
	/* The rest; then nothing more, each delivered once. */
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), NULL, &pending), 0);
	CHECK_EQ(pending, 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(lid), GZ);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &delivered, NULL), 0);
	CHECK_EQ(delivered, 0);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_DESTROY),
	    destroys + 1);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID),
	    setzones + 2);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), NULL, NULL), 0);
	dlszone_host_taskq_refuse(0);
	CHECK_DLMGMTD_AGREES();

	/* A notice dlmgmtd has seen already is taken as delivered. */
	mac_handle_t u = dt_mac("vnic52");
	dlszone_host_zone_boot(5, 205);
	datalink_id_t uid = dt_link(u, "z5net1", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	CHECK_EQ(dlszone_host_settle(), 1);
	dlszone_host_dlmgmtd_start();
	dlszone_host_taskq_refuse(1);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dls_mgmt_destroy(uid, B_FALSE), 0);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &delivered, &pending), 0);
	CHECK_EQ(delivered, 1);
	CHECK_EQ(pending, 0);
	dlszone_host_taskq_refuse(0);

	destroy_ok(t, DATALINK_INVALID_LINKID);
	destroy_ok(l, lid);
	destroy_ok(u, DATALINK_INVALID_LINKID);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
ipd3_release_counters(void)
{
	dt_begin("dls_devnet_release and dls_devnet_counters");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	mac_handle_t g = dt_mac("vnic60");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	move(id, 5, B_FALSE);
	dls_dl_handle_t a, b;
	dls_counters_t c;

	(void) memset(&c, 0xa5, sizeof (c));
	CHECK_EQ(dls_devnet_counters(CRED(GZ), &c), 0);
	CHECK_EQ(c.dc_bad_releases, 0);
	CHECK_EQ(c.dc_late_releases, 0);
	CHECK_EQ(c.dc_pending_frees, 0);
	CHECK_EQ(c.dc_outbox, 0);
	CHECK_EQ(c.dc_handles, 0);
	CHECK_EQ(c.dc_nomem, 0);
	dls_counters_t k;
	(void) memset(&k, 0xa5, sizeof (k));
	CHECK_EQ(dls_devnet_counters(CRED(5), &k), I_EACCES);
	CHECK_EQ(k.dc_handles, 0xa5a5a5a5a5a5a5a5ull);

	/* Released, then released again or never issued: ENOENT, counted. */
	CHECK_EQ(dls_devnet_hold_tmp(id, &a), 0);
	CHECK_EQ(dt_counters().dc_handles, 1);
	CHECK_EQ(dls_devnet_release(a), 0);
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_release(a), I_ENOENT);
	CHECK_EQ(dls_devnet_release(DT_FORGED), I_ENOENT);
	CHECK_EQ(dls_devnet_release(NULL), I_ENOENT);
	CHECK_SAME_BAD(before, 3);

	/* A hold the dead zone kept, reclaimed: ESTALE once, then ENOENT. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(id, &b), 0);
	dlszone_host_set_zone(GZ);
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, DLS_RECOVER_FORCE,
	    &res), 0);
	CHECK_EQ(res.drr_holds_reclaimed, 1);
	c = dt_counters();
	CHECK_EQ(c.dc_handles, 1);
	CHECK_EQ(c.dc_outbox, 1);
	CHECK_EQ(dls_devnet_release(b), I_ESTALE);
	c = dt_counters();
	CHECK_EQ(c.dc_late_releases, 1);
	CHECK_EQ(c.dc_handles, 0);
	CHECK_EQ(c.dc_bad_releases, 3);
	CHECK_EQ(dls_devnet_release(b), I_ENOENT);
	CHECK_EQ(dt_counters().dc_bad_releases, 4);
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_settle(), 0);
	CHECK_EQ(dt_counters().dc_outbox, 0);
	destroy_ok(g, id);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
ipd3_recover(void)
{
	dt_begin("dls_zone_recover: results, frees, re-runs, refusals");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic70"), w = dt_mac("vnic71");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	datalink_id_t wid = dt_link(w, "z5net1", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dls_dl_handle_t zh, gh;
	dls_recover_result_t res;

	/* Running: EBUSY, the result zeroed, nothing done. */
	dt_state_t before;
	dt_state_take(&before);
	(void) memset(&res, 0xa5, sizeof (res));
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, DLS_RECOVER_FORCE,
	    &res), I_EBUSY);
	CHECK_EQ(res.drr_returned + res.drr_condemned + res.drr_left +
	    res.drr_holds_reclaimed + res.drr_delayed + res.drr_notices, 0);
	CHECK_SAME(before);

	/* Its links are held from inside it, one also from the GZ. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(zid, &zh), 0);
	CHECK_EQ(dls_devnet_hold(wid, &gh), 0);
	dlszone_host_set_zone(GZ);
	dls_dl_handle_t snoop;
	CHECK_EQ(dls_devnet_hold(wid, &snoop), 0);
	dlszone_host_zone_halt(5);
	CHECK_EQ(dt_counters().dc_pending_frees, 2);
	/* Without force, the zone's holds stay; nothing is in the zone. */
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, 0, &res), 0);
	CHECK_EQ(res.drr_left, 0);
	CHECK_EQ(res.drr_holds_reclaimed, 0);
	CHECK_EQ(dt_counters().dc_pending_frees, 2);
	/* With force: one freed at once, one waits for the GZ's hold. */
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, DLS_RECOVER_FORCE,
	    &res), 0);
	CHECK_EQ(res.drr_holds_reclaimed, 2);
	CHECK_EQ(res.drr_condemned, 2);
	CHECK_EQ(res.drr_delayed, 1);
	CHECK_EQ(res.drr_returned, 0);
	CHECK_EQ(res.drr_left, 0);
	CHECK_EQ(dt_counters().dc_pending_frees, 1);
	/* Re-run: nothing more. */
	dt_state_take(&before);
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, DLS_RECOVER_FORCE,
	    &res), 0);
	CHECK_EQ(res.drr_holds_reclaimed + res.drr_condemned +
	    res.drr_delayed, 0);
	CHECK_SAME(before);
	CHECK_EQ(dls_devnet_release(zh), I_ESTALE);
	CHECK_EQ(dls_devnet_release(gh), I_ESTALE);
	CHECK_EQ(dls_devnet_release(snoop), 0);
	CHECK_EQ(dt_counters().dc_pending_frees, 0);

	/* Refusals: the wrong zone, the wrong incarnation, gone. */
	dt_state_take(&before);
	(void) memset(&res, 0xa5, sizeof (res));
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5 + 1, 0, 0, &res), I_ESTALE);
	CHECK_EQ(dls_zone_recover(CRED(GZ), 6, 106, 0, 0, &res), I_ENXIO);
	CHECK_EQ(dls_zone_recover(CRED(5), 5, u5, 0, 0, &res), I_EACCES);
	CHECK_SAME(before);
	dlszone_host_zone_destroy(5);
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, 0, &res), I_ENXIO);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	destroy_ok(w, DATALINK_INVALID_LINKID);
	dt_end();
}

static void *
halt_zone5(void *arg)
{
	(void) arg;
	dlszone_host_zone_halt(5);
	return (NULL);
}

static void *
replay(void *arg)
{
	uint32_t *delivered = arg;

	return ((void *)(intptr_t)dls_mgmt_outbox_replay(CRED(GZ), delivered,
	    NULL));
}

/*
 * dlmgmtd hangs on a call: a recovery of the zone whose halt waits for it
 * times out (ETIMEDOUT, nothing done, the result zeroed) and may be run
 * again once it answers; a second replay while one hangs is EALREADY;
 * other zones and holds go on meanwhile.
 */
static void
ipd3_wedged_dlmgmtd(void)
{
	dt_begin("a wedged dlmgmtd: ETIMEDOUT, EALREADY, the rest goes on");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_zone_boot(6, 106);
	mac_handle_t g = dt_mac("vnic80"), o = dt_mac("vnic81");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	datalink_id_t oid = dt_link(o, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	move(gid, 5, B_FALSE);
	(void) dlszone_host_settle();

	/* The halt's return of net0 hangs in dlmgmtd. */
	pthread_t t;
	dlszone_host_dlmgmtd_stall(DLMGMT_CMD_SETZONEID);
	CHECK_EQ(pthread_create(&t, NULL, halt_zone5, NULL), 0);
	CHECK(dlszone_host_dlmgmtd_hanging());
	dt_state_t before;
	dt_state_take(&before);
	dls_recover_result_t res;
	(void) memset(&res, 0xa5, sizeof (res));
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 50, DLS_RECOVER_FORCE,
	    &res), I_ETIMEDOUT);
	CHECK_EQ(res.drr_returned + res.drr_condemned + res.drr_left +
	    res.drr_holds_reclaimed + res.drr_delayed + res.drr_notices, 0);
	CHECK_SAME(before);
	/* Holds, and another zone's moves, do not wait for it. */
	dls_dl_handle_t ddh;
	CHECK_EQ(dls_devnet_hold_tmp(gid, &ddh), 0);
	dls_devnet_rele_tmp(ddh);
	move(oid, 6, B_FALSE);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(oid), 6);
	move(oid, GZ, B_FALSE);
	dlszone_host_dlmgmtd_unstall();
	CHECK_EQ(pthread_join(t, NULL), 0);
	dls_link_info_t li;
	CHECK(dt_info(gid, &li));
	CHECK_EQ(li.dli_zone, GZ);
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 50, DLS_RECOVER_FORCE,
	    &res), 0);
	CHECK_EQ(res.drr_left, 0);

	/* A replay hangs: another one is EALREADY. */
	mac_handle_t z = dt_mac("vnic82");
	dlszone_host_zone_boot(5, 205);
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	(void) dlszone_host_settle();
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	CHECK_EQ(dlszone_host_settle(), 1);
	dlszone_host_dlmgmtd_start();
	dlszone_host_taskq_refuse(1);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	uint32_t delivered = 77, pending = 77;
	dlszone_host_dlmgmtd_stall(DLMGMT_CMD_DLS_DESTROY);
	CHECK_EQ(pthread_create(&t, NULL, replay, &delivered), 0);
	CHECK(dlszone_host_dlmgmtd_hanging());
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), NULL, &pending), I_EALREADY);
	CHECK_EQ(pending, 1);
	dlszone_host_dlmgmtd_unstall();
	void *rc;
	CHECK_EQ(pthread_join(t, &rc), 0);
	CHECK_EQ((intptr_t)rc, 0);
	CHECK_EQ(delivered, 1);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(zid), -2);
	dlszone_host_taskq_refuse(0);

	destroy_ok(g, gid);
	destroy_ok(o, oid);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	dlszone_host_zone_destroy(5);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dt_end();
}

int
main(void)
{
	static void (*const tests[])(void) = {
		ipd3_setzid_transient,
		ipd3_hold_zlink,
		ipd3_holders,
		ipd3_holders_reused_id,
		ipd3_snapshot,
		ipd3_outbox,
		ipd3_release_counters,
		ipd3_recover,
		ipd3_wedged_dlmgmtd,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
