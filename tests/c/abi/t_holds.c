/*
 * t_holds.c -- holds through dls_mgmt.o's C interface: temporary holds by
 * id and by dls_link_t, with the dls_link_t, long holds by id and by
 * device (DLPI streams), /dev/net opens (by name, by <drv><ppa> through
 * softmac, and implicit IP tunnels), the property task wait, one handle
 * per hold, the handle table running out, and releases of every kind
 * (dls_devnet_release() included).
 */
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
lend(datalink_id_t id, zoneid_t zid)
{
	dls_dl_handle_t ddh;

	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, zid), 0);
	dls_devnet_rele_tmp(ddh);
}

static void
holds_tmp(void)
{
	dt_begin("dls_devnet_hold_tmp/_rele_tmp: one handle per hold");
	mac_handle_t g = dt_mac("vnic1");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	dls_dl_handle_t a, b, c;
	dt_state_t before;

	CHECK_EQ(dls_devnet_hold_tmp(id, &a), 0);
	CHECK_EQ(dls_devnet_hold_tmp(id, &b), 0);
	CHECK(a != b);
	CHECK(a != NULL && b != NULL);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 2);
	CHECK_EQ(dt_counters().dc_handles, 2);
	dls_holder_t h[4];
	uint32_t n = 4;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, h, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(h[1].dh_kind, DLS_HOLDER_TEMPORARY);
	CHECK_EQ(h[1].dh_zoneid, -1);
	CHECK_EQ(h[1].dh_uniqid, 0);
	CHECK_EQ(h[1].dh_count, 2);
	/* Not a long hold: invisible to the snapshot's count. */
	dls_link_info_t li;
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_long_holds, 1);

	dls_devnet_rele_tmp(a);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 1);
	/* The other handle still answers; the released one does not. */
	CHECK_EQ(dls_devnet_linkid(b), id);
	CHECK_EQ(dls_devnet_linkid(a), DATALINK_INVALID_LINKID);
	/* A new hold never revives a released handle. */
	CHECK_EQ(dls_devnet_hold_tmp(id, &c), 0);
	CHECK(c != a);
	dt_state_take(&before);
	dls_devnet_rele_tmp(a);
	CHECK_SAME_BAD(before, 1);
	CHECK_EQ(dls_devnet_release(c), 0);
	dls_devnet_rele_tmp(b);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 0);
	CHECK_EQ(dt_counters().dc_handles, 0);

	/* No hold on what is not there, or not ready. */
	CHECK_EQ(dls_devnet_hold_tmp(id + 1000, &a), I_ENOENT);
	mac_handle_t p = dt_mac("e1000g0");
	CHECK_EQ(dls_devnet_create(p, DATALINK_INVALID_LINKID, GZ), 0);
	CHECK_EQ(dls_devnet_hold_tmp(DATALINK_INVALID_LINKID, &a), I_ENOENT);
	destroy_ok(p, DATALINK_INVALID_LINKID);
	destroy_ok(g, id);
	CHECK_EQ(dls_devnet_hold_tmp(id, &a), I_ENOENT);
	dt_end();
}

