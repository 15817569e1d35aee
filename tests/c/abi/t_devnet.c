/*
 * t_devnet.c -- a link's life cycle through dls_mgmt.o's C interface:
 * dls_devnet_create, _recreate, _destroy, _rename, _setzid (and
 * _setzid_transient), the queries on a handle, the per-zone "link"
 * kstats, the /dev/net rebuild flag, and failures injected into the
 * kernel calls each makes (the link left exactly as it was).
 */
#define	_POSIX_C_SOURCE	200809L

#include <pthread.h>
#include <time.h>

#include "dls_test.h"

#define	GZ	GLOBAL_ZONEID

/* A link dlmgmtd knows, not yet created in the kernel. */
static datalink_id_t
daemon_link(const char *name, uint32_t class, zoneid_t zid, boolean_t persist)
{
	return (dlszone_host_dlmgmtd_add(name, class,
	    DLMGMT_ACTIVE | (persist ? DLMGMT_PERSIST : 0), zid, 0, 0));
}

static void
destroy_ok(mac_handle_t mh, datalink_id_t expect)
{
	datalink_id_t out = 12345;

	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, expect);
}

static void
move(datalink_id_t id, zoneid_t zid, boolean_t transient, int expect)
{
	dls_dl_handle_t ddh;

	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, zid, transient), expect);
	dls_devnet_rele_tmp(ddh);
}

static void
devnet_create(void)
{
	dt_begin("dls_devnet_create: owners, names per zone, EEXIST, ENOTSUP");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dt_state_t before;
	dls_link_info_t li;

	devnet_need_rebuild = B_FALSE;
	mac_handle_t g = dt_mac("vnic1");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	CHECK(devnet_need_rebuild);
	CHECK(dt_info(gid, &li));
	CHECK_EQ(li.dli_owner, GZ);
	CHECK_EQ(li.dli_zone, GZ);
	CHECK_EQ(li.dli_flags, DLS_LINKF_PERSISTENT);
	CHECK_EQ(li.dli_state, DLS_LINK_ACTIVE);
	CHECK_EQ(li.dli_long_holds, 1);
	CHECK_EQ(li.dli_owner_uniqid, 0);
	CHECK_STR(li.dli_name, "net0");
	CHECK_STR(li.dli_reserved, "");
	CHECK_STR(li.dli_mac, "vnic1");
	CHECK_EQ(dlszone_host_link_refs("vnic1"), 1);
	CHECK_EQ(dlszone_host_link_zone("vnic1"), GZ);
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 1);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_EXISTENCE, GZ), 1);

	/* A zone's own link: transient from birth; the same name is fine. */
	mac_handle_t z = dt_mac("vnic2");
	datalink_id_t zid = dt_link(z, "net0", DATALINK_CLASS_VNIC, 5, B_FALSE);
	CHECK(dt_info(zid, &li));
	CHECK_EQ(li.dli_owner, 5);
	CHECK_EQ(li.dli_zone, 5);
	CHECK_EQ(li.dli_flags, DLS_LINKF_TRANSIENT);
	CHECK_EQ(li.dli_owner_uniqid, u5);
	CHECK_EQ(li.dli_zone_uniqid, u5);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 1);
	CHECK_EQ(dlszone_host_link_zone("vnic2"), 5);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_EXISTENCE, 5), 1);

	/* Refusals, each changing nothing. */
	mac_handle_t x = dt_mac("vnic3");
	datalink_id_t pz = daemon_link("net9", DATALINK_CLASS_VNIC, 5, B_TRUE);
	datalink_id_t dup = daemon_link("net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	datalink_id_t dupz = daemon_link("net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	datalink_id_t z6 = daemon_link("net0", DATALINK_CLASS_VNIC, 6, B_FALSE);
	datalink_id_t ok = daemon_link("net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	dt_state_take(&before);
	/* A persistent link from a non-global zone. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_create(x, pz, 5), I_ENOTSUP);
	/* A name taken in the zone. */
	CHECK_EQ(dls_devnet_create(x, dupz, 5), I_EEXIST);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dls_devnet_create(x, dup, GZ), I_EEXIST);
	/* A link id, or a MAC, taken. */
	CHECK_EQ(dls_devnet_create(x, gid, GZ), I_EEXIST);
	CHECK_EQ(dls_devnet_create(g, ok, GZ), I_EEXIST);
	/* A zone that does not run. */
	CHECK_EQ(dls_devnet_create(x, z6, 6), I_ENXIO);
	/* A link dlmgmtd does not have; dlmgmtd's own errors. */
	CHECK_EQ(dls_devnet_create(x, ok + 1000, GZ), I_ENOENT);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_GETNAME, I_EROFS);
	CHECK_EQ(dls_devnet_create(x, ok, GZ), I_EROFS);
	/* The dls_link_t cannot be made. */
	dlszone_host_fail_next("link_hold_create", I_ENOMEM);
	CHECK_EQ(dls_devnet_create(x, ok, GZ), I_ENOMEM);
	/* A pending (id-less) link only for the global zone. */
	CHECK_EQ(dls_devnet_create(x, DATALINK_INVALID_LINKID, 5), I_EINVAL);
	CHECK_SAME(before);
	CHECK_EQ(dlszone_host_link_refs("vnic3"), -1);

	/* The failures were used up: the create works now. */
	devnet_need_rebuild = B_FALSE;
	CHECK_EQ(dls_devnet_create(x, ok, GZ), 0);
	CHECK(devnet_need_rebuild);
	CHECK(dt_info(ok, &li));
	CHECK_EQ(li.dli_flags, 0);
	/* A kstat that cannot be made does not stop a create. */
	mac_handle_t y = dt_mac("vnic4");
	dlszone_host_fail_next("kstat_create", I_ENOMEM);
	datalink_id_t nks = dt_link(y, "net4", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	CHECK(dt_info(nks, NULL));
	CHECK_EQ(dlszone_host_kstats("net4", GZ), 0);

	/* A halted zone gets no new link. */
	dlszone_host_zone_halt(5);
	mac_handle_t w = dt_mac("vnic5");
	datalink_id_t late = daemon_link("net7", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dt_state_take(&before);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_create(w, late, 5), I_ENXIO);
	dlszone_host_set_zone(GZ);
	CHECK_SAME(before);

	destroy_ok(g, gid);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	destroy_ok(x, ok);
	destroy_ok(y, nks);
	dlszone_host_zone_destroy(5);
	dt_end();
}