static void
holds_long(void)
{
	dt_begin("dls_devnet_hold/_rele: provenance, ENXIO from a halted zone");
	uint64_t u5 = dlszone_host_zone_boot(5, 105);
	mac_handle_t g = dt_mac("vnic10");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	mac_handle_t l = dt_mac("vnic11");
	datalink_id_t lid = dt_link(l, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	lend(lid, 5);
	dls_dl_handle_t a, b, c, d;

	CHECK_EQ(dls_devnet_hold(gid, &a), 0);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_NAMED, GZ), 1);
	/* From inside the zone, on its link: the zone's hold. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(lid, &b), 0);
	/* On a link elsewhere: taken with the global zone's authority. */
	CHECK_EQ(dls_devnet_hold(gid, &c), 0);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dt_holds(lid, DLS_HOLDER_NAMED, 5), 1);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_NAMED, GZ), 2);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_NAMED, 5), 0);
	dls_holder_t h[8];
	uint32_t n = 8;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), lid, 0, h, &n), 0);
	CHECK_EQ(n, 3);
	for (uint32_t i = 0; i < n && i < 8; i++) {
		if (h[i].dh_zoneid == 5) {
			CHECK_EQ(h[i].dh_kind, DLS_HOLDER_NAMED);
			CHECK_EQ(h[i].dh_uniqid, u5);
		}
	}
	dls_link_info_t li;
	CHECK(dt_info(lid, &li));
	CHECK_EQ(li.dli_long_holds, 3);
	/* A long hold keeps the link: no rename, destroy, or return. */
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(g, &out, B_TRUE), I_EBUSY);
	CHECK_EQ(dls_devnet_rename(gid, DATALINK_INVALID_LINKID, "net2"),
	    I_EBUSY);
	CHECK_EQ(dls_devnet_hold_tmp(lid, &d), 0);
	CHECK_EQ(dls_devnet_setzid(d, GZ), I_EBUSY);
	dls_devnet_rele_tmp(d);
	/* A release needs nothing from the releasing thread. */
	dls_devnet_rele(b);
	CHECK_EQ(dt_holds(lid, DLS_HOLDER_NAMED, 5), 0);
	dlszone_host_set_zone(5);
	dls_devnet_rele(a);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dls_devnet_release(c), 0);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_NAMED, GZ), 0);
	CHECK_EQ(dls_devnet_hold(gid + 1000, &a), I_ENOENT);

	/* A zone stuck halting: it takes no new long hold. */
	dlszone_host_dlmgmtd_kill();
	dlszone_host_zone_halt(5);
	CHECK(dt_info(lid, &li));
	CHECK_EQ(li.dli_zone, 5);
	dt_state_t before;
	dt_state_take(&before);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold(lid, &a), I_ENXIO);
	dlszone_host_set_zone(GZ);
	CHECK_SAME(before);
	/* The global zone's are fine. */
	CHECK_EQ(dls_devnet_hold(lid, &a), 0);
	dls_devnet_rele(a);
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	dls_recover_result_t res;
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, u5, 100, 0, &res), 0);
	CHECK_EQ(dlszone_host_settle(), 0);
	destroy_ok(g, gid);
	destroy_ok(l, lid);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
holds_link(void)
{
	dt_begin("dls_devnet_hold_link/_rele_link, hold_tmp_by_link");
	mac_handle_t g = dt_mac("vnic20");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	dls_dl_handle_t ddh, t2;
	dls_link_t *dlp = NULL;
	dt_state_t before;

	CHECK_EQ(dlszone_host_link_refs("vnic20"), 1);
	CHECK_EQ(dt_hold_link("vnic20", id, &ddh, &dlp), 0);
	CHECK(dlp != NULL);
	/* dl_name, the first member of a dls_link_t, is the MAC name. */
	CHECK_STR((const char *)dlp, "vnic20");
	CHECK_EQ(dlszone_host_link_refs("vnic20"), 2);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 1);
	CHECK_EQ(dls_devnet_linkid(ddh), id);

	/* dls_link_notify()'s hold: by the dls_link_t. */
	CHECK_EQ(dls_devnet_hold_tmp_by_link(dlp, &t2), 0);
	CHECK(t2 != ddh);
	CHECK_EQ(dls_devnet_linkid(t2), id);
	CHECK_STR(dls_devnet_link(t2), "net0");
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 2);
	dls_devnet_rele_tmp(t2);

	dt_rele_link("vnic20", ddh, dlp);
	CHECK_EQ(dlszone_host_link_refs("vnic20"), 1);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 0);
	/* Twice: refused and counted; the dls_link_t is not touched. */
	dt_state_take(&before);
	dt_rele_link("vnic20", ddh, dlp);
	CHECK_SAME_BAD(before, 1);
	CHECK_EQ(dlszone_host_link_refs("vnic20"), 1);

	/* The dls_link_t cannot be held: no hold is left behind. */
	dls_dl_handle_t keep = DT_FORGED;
	dls_link_t *kdlp = NULL;
	dt_state_take(&before);
	dlszone_host_fail_next("link_hold", I_ENOENT);
	CHECK_EQ(dt_hold_link("vnic20", id, &keep, &kdlp), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_link(id + 1000, &keep, &kdlp), I_ENOENT);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);
	CHECK(kdlp == NULL);

	/* dls_devnet_release() of a hold_link handle: the hold only. */
	CHECK_EQ(dt_hold_link("vnic20", id, &ddh, &dlp), 0);
	CHECK_EQ(dls_devnet_release(ddh), 0);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), 0);
	CHECK_EQ(dlszone_host_link_refs("vnic20"), 2);
	dls_link_t *kept = dlp;

	/* A dls_link_t whose link went: its temporary hold is ENOENT. */
	dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic21");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	CHECK_EQ(dt_hold_link("vnic21", zid, &ddh, &dlp), 0);
	dt_rele_link("vnic21", ddh, dlp);
	dlszone_host_zone_halt(5);
	CHECK_EQ(dls_devnet_hold_tmp_by_link(dlp, &t2), I_ENOENT);
	destroy_ok(z, DATALINK_INVALID_LINKID);
	dlszone_host_zone_destroy(5);

	/* The dls_link_t reference the release left is the caller's. */
	destroy_ok(g, id);
	CHECK_EQ(dlszone_host_link_refs("vnic20"), 1);
	dlszone_host_link_rele(kept);
	CHECK_EQ(dlszone_host_link_refs("vnic20"), -1);
	dt_end();
}