/*
 * A driver whose mac_disable() failed after dls_devnet_destroy()
 * re-creates the link passing its own caller's zone: the link comes back
 * exactly as it was (owner, zone, transient), not re-owned.
 */
static void
devnet_recreate_after_destroy(void)
{
	dt_begin("dls_devnet_create after a destroy: the link as it was");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic10");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	mac_handle_t g = dt_mac("vnic11");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	dls_link_info_t zi, gi, li;
	CHECK(dt_info(zid, &zi));
	CHECK(dt_info(gid, &gi));

	/* vnic_dev_delete() from the global zone, then mac_disable fails. */
	destroy_ok(z, zid);
	CHECK(!dt_info(zid, NULL));
	CHECK_EQ(dlszone_host_kstats("z5net0", 5), 0);
	CHECK_EQ(dls_devnet_create(z, zid, GZ), 0);
	CHECK(dt_info(zid, &li));
	CHECK_EQ(memcmp(&li, &zi, sizeof (li)), 0);
	CHECK_EQ(dlszone_host_kstats("z5net0", 5), 1);
	/* Its create's reference, and the one its zone's data path keeps. */
	CHECK_EQ(dlszone_host_link_refs("vnic10"), 2);
	CHECK_EQ(dlszone_host_link_zone("vnic10"), 5);
	/* The zone deletes its own link, and re-creates it. */
	dlszone_host_set_zone(5);
	destroy_ok(z, zid);
	CHECK_EQ(dls_devnet_create(z, zid, 5), 0);
	dlszone_host_set_zone(GZ);
	CHECK(dt_info(zid, &li));
	CHECK_EQ(memcmp(&li, &zi, sizeof (li)), 0);
	CHECK_EQ(dlszone_host_link_zone("vnic10"), 5);
	/* A persistent global-zone link. */
	destroy_ok(g, gid);
	CHECK_EQ(dls_devnet_create(g, gid, GZ), 0);
	CHECK(dt_info(gid, &li));
	CHECK_EQ(memcmp(&li, &gi, sizeof (li)), 0);
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 1);

	destroy_ok(z, zid);
	destroy_ok(g, gid);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

struct later {
	dls_dl_handle_t	l_ddh;
	int		l_done;
};

static void *
rele_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	(void) nanosleep(&ts, NULL);
	__atomic_store_n(&l->l_done, 1, __ATOMIC_SEQ_CST);
	dls_devnet_rele_tmp(l->l_ddh);
	return (NULL);
}