static void
holds_by_dev(void)
{
	dt_begin("dls_devnet_hold_by_dev: a DLPI stream's hold");
	dlszone_host_zone_boot(5, 105);
	dlszone_host_device("vnic", 77, 30);
	dlszone_host_device("vnic", 77, 31);
	mac_handle_t g = dt_mac("vnic30");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	mac_handle_t z = dt_mac("vnic31");
	datalink_id_t zid = dt_link(z, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dls_dl_handle_t a, b, c;

	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 31), &a), 0);
	CHECK_EQ(dls_devnet_linkid(a), gid);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_STREAM, GZ), 1);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 32), &b), 0);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 31), &c), 0);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dls_devnet_linkid(b), zid);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_STREAM, 5), 1);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_STREAM, GZ), 2);
	CHECK_STR(dls_devnet_mac(b), "vnic31");

	dls_dl_handle_t keep = DT_FORGED;
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 33), &keep), I_ENOENT);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(78, 31), &keep), I_EINVAL);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(77, 0), &keep), I_ENOENT);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);

	dls_devnet_rele(a);
	dls_devnet_rele(b);
	CHECK_EQ(dls_devnet_release(c), 0);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_STREAM, GZ), 0);
	destroy_ok(g, gid);
	destroy_ok(z, zid);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
holds_open_close(void)
{
	dt_begin("dls_devnet_open/_close: /dev/net in each zone");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t g = dt_mac("vnic40");
	datalink_id_t gid = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	mac_handle_t z = dt_mac("vnic41");
	datalink_id_t zid = dt_link(z, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	mac_handle_t l = dt_mac("vnic42");
	datalink_id_t lid = dt_link(l, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	lend(lid, 5);
	dls_dl_handle_t a, b, c, keep = DT_FORGED;
	dev_t dev = 0, dev2 = 0, kdev = 77;
	dt_state_t before;

	CHECK_EQ(dls_devnet_open("net0", &a, &dev), 0);
	CHECK_EQ(dls_devnet_linkid(a), gid);
	CHECK(dev != 0);
	CHECK_EQ(dlszone_host_link_refs("vnic40"), 2);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_DEVNET, GZ), 1);
	/* The same name in the zone is the zone's link. */
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_open("net0", &b, &dev2), 0);
	CHECK_EQ(dls_devnet_linkid(b), zid);
	CHECK(dev2 != dev);
	CHECK_EQ(dls_devnet_open("net1", &c, &dev2), 0);
	CHECK_EQ(dls_devnet_linkid(c), lid);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_DEVNET, 5), 1);
	CHECK_EQ(dt_holds(lid, DLS_HOLDER_DEVNET, 5), 1);

	/*
	 * The global zone opens a lent link under its reserved global-zone
	 * name, as gate's dlmgmtd finds it in its loan tree.
	 */
	dls_dl_handle_t gz;
	dev_t gdev = 0;
	CHECK_EQ(dls_devnet_open("net1", &gz, &gdev), 0);
	CHECK_EQ(dls_devnet_linkid(gz), lid);
	CHECK(gdev != 0);
	CHECK_EQ(dt_holds(lid, DLS_HOLDER_DEVNET, GZ), 1);
	dls_devnet_close(gz);
	CHECK_EQ(dt_holds(lid, DLS_HOLDER_DEVNET, GZ), 0);

	/* A zone opens only its own links. */
	dt_state_take(&before);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_open("net2", &keep, &kdev), I_ENOENT);
	dlszone_host_set_zone(GZ);
	/* The dls_link_t cannot be made. */
	dlszone_host_fail_next("link_hold_create", I_ENOMEM);
	CHECK_EQ(dls_devnet_open("net0", &keep, &kdev), I_ENOMEM);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);
	CHECK_EQ(kdev, 77);

	dls_devnet_close(a);
	CHECK_EQ(dlszone_host_link_refs("vnic40"), 1);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_DEVNET, GZ), 0);
	/* dls_devnet_release() of an open's handle closes it. */
	CHECK_EQ(dls_devnet_release(b), 0);
	/* The create's reference and the zone's data path's (gate's
	 * dls_link_setzid() keeps one while it is in a non-global zone). */
	CHECK_EQ(dlszone_host_link_refs("vnic41"), 2);
	/* A close from another zone's thread. */
	dls_devnet_close(c);
	CHECK_EQ(dlszone_host_link_refs("vnic42"), 2);
	CHECK_EQ(dt_holds(lid, DLS_HOLDER_DEVNET, 5), 0);
	/* Closed twice: counted, nothing changed. */
	dt_state_take(&before);
	dls_devnet_close(a);
	CHECK_SAME_BAD(before, 1);

	/* A close of a long hold that no open took: released all the same. */
	CHECK_EQ(dls_devnet_hold(gid, &a), 0);
	dls_devnet_close(a);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_NAMED, GZ), 0);
	CHECK_EQ(dlszone_host_link_refs("vnic40"), 1);

	/*
	 * An open's handle released with dls_devnet_rele() is closed: its
	 * dls_link_t reference goes too (found by the C ABI fuzz target: it
	 * was left behind, and the MAC's dls_link_t with it).
	 */
	CHECK_EQ(dls_devnet_open("net0", &a, &dev), 0);
	CHECK_EQ(dlszone_host_link_refs("vnic40"), 2);
	dls_devnet_rele(a);
	CHECK_EQ(dlszone_host_link_refs("vnic40"), 1);
	CHECK_EQ(dt_holds(gid, DLS_HOLDER_DEVNET, GZ), 0);
	CHECK_EQ(dt_counters().dc_handles, 0);

	/* The open waits for the link's property task. */
	mac_handle_t p = dt_mac("vnic43");
	int props = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT);
	datalink_id_t pid = dt_link(p, "net3", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	CHECK_EQ(dls_devnet_open("net3", &a, &dev), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
	    props + 1);
	dls_devnet_close(a);

	destroy_ok(g, gid);
	destroy_ok(z, zid);
	lend(lid, GZ);
	destroy_ok(l, lid);
	destroy_ok(p, pid);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

/* A /dev/net node of a zone's link, open while the zone halts. */
static void
holds_open_across_halt(void)
{
	dt_begin("dls_devnet_close after the zone's link went with the zone");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t z = dt_mac("vnic45");
	datalink_id_t zid = dt_link(z, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	dls_dl_handle_t a;
	dev_t dev;

	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_open("net0", &a, &dev), 0);
	dlszone_host_set_zone(GZ);
	/* The create's, the zone's data path's and the open's. */
	CHECK_EQ(dlszone_host_link_refs("vnic45"), 3);
	dlszone_host_zone_halt(5);
	CHECK(!dt_info(zid, NULL));
	CHECK_EQ(dt_counters().dc_pending_frees, 1);
	CHECK_EQ(dt_holds(zid, DLS_HOLDER_DEVNET, 5), 1);
	/* The driver deletes the VNIC: the open keeps its dls_link_t. */
	destroy_ok(z, DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_link_refs("vnic45"), 1);
	/* sdev's inactive callback closes it, from the global zone. */
	dls_devnet_close(a);
	CHECK_EQ(dlszone_host_link_refs("vnic45"), -1);
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_pending_frees, 0);
	CHECK_EQ(c.dc_bad_releases, 0);
	CHECK_EQ(c.dc_late_releases, 0);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
holds_open_softmac(void)
{
	dt_begin("dls_devnet_open of <drv><ppa>: softmac attaches the device");
	dlszone_host_device("e1000g", 88, 3);
	datalink_id_t pid = dlszone_host_dlmgmtd_add("e1000g3",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 3);
	dls_dl_handle_t a, keep = DT_FORGED;
	dev_t dev = 0;

	/* Not attached yet: no link of that name, until softmac is asked. */
	datalink_id_t id = 77;
	CHECK_EQ(dls_devnet_macname2linkid("e1000g3", &id), I_ENOENT);
	CHECK_EQ(dls_devnet_open("e1000g3", &a, &dev), 0);
	CHECK_EQ(dls_devnet_linkid(a), pid);
	CHECK_STR(dls_devnet_mac(a), "e1000g3");
	CHECK(dt_info(pid, NULL));
	dls_devnet_close(a);
	CHECK(dt_info(pid, NULL));

	/* No such driver, no such device, or not a <drv><ppa> name. */
	dt_state_t before;
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_open("bge0", &keep, &dev), I_ENOENT);
	CHECK_EQ(dls_devnet_open("e1000g4", &keep, &dev), I_ENOENT);
	CHECK_EQ(dls_devnet_open("e1000g", &keep, &dev), I_ENOENT);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);

	mac_handle_t p = dt_mac("e1000g3");
	destroy_ok(p, pid);
	dt_end();
}