static void
devnet_destroy(void)
{
	dt_begin("dls_devnet_destroy: holders, waits, a failed release");
	dlszone_host_zone_boot(5, 105);
	dt_state_t before;
	dls_dl_handle_t ddh, tmp;
	datalink_id_t out;

	mac_handle_t g = dt_mac("vnic20");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	(void) dlszone_host_settle();

	/* A long holder: EBUSY, *idp invalid, nothing changed. */
	CHECK_EQ(dls_devnet_hold(gid, &ddh), 0);
	dt_state_take(&before);
	out = 77;
	CHECK_EQ(dls_devnet_destroy(g, &out, B_TRUE), I_EBUSY);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_SAME(before);
	dls_devnet_rele(ddh);
	/* A temporary holder: EBUSY without waiting. */
	CHECK_EQ(dls_devnet_hold_tmp(gid, &tmp), 0);
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_destroy(g, &out, B_FALSE), I_EBUSY);
	CHECK_SAME(before);
	/* A lent link: its loan hold keeps it. */
	CHECK_EQ(dls_devnet_setzid(tmp, 5), 0);
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_destroy(g, &out, B_TRUE), I_EBUSY);
	CHECK_SAME(before);
	CHECK_EQ(dls_devnet_setzid(tmp, GZ), 0);

	dls_devnet_rele_tmp(tmp);

	/* The release of the dls_link_t fails: the link is put back. */
	dt_state_take(&before);
	dlszone_host_fail_next("link_rele_by_name", I_ENOTEMPTY);
	CHECK_EQ(dls_devnet_destroy(g, &out, B_TRUE), I_ENOTEMPTY);
	CHECK_EQ(out, gid);
	CHECK_SAME(before);
	/* The same for a zone's own link, which stays its zone's. */
	mac_handle_t z = dt_mac("vnic21");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	(void) dlszone_host_settle();
	dt_state_take(&before);
	dlszone_host_fail_next("link_rele_by_name", I_ENOTEMPTY);
	CHECK_EQ(dls_devnet_destroy(z, &out, B_TRUE), I_ENOTEMPTY);
	CHECK_EQ(out, zid);
	CHECK_SAME(before);

	/* With wait, a destroy waits for the temporary holds to go. */
	struct later l = { NULL, 0 };
	pthread_t t;
	CHECK_EQ(dls_devnet_hold_tmp(gid, &l.l_ddh), 0);
	CHECK_EQ(pthread_create(&t, NULL, rele_later, &l), 0);
	devnet_need_rebuild = B_FALSE;
	destroy_ok(g, gid);
	CHECK_EQ(__atomic_load_n(&l.l_done, __ATOMIC_SEQ_CST), 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(devnet_need_rebuild);
	CHECK(!dt_info(gid, NULL));
	CHECK_EQ(dlszone_host_link_refs("vnic20"), -1);
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 0);
	/* dlmgmtd is not told: libdladm does that. */
	CHECK_EQ(dlszone_host_dlmgmtd_zone(gid), GZ);
	CHECK_EQ(dls_devnet_hold_tmp(gid, &tmp), I_ENOENT);
	/* Destroyed already: only a missing dls_link_t is left to say. */
	dt_state_take(&before);
	out = 77;
	CHECK_EQ(dls_devnet_destroy(g, &out, B_TRUE), I_ENOENT);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_SAME(before);

	/* A pending physical link goes without an id. */
	mac_handle_t p = dt_mac("e1000g0");
	CHECK_EQ(dls_devnet_create(p, DATALINK_INVALID_LINKID, GZ), 0);
	destroy_ok(p, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("e1000g0"), -1);
	datalink_id_t pid;
	CHECK_EQ(dls_devnet_macname2linkid("e1000g0", &pid), I_ENOENT);

	destroy_ok(z, zid);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