static void
holds_open_tunnel(void)
{
	dt_begin("dls_devnet_open of ip.tun0: an implicit tunnel for its life");
	dls_dl_handle_t a, b, c, keep = DT_FORGED;
	dev_t dev = 0;

	int creates = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_CREATE);
	CHECK_EQ(dls_devnet_open("ip.tun0", &a, &dev), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_CREATE),
	    creates + 1);
	datalink_id_t id = dls_devnet_linkid(a);
	CHECK(id != DATALINK_INVALID_LINKID);
	CHECK(dlszone_host_tunnel(id));
	CHECK_STR(dls_devnet_link(a), "ip.tun0");
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), GZ);
	uint32_t class = 0, media = 0;
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, &class, &media, NULL), 0);
	CHECK_EQ(class, DATALINK_CLASS_IPTUN);
	/* A second open and a long hold share it. */
	CHECK_EQ(dls_devnet_open("ip.tun0", &b, &dev), 0);
	CHECK_EQ(dls_devnet_linkid(b), id);
	CHECK_EQ(dls_devnet_hold(id, &c), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_CREATE),
	    creates + 1);
	dls_devnet_close(a);
	CHECK(dlszone_host_tunnel(id));
	CHECK_EQ(dls_devnet_release(b), 0);
	CHECK(dlszone_host_tunnel(id));
	/* The last release deletes it: the link and dlmgmtd's record. */
	dls_devnet_rele(c);
	CHECK(!dlszone_host_tunnel(id));
	CHECK(!dt_info(id, NULL));
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);
	CHECK_EQ(dls_devnet_hold_tmp(id, &a), I_ENOENT);

	/* In a zone: the zone's tunnel. */
	dlszone_host_zone_boot(5, 105);
	dlszone_host_set_zone(5);
	CHECK_EQ(dls_devnet_open("ip6.tun3", &a, &dev), 0);
	dlszone_host_set_zone(GZ);
	id = dls_devnet_linkid(a);
	dls_link_info_t li;
	CHECK(dt_info(id, &li));
	CHECK_EQ(li.dli_owner, 5);
	CHECK_EQ(li.dli_flags, DLS_LINKF_TRANSIENT);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), 5);
	dls_devnet_close(a);
	CHECK(!dlszone_host_tunnel(id));
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);

	/* iptun fails: dlmgmtd's record is taken back, nothing is left. */
	dt_state_t before;
	dt_state_take(&before);
	dlszone_host_fail_next("iptun_create", I_ENOMEM);
	CHECK_EQ(dls_devnet_open("ip.tun1", &keep, &dev), I_ENOMEM);
	CHECK_SAME(before);
	CHECK(keep == DT_FORGED);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
holds_prop_task_wait(void)
{
	dt_begin("dls_devnet_prop_task_wait: returns once the task ran");
	for (int i = 0; i < 20; i++) {
		char mac[16], name[16];
		dls_dl_handle_t ddh;

		(void) snprintf(mac, sizeof (mac), "vnic%d", 50 + i);
		(void) snprintf(name, sizeof (name), "net%d", i);
		int props = dlszone_host_dlmgmtd_calls(
		    DLMGMT_CMD_LINKPROP_INIT);
		mac_handle_t mh = dt_mac(mac);
		datalink_id_t id = dt_link(mh, name, DATALINK_CLASS_VNIC, GZ,
		    B_FALSE);
		CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), 0);
		dls_devnet_prop_task_wait(ddh);
		CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
		    props + 1);
		/* Once done, it does not wait again. */
		dls_devnet_prop_task_wait(ddh);
		dls_devnet_rele_tmp(ddh);
		destroy_ok(mh, id);
	}
	dt_end();
}