devnet_rename(void)
{
	dt_begin("dls_devnet_rename: names, EBUSY, EEXIST, a physical re-key");
	dlszone_host_zone_boot(5, 105);
	dt_state_t before;
	dls_dl_handle_t tmp, ddh;
	dls_link_info_t li;

	mac_handle_t g = dt_mac("vnic30");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	mac_handle_t h = dt_mac("vnic31");
	datalink_id_t hid = dt_link(h, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	CHECK_EQ(dls_devnet_hold_tmp(gid, &tmp), 0);
	CHECK_STR(dls_devnet_link(tmp), "net0");

	/* A plain rename; a temporary hold does not stand in its way. */
	devnet_need_rebuild = B_FALSE;
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "web0"), 0);
	CHECK(devnet_need_rebuild);
	CHECK(dt_info(gid, &li));
	CHECK_STR(li.dli_name, "web0");
	CHECK_STR(dls_devnet_link(tmp), "web0");
	CHECK_EQ(dlszone_host_kstats("web0", GZ), 1);
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 0);
	dls_devnet_rele_tmp(tmp);
	/* The old name is free again. */
	CHECK_EQ(dls_devnet_rename(hid, DATALINK_INVALID_LINKID, "net0"), 0);
	/* To its own name: nothing to do. */
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "web0"), 0);
	CHECK_SAME(before);

	/* Refusals, each changing nothing. */
	CHECK_EQ(dls_devnet_hold(hid, &ddh), 0);
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net0"),
	    I_EEXIST);
	CHECK_EQ(dls_devnet_rename(hid, DATALINK_INVALID_LINKID, "net2"),
	    I_EBUSY);
	CHECK_EQ(dls_devnet_rename(gid + 1000, DATALINK_INVALID_LINKID,
	    "net2"), I_ENOENT);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "2net"),
	    I_EINVAL);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net 2"),
	    I_EINVAL);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, ""),
	    I_EINVAL);
	dlszone_host_fail_next("mac_rename_primary", I_ENOMEM);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net2"),
	    I_ENOMEM);
	dlszone_host_fail_next("perim_enter", I_EINTR);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net2"),
	    I_EINTR);
	CHECK_SAME(before);
	dls_devnet_rele(ddh);

	/* A lent link's reserved name: taken in the global zone. */
	move(hid, 5, B_FALSE, 0);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net0"),
	    I_EEXIST);
	/* Renamed inside the borrowing zone; the reserved name stays. */
	CHECK_EQ(dls_devnet_rename(hid, DATALINK_INVALID_LINKID, "net5"), 0);
	CHECK(dt_info(hid, &li));
	CHECK_STR(li.dli_name, "net5");
	CHECK_STR(li.dli_reserved, "net0");
	move(hid, GZ, B_FALSE, 0);
	CHECK(dt_info(hid, &li));
	CHECK_STR(li.dli_name, "net0");

	/*
	 * A physical link takes over the id (and name) of a link
	 * configuration whose device is gone.
	 */
	dlszone_host_device("e1000g", 88, 0);
	mac_handle_t p = dt_mac("e1000g0");
	datalink_id_t p1 = dlszone_host_dlmgmtd_add("e1000g0",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 0);
	datalink_id_t p2 = dlszone_host_dlmgmtd_add("net8",
	    DATALINK_CLASS_PHYS, DLMGMT_PERSIST, GZ, 99, 7);
	datalink_id_t p3 = dlszone_host_dlmgmtd_add("net9",
	    DATALINK_CLASS_PHYS, DLMGMT_PERSIST, GZ, 88, 0);
	CHECK_EQ(dls_devnet_create(p, p1, GZ), 0);
	(void) dlszone_host_settle();
	int props = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT);
	dt_state_take(&before);
	/* p3's device is attached: it is no removed configuration. */
	CHECK_EQ(dls_devnet_rename(p1, p3, ""), I_EEXIST);
	/* A VNIC cannot take a physical configuration's id. */
	CHECK_EQ(dls_devnet_rename(gid, p2, ""), I_EINVAL);
	/* Other MAC clients: not exclusive. */
	dlszone_host_fail_next("mac_exclusive", I_EBUSY);
	CHECK_EQ(dls_devnet_rename(p1, p2, ""), I_EBUSY);
	CHECK_SAME(before);
	CHECK_EQ(dls_devnet_rename(p1, p2, ""), 0);
	CHECK(!dt_info(p1, NULL));
	CHECK(dt_info(p2, &li));
	CHECK_STR(li.dli_name, "net8");
	CHECK_STR(li.dli_mac, "e1000g0");
	datalink_id_t pid;
	CHECK_EQ(dls_devnet_macname2linkid("e1000g0", &pid), 0);
	CHECK_EQ(pid, p2);
	CHECK_EQ(dlszone_host_kstats("net8", GZ), 1);
	CHECK_EQ(dlszone_host_kstats("e1000g0", GZ), 0);
	(void) dlszone_host_settle();
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
	    props + 1);

	destroy_ok(p, p2);
	destroy_ok(g, gid);
	destroy_ok(h, hid);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