static void
holds_wrong_kind(void)
{
	dt_begin("releases of the wrong kind are refused and counted");
	mac_handle_t g = dt_mac("vnic60");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	dls_dl_handle_t t, l, o;
	dev_t dev;
	dt_state_t before;

	CHECK_EQ(dls_devnet_hold_tmp(id, &t), 0);
	CHECK_EQ(dls_devnet_hold(id, &l), 0);
	CHECK_EQ(dls_devnet_open("net0", &o, &dev), 0);
	dt_state_take(&before);
	dls_devnet_rele(t);
	dls_devnet_rele_tmp(l);
	dls_devnet_rele_tmp(o);
	dls_devnet_close(t);
	dls_devnet_rele_link(l, NULL);
	CHECK_SAME_BAD(before, 5);
	/* Each still releases with its own function. */
	dls_devnet_rele_tmp(t);
	dls_devnet_rele(l);
	dls_devnet_close(o);
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_handles, 0);
	CHECK_EQ(c.dc_bad_releases, 5);
	destroy_ok(g, id);
	dt_end();
}

/*
 * The handle table grows on the task queue ahead of demand; with the task
 * queue refusing, a burst of holds beyond it is refused with ENOMEM,
 * counted, and leaves nothing behind, except by an open, which may sleep
 * and grows the table itself.
 */
static void
holds_enomem(void)
{
	dt_begin("no free handle: ENOMEM, counted, nothing held; an open grows");
	mac_handle_t g = dt_mac("vnic70");
	datalink_id_t id = dt_link(g, "net0", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	static dls_dl_handle_t h[1024];
	int n = 0, rc = 0;

	dlszone_host_taskq_refuse(1);
	while (n < 1024 && (rc = dls_devnet_hold_tmp(id, &h[n])) == 0)
		n++;
	CHECK_EQ(rc, I_ENOMEM);
	CHECK(n >= 64 && n < 1024);
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_nomem, 1);
	CHECK_EQ(c.dc_handles, n);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_TEMPORARY, -1), n);
	dls_dl_handle_t k = DT_FORGED;
	dev_t dev;
	CHECK_EQ(dls_devnet_hold(id, &k), I_ENOMEM);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net0",
	    DLS_HOLD_LONG, &k), I_ENOMEM);
	CHECK(k == DT_FORGED);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_NAMED, GZ), 0);
	CHECK_EQ(dlszone_host_link_refs("vnic70"), 1);
	CHECK_EQ(dt_counters().dc_nomem, 3);
	/* An open may sleep: it grows the table itself, and succeeds. */
	CHECK_EQ(dls_devnet_open("net0", &k, &dev), 0);
	CHECK(k != DT_FORGED);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_DEVNET, GZ), 1);
	CHECK_EQ(dlszone_host_link_refs("vnic70"), 2);
	CHECK_EQ(dt_counters().dc_nomem, 3);
	dls_devnet_close(k);
	CHECK_EQ(dt_holds(id, DLS_HOLDER_DEVNET, GZ), 0);
	CHECK_EQ(dlszone_host_link_refs("vnic70"), 1);
	/* The task queue is back: the table grows, holds work again. */
	dlszone_host_taskq_refuse(0);
	dls_devnet_rele_tmp(h[--n]);
	(void) dlszone_host_settle();
	for (int i = 0; i < 200; i++) {
		CHECK_EQ(dls_devnet_hold_tmp(id, &h[n]), 0);
		n++;
		(void) dlszone_host_settle();
	}
	/* Every handle is its own. */
	for (int i = 1; i < n; i++)
		CHECK(h[i] != h[i - 1]);
	while (n > 0)
		dls_devnet_rele_tmp(h[--n]);
	CHECK_EQ(dt_counters().dc_handles, 0);
	destroy_ok(g, id);
	dt_end();
}

int
main(void)
{
	static void (*const tests[])(void) = {
		holds_tmp,
		holds_long,
		holds_link,
		holds_by_dev,
		holds_open_close,
		holds_open_across_halt,
		holds_open_softmac,
		holds_open_tunnel,
		holds_prop_task_wait,
		holds_wrong_kind,
		holds_enomem,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