devnet_setzid(void)
{
	dt_begin("dls_devnet_setzid: lend, return, and every refusal");
	dlszone_host_zone_boot(5, 105);
	dlszone_host_zone_boot(6, 106);
	dt_state_t before;
	dls_link_info_t li;
	dls_dl_handle_t ddh, zh;

	mac_handle_t g = dt_mac("vnic40");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	mac_handle_t v = dt_mac("vnic41");
	datalink_id_t vid = dt_link(v, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	mac_handle_t z = dt_mac("vnic42");
	datalink_id_t zid = dt_link(z, "net1", DATALINK_CLASS_VNIC, 6, B_FALSE);

	/* Lend: dlmgmtd, the data path, kstats and /dev/net follow. */
	CHECK_EQ(dls_devnet_hold_tmp(gid, &ddh), 0);
	devnet_need_rebuild = B_FALSE;
	int sz = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID), sz + 1);
	CHECK(devnet_need_rebuild);
	CHECK_EQ(dls_devnet_getzid(ddh), 5);
	CHECK_EQ(dls_devnet_getownerzid(ddh), GZ);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(gid), 5);
	CHECK_EQ(dlszone_host_link_zone("vnic40"), 5);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 1);
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 1);
	CHECK(dt_info(gid, &li));
	CHECK_EQ(li.dli_flags, DLS_LINKF_PERSISTENT | DLS_LINKF_LENT);
	CHECK_STR(li.dli_reserved, "net0");
	CHECK_EQ(li.dli_long_holds, 2);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_LOAN, GZ), 1);

	/* Refusals, each changing nothing. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(gid, &zh), 0);
	dlszone_host_set_zone(GZ);
	dt_state_take(&before);
	sz = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID);
	/* Already there. */
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	/* Lent already. */
	CHECK_EQ(dls_devnet_setzid(ddh, 6), I_EBUSY);
	/* The return, with a hold taken inside the zone. */
	CHECK_EQ(dls_devnet_setzid(ddh, GZ), I_EBUSY);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID), sz);
	CHECK_SAME(before);
	dls_devnet_rele(zh);

	/* Return: the name comes back, the loan hold goes. */
	CHECK_EQ(dls_devnet_setzid(ddh, GZ), 0);
	CHECK_EQ(dls_devnet_getzid(ddh), GZ);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(gid), GZ);
	CHECK_EQ(dlszone_host_link_zone("vnic40"), GZ);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 0);
	CHECK(dt_info(gid, &li));
	CHECK_EQ(li.dli_flags, DLS_LINKF_PERSISTENT);
	CHECK_EQ(li.dli_long_holds, 1);
	dls_devnet_rele_tmp(ddh);

	/* More refusals. */
	dt_state_take(&before);
	sz = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID);
	/* A persistent link is never lent transient. */
	move(gid, 5, B_TRUE, I_EINVAL);
	/* A zone's own link moves nowhere; "returning" it does nothing. */
	move(zid, 5, B_FALSE, I_EPERM);
	move(zid, GZ, B_FALSE, 0);
	/* The name is taken in the target zone. */
	move(vid, 6, B_FALSE, I_EEXIST);
	/* The target does not run. */
	move(vid, 7, B_FALSE, I_ENXIO);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID), sz);
	/* dlmgmtd refuses: its answer, unchanged. */
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_SETZONEID, I_EROFS);
	move(vid, 5, B_FALSE, I_EROFS);
	/* The perimeter cannot be entered. */
	dlszone_host_fail_next("perim_enter", I_EINTR);
	move(vid, 5, B_FALSE, I_EINTR);
	CHECK_SAME(before);
	/* The data path cannot move: dlmgmtd is told to move it back. */
	sz = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID);
	dlszone_host_fail_next("link_setzid", I_EBUSY);
	move(vid, 5, B_FALSE, I_EBUSY);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_SETZONEID), sz + 2);
	CHECK_SAME(before);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(vid), GZ);

	/* A transient loan goes with the zone. */
	move(vid, 5, B_TRUE, 0);
	CHECK(dt_info(vid, &li));
	CHECK_EQ(li.dli_flags, DLS_LINKF_TRANSIENT | DLS_LINKF_LENT);
	/* Returned before the halt, it is an ordinary link again. */
	move(vid, GZ, B_FALSE, 0);
	CHECK(dt_info(vid, &li));
	CHECK_EQ(li.dli_flags, 0);
	move(vid, 5, B_TRUE, 0);
	dlszone_host_zone_halt(5);
	CHECK(!dt_info(vid, NULL));
	CHECK_EQ(dlszone_host_link_zone("vnic41"), GZ);
	destroy_ok(v, DATALINK_INVALID_LINKID);

	destroy_ok(g, gid);
	destroy_ok(z, zid);
	dlszone_host_zone_destroy(5);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dt_end();
}

/*
 * EAGAIN: a link whose return dlmgmtd has not heard of yet (recovery
 * queued it) is not lent again until the notice is delivered.
 */
static void
devnet_setzid_eagain(void)
{
	dt_begin("dls_devnet_setzid: EAGAIN while a notice waits");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_zone_boot(6, 106);
	mac_handle_t g = dt_mac("vnic50");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	move(gid, 5, B_FALSE, 0);
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 0, 0, &res), 0);
	CHECK_EQ(res.drr_returned, 1);
	CHECK_EQ(dlszone_host_settle(), 1);
	dlszone_host_dlmgmtd_start();
	dlszone_host_taskq_refuse(1);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_settle(), 1);

	dt_state_t before;
	dt_state_take(&before);
	move(gid, 6, B_FALSE, I_EAGAIN);
	CHECK_SAME(before);
	uint32_t delivered = 0, pending = 9;
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &delivered, &pending), 0);
	CHECK_EQ(delivered, 1);
	CHECK_EQ(pending, 0);
	dlszone_host_taskq_refuse(0);
	move(gid, 6, B_FALSE, 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(gid), 6);
	move(gid, GZ, B_FALSE, 0);
	destroy_ok(g, gid);
	dlszone_host_zone_destroy(5);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dt_end();
}

static void
devnet_queries(void)
{
	dt_begin("queries: getzid, getownerzid, link, mac, linkid, visible");
	dlszone_host_zone_boot(5, 105);
	dlszone_host_zone_boot(6, 106);
	dls_dl_handle_t t1, t2, l1;

	mac_handle_t g = dt_mac("vnic60");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	mac_handle_t z = dt_mac("vnic61");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);

	CHECK_EQ(dls_devnet_hold_tmp(gid, &t1), 0);
	CHECK_EQ(dls_devnet_hold(zid, &l1), 0);
	CHECK_EQ(dls_devnet_hold_tmp(zid, &t2), 0);
	CHECK(t1 != t2 && t2 != l1 && t1 != l1);
	CHECK_EQ(dls_devnet_linkid(t1), gid);
	CHECK_EQ(dls_devnet_linkid(l1), zid);
	CHECK_STR(dls_devnet_link(t1), "net0");
	CHECK_STR(dls_devnet_link(l1), "z5net0");
	CHECK_STR(dls_devnet_mac(t1), "vnic60");
	CHECK_STR(dls_devnet_mac(t2), "vnic61");
	CHECK_EQ(dls_devnet_getzid(t1), GZ);
	CHECK_EQ(dls_devnet_getownerzid(t1), GZ);
	CHECK_EQ(dls_devnet_getzid(l1), 5);
	CHECK_EQ(dls_devnet_getownerzid(l1), 5);

	/* Visible to the owner and to the zone it is in, to no other. */
	CHECK(dls_devnet_islinkvisible(gid, GZ));
	CHECK(!dls_devnet_islinkvisible(gid, 5));
	CHECK(dls_devnet_islinkvisible(zid, 5));
	CHECK(!dls_devnet_islinkvisible(zid, GZ));
	CHECK(!dls_devnet_islinkvisible(zid, 6));
	CHECK(!dls_devnet_islinkvisible(gid + 1000, GZ));
	CHECK(!dls_devnet_islinkvisible(DATALINK_INVALID_LINKID, GZ));
	CHECK_EQ(dls_devnet_setzid(t1, 6), 0);
	CHECK(dls_devnet_islinkvisible(gid, GZ));
	CHECK(dls_devnet_islinkvisible(gid, 6));
	CHECK(!dls_devnet_islinkvisible(gid, 5));
	CHECK_EQ(dls_devnet_getzid(t1), 6);
	CHECK_EQ(dls_devnet_getownerzid(t1), GZ);
	/* The name in its current zone. */
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "eth0"), 0);
	CHECK_STR(dls_devnet_link(t1), "eth0");
	CHECK_EQ(dls_devnet_setzid(t1, GZ), 0);
	CHECK_STR(dls_devnet_link(t1), "net0");
	/* No temporary hold is left behind by a query. */
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_TEMPORARY, -1), 1);

	/* The MAC name lookup makes no visibility check. */
	datalink_id_t id = 0;
	CHECK_EQ(dls_devnet_macname2linkid("vnic61", &id), 0);
	CHECK_EQ(id, zid);
	CHECK_EQ(dls_devnet_macname2linkid("vnic60", &id), 0);
	CHECK_EQ(id, gid);
	id = 77;
	CHECK_EQ(dls_devnet_macname2linkid("vnic69", &id), I_ENOENT);
	CHECK_EQ(id, 77);

	dls_devnet_rele_tmp(t1);
	dls_devnet_rele_tmp(t2);
	dls_devnet_rele(l1);
	destroy_ok(g, gid);
	destroy_ok(z, zid);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	dt_end();
}

static void
devnet_devices(void)
{
	dt_begin("dls_devnet_dev2linkid, _phydev: DLPI nodes and devices");
	dlszone_host_device("e1000g", 88, 1);
	dlszone_host_device("vnic", 77, 70);
	mac_handle_t p = dt_mac("e1000g1");
	datalink_id_t pid = dlszone_host_dlmgmtd_add("e1000g1",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 1);
	CHECK_EQ(dls_devnet_create(p, pid, GZ), 0);
	mac_handle_t v = dt_mac("vnic70");
	datalink_id_t vid = dt_link(v, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	datalink_id_t id = 0;
	dev_t dev = 0;

	CHECK_EQ(dls_devnet_dev2linkid(DT_DEV(88, 2), &id), 0);
	CHECK_EQ(id, pid);
	CHECK_EQ(dls_devnet_dev2linkid(DT_DEV(77, 71), &id), 0);
	CHECK_EQ(id, vid);
	id = 77;
	/* Another instance: no such MAC; another major: no driver. */
	CHECK_EQ(dls_devnet_dev2linkid(DT_DEV(88, 3), &id), I_ENOENT);
	CHECK_EQ(dls_devnet_dev2linkid(DT_DEV(99, 2), &id), I_EINVAL);
	CHECK_EQ(id, 77);

	CHECK_EQ(dls_devnet_phydev(pid, &dev), 0);
	CHECK_EQ(dev, DT_DEV(88, 2));
	dev = 5;
	CHECK_EQ(dls_devnet_phydev(vid, &dev), I_EINVAL);
	CHECK_EQ(dls_devnet_phydev(vid + 1000, &dev), I_ENOENT);
	CHECK_EQ(dls_devnet_phydev(DATALINK_INVALID_LINKID, &dev), I_ENOENT);
	dlszone_host_dlmgmtd_kill();
	CHECK_EQ(dls_devnet_phydev(pid, &dev), I_EINVAL);
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dev, 5);
	CHECK_EQ(dt_holds(pid, DLS_HOLDER_TEMPORARY, -1), 0);

	destroy_ok(p, pid);
	destroy_ok(v, vid);
	dt_end();
}

static void
devnet_kstats_rebuild(void)
{
	dt_begin("kstats per zone and the /dev/net rebuild flag");
	dlszone_host_zone_boot(5, 105);
	dls_dl_handle_t ddh;

	(void) dls_devnet_rebuild();
	CHECK(!dls_devnet_rebuild());
	CHECK(!devnet_need_rebuild);
	mac_handle_t g = dt_mac("vnic80");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	CHECK(devnet_need_rebuild);
	CHECK(dls_devnet_rebuild());
	CHECK(!devnet_need_rebuild);
	CHECK(!dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 1);
	CHECK_EQ(dlszone_host_kstats_total(), 1);

	/* Holds, queries and refusals leave /dev/net alone. */
	CHECK_EQ(dls_devnet_hold(gid, &ddh), 0);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net1"),
	    I_EBUSY);
	dls_devnet_rele(ddh);
	CHECK(!dls_devnet_rebuild());

	/* Lent: a kstat in each zone; renamed inside, the zone's follows. */
	move(gid, 5, B_FALSE, 0);
	CHECK(dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 1);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 1);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "eth0"), 0);
	CHECK(dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats("net0", GZ), 1);
	CHECK_EQ(dlszone_host_kstats("eth0", 5), 1);
	CHECK_EQ(dlszone_host_kstats("net0", 5), 0);
	CHECK_EQ(dlszone_host_kstats_total(), 2);
	move(gid, GZ, B_FALSE, 0);
	CHECK(dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats("eth0", 5), 0);
	CHECK_EQ(dlszone_host_kstats_total(), 1);

	/* A zone's own link: one kstat, in the zone; gone with it. */
	mac_handle_t z = dt_mac("vnic81");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	CHECK(dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats("z5net0", 5), 1);
	CHECK_EQ(dlszone_host_kstats("z5net0", GZ), 0);
	dlszone_host_zone_halt(5);
	CHECK(dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats("z5net0", 5), 0);
	CHECK_EQ(dlszone_host_kstats_total(), 1);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	CHECK(!dls_devnet_rebuild());
	(void) zid;

	destroy_ok(g, gid);
	CHECK(dls_devnet_rebuild());
	CHECK_EQ(dlszone_host_kstats_total(), 0);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
devnet_recreate(void)
{
	dt_begin("dls_devnet_recreate: a pending physical link gets its id");
	mac_handle_t p = dt_mac("e1000g5");
	dt_state_t before;
	datalink_id_t id = 77;
	dls_link_info_t li;

	devnet_need_rebuild = B_FALSE;
	CHECK_EQ(dls_devnet_create(p, DATALINK_INVALID_LINKID, GZ), 0);
	CHECK(devnet_need_rebuild);
	CHECK_EQ(dls_devnet_macname2linkid("e1000g5", &id), 0);
	CHECK_EQ(id, DATALINK_INVALID_LINKID);
	CHECK(dt_info(DATALINK_INVALID_LINKID, &li));
	CHECK_EQ(li.dli_state, DLS_LINK_INITIALIZING);
	CHECK_STR(li.dli_mac, "e1000g5");
	CHECK_EQ(dlszone_host_kstats_total(), 0);
	/* Invisible to holds and to a zone's snapshot. */
	dls_dl_handle_t ddh;
	CHECK_EQ(dls_devnet_hold_tmp_by_link((dls_link_t *)"e1000g5", &ddh),
	    I_ENOENT);

	datalink_id_t vid = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	datalink_id_t pid = dlszone_host_dlmgmtd_add("e1000g5",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 5);
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_create(p, DATALINK_INVALID_LINKID, GZ), I_EEXIST);
	CHECK_EQ(dls_devnet_recreate(p, vid), I_EINVAL);
	CHECK_EQ(dls_devnet_recreate(p, DATALINK_INVALID_LINKID), I_EINVAL);
	CHECK_EQ(dls_devnet_recreate(p, pid + 1000), I_ENOENT);
	CHECK_SAME(before);

	devnet_need_rebuild = B_FALSE;
	CHECK_EQ(dls_devnet_recreate(p, pid), 0);
	CHECK(devnet_need_rebuild);
	CHECK(dt_info(pid, &li));
	CHECK_EQ(li.dli_state, DLS_LINK_ACTIVE);
	CHECK_STR(li.dli_name, "e1000g5");
	CHECK_EQ(dlszone_host_kstats("e1000g5", GZ), 1);
	CHECK_EQ(dls_devnet_recreate(p, pid), I_EEXIST);
	CHECK_EQ(dlszone_host_link_refs("e1000g5"), 1);
	destroy_ok(p, pid);

	/*
	 * Only a pending link gets its id here. A recreate of a MAC with no
	 * link (found by the C ABI fuzz target) once made a new link with no
	 * dls_link_t hold, which every later destroy put back.
	 */
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_recreate(p, pid), I_ENOENT);
	CHECK_SAME(before);
	CHECK_EQ(dls_devnet_destroy(p, &pid, B_TRUE), I_ENOENT);
	dt_end();
}

/*
 * A second dls_devnet_destroy() of a MAC whose link went with its zone
 * (found by the C ABI fuzz target) once dropped a dls_link_t reference
 * the create no longer held: another holder's, so the dls_link_t was
 * freed under a dls_devnet_hold_link() holder. It is ENOENT now.
 */
static void
devnet_destroy_twice(void)
{
	dt_begin("dls_devnet_destroy twice: the second drops nothing");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic90");
	datalink_id_t zid = dt_link(z, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dls_dl_handle_t ddh;
	dls_link_t *dlp = NULL;
	CHECK_EQ(dt_hold_link("vnic90", zid, &ddh, &dlp), 0);
	/* Create's, the zone's data path's, and the hold's. */
	CHECK_EQ(dlszone_host_link_refs("vnic90"), 3);
	dlszone_host_zone_halt(5);
	datalink_id_t out = 12345;
	CHECK_EQ(dls_devnet_destroy(z, &out, B_FALSE), 0);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("vnic90"), 1);
	CHECK_EQ(dls_devnet_destroy(z, &out, B_FALSE), I_ENOENT);
	CHECK_EQ(dlszone_host_link_refs("vnic90"), 1);
	dt_rele_link("vnic90", ddh, dlp);
	CHECK_EQ(dlszone_host_link_refs("vnic90"), -1);
	CHECK_EQ(dlszone_host_kernel_complaints(), 0);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
devnet_data_path_home_late(void)
{
	dt_begin("dls_devnet_destroy sends home a data path a halt could not");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic92");
	datalink_id_t zid = dt_link(z, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	/* Its create's reference, and the one its zone's data path keeps. */
	CHECK_EQ(dlszone_host_link_refs("vnic92"), 2);
	/* The halt condemns the link; its data path fails to go home. */
	dlszone_host_fail_next("link_setzid", I_EIO);
	dlszone_host_zone_halt(5);
	CHECK(!dt_info(zid, NULL));
	CHECK_EQ(dlszone_host_link_refs("vnic92"), 2);
	CHECK_EQ(dlszone_host_link_zone("vnic92"), 5);
	/* It fails again: the destroy fails and changes nothing. */
	datalink_id_t out = 12345;
	dlszone_host_fail_next("link_setzid", I_EIO);
	CHECK_EQ(dls_devnet_destroy(z, &out, B_TRUE), I_EIO);
	CHECK_EQ(dlszone_host_link_refs("vnic92"), 2);
	/* Then it goes home, and both references go. */
	CHECK_EQ(dls_devnet_destroy(z, &out, B_TRUE), 0);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("vnic92"), -1);
	CHECK_EQ(dls_devnet_destroy(z, &out, B_TRUE), I_ENOENT);
	dlszone_host_zone_destroy(5);
	dt_end();
}

int
main(void)
{
	static void (*const tests[])(void) = {
		devnet_create,
		devnet_recreate_after_destroy,
		devnet_destroy,
		devnet_rename,
		devnet_setzid,
		devnet_setzid_eagain,
		devnet_queries,
		devnet_devices,
		devnet_kstats_rebuild,
		devnet_recreate,
		devnet_destroy_twice,
		devnet_data_path_home_late,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
