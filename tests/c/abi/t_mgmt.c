/*
 * t_mgmt.c -- the dlmgmtd door functions of dls_mgmt.o (dls_mgmt_*),
 * through the fake dlmgmtd, which decodes the real door structures: what
 * each sends, what it returns, dlmgmtd's own errors passed through
 * unchanged (EROFS, EACCES, ... injected into its next answer), and the
 * module hooks (dls_mgmt_init, dls_mgmt_fini, dls_mgmt_door_set).
 */
#include "dls_test.h"

/* dlmgmtd answers from the calling thread's zone. */
#define	AS(zid, call)	(dlszone_host_set_zone(zid), (call))
#define	GZ		GLOBAL_ZONEID

static void
mgmt_create_destroy(void)
{
	dt_begin("dls_mgmt_create/_destroy: dlmgmtd assigns and forgets ids");
	datalink_id_t id = 0, id2 = 0, z = 0, keep;
	int creates = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_CREATE);

	/* softmac's create: class PHYS, persistent, (major, ppa). */
	CHECK_EQ(dls_mgmt_create("e1000g2", DT_DEV(88, 2), DATALINK_CLASS_PHYS,
	    4, B_TRUE, &id), 0);
	CHECK(id != DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_CREATE),
	    creates + 1);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), GZ);
	char name[MAXLINKNAMELEN];
	uint32_t class, media, flags;
	CHECK_EQ(dls_mgmt_get_linkinfo(id, name, &class, &media, &flags), 0);
	CHECK_STR(name, "e1000g2");
	CHECK_EQ(class, DATALINK_CLASS_PHYS);
	CHECK_EQ(media, 4);
	CHECK_EQ(flags, DLMGMT_ACTIVE | DLMGMT_PERSIST);
	dev_t dev;
	CHECK_EQ(dls_mgmt_get_phydev(id, &dev), 0);
	CHECK_EQ(dev, DT_DEV(88, 3));

	/* The iptun path's create: not persistent. */
	CHECK_EQ(dls_mgmt_create("ip.tun7", 0, DATALINK_CLASS_IPTUN,
	    0x80000001u, B_FALSE, &id2), 0);
	CHECK(id2 != id);
	CHECK_EQ(dls_mgmt_get_linkinfo(id2, NULL, &class, &media, &flags), 0);
	CHECK_EQ(class, DATALINK_CLASS_IPTUN);
	CHECK_EQ(media, 0x80000001u);
	CHECK_EQ(flags, DLMGMT_ACTIVE);

	/* dlmgmtd's EEXIST: the name is taken in the caller's zone only. */
	dlszone_host_zone_boot(5, 105);
	keep = 4242;
	CHECK_EQ(dls_mgmt_create("e1000g2", DT_DEV(88, 2), DATALINK_CLASS_PHYS,
	    4, B_TRUE, &keep), I_EEXIST);
	CHECK_EQ(keep, 4242);
	CHECK_EQ(AS(5, dls_mgmt_create("e1000g2", 0, DATALINK_CLASS_VNIC, 4,
	    B_FALSE, &z)), 0);
	dlszone_host_set_zone(GZ);
	CHECK(z != id && z != id2);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(z), 5);

	/* dlmgmtd's own errors come back unchanged; nothing is written. */
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_DLS_CREATE, I_EROFS);
	CHECK_EQ(dls_mgmt_create("vnic77", 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    &keep), I_EROFS);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_DLS_CREATE, I_EACCES);
	CHECK_EQ(dls_mgmt_create("vnic77", 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    &keep), I_EACCES);
	CHECK_EQ(keep, 4242);
	/* A device name of MAXNAMELEN - 1 bytes fits. */
	char *longname = dt_nonul(MAXNAMELEN);
	longname[MAXNAMELEN - 1] = '\0';
	datalink_id_t lid = 0;
	CHECK_EQ(dls_mgmt_create(longname, 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    &lid), 0);
	CHECK(lid != DATALINK_INVALID_LINKID);
	dt_nonul_free(longname, MAXNAMELEN);

	/* Destroy: dlmgmtd forgets the link; from the caller's zone only. */
	CHECK_EQ(AS(5, dls_mgmt_destroy(id, B_TRUE)), I_ENOENT);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), GZ);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_DLS_DESTROY, I_EROFS);
	CHECK_EQ(dls_mgmt_destroy(id, B_TRUE), I_EROFS);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), GZ);
	CHECK_EQ(dls_mgmt_destroy(id, B_TRUE), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_zone(id), -2);
	CHECK_EQ(dls_mgmt_destroy(id, B_TRUE), I_ENOENT);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), I_ENOENT);
	CHECK_EQ(AS(5, dls_mgmt_destroy(z, B_FALSE)), 0);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dls_mgmt_destroy(id2, B_FALSE), 0);
	CHECK_EQ(dls_mgmt_destroy(lid, B_FALSE), 0);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, DLMGMT_ACTIVE | DLMGMT_PERSIST), 0);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
mgmt_update(void)
{
	dt_begin("dls_mgmt_update: a reattaching device, EEXIST writes both");
	datalink_id_t id = dlszone_host_dlmgmtd_add("e1000g3",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 3);
	uint32_t media = 777;
	datalink_id_t lid = 888;
	int updates = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_UPDATE);

	/* Same media: the link's id; the media output is not written. */
	CHECK_EQ(dls_mgmt_update("e1000g3", 4, B_FALSE, &media, &lid), 0);
	CHECK_EQ(lid, id);
	CHECK_EQ(media, 777);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_UPDATE),
	    updates + 1);
	/* Another media: EEXIST, with the link and its media written. */
	lid = 888;
	CHECK_EQ(dls_mgmt_update("e1000g3", 9, B_TRUE, &media, &lid),
	    I_EEXIST);
	CHECK_EQ(lid, id);
	CHECK_EQ(media, 4);
	/* No such device: ENOENT, nothing written. */
	lid = 888;
	media = 777;
	CHECK_EQ(dls_mgmt_update("bge0", 4, B_FALSE, &media, &lid), I_ENOENT);
	CHECK_EQ(lid, 888);
	CHECK_EQ(media, 777);
	/* dlmgmtd's own error, unchanged, nothing written. */
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_DLS_UPDATE, I_EROFS);
	CHECK_EQ(dls_mgmt_update("e1000g3", 4, B_FALSE, &media, &lid),
	    I_EROFS);
	CHECK_EQ(lid, 888);
	CHECK_EQ(media, 777);
	/* The injected failure was used up. */
	CHECK_EQ(dls_mgmt_update("e1000g3", 4, B_FALSE, &media, &lid), 0);
	CHECK_EQ(lid, id);
	dt_end();
}

static void
mgmt_get_linkinfo(void)
{
	dt_begin("dls_mgmt_get_linkinfo: the caller zone's view, NULL outputs");
	dlszone_host_zone_boot(5, 105);
	mac_handle_t gm = dt_mac("vnic10"), zm = dt_mac("vnic11");
	datalink_id_t gid = dt_link(gm, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_TRUE);
	datalink_id_t zid = dt_link(zm, "net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	char name[MAXLINKNAMELEN];
	uint32_t class = 0, media = 0, flags = 0;

	CHECK_EQ(dls_mgmt_get_linkinfo(gid, name, &class, &media, &flags), 0);
	CHECK_STR(name, "net0");
	CHECK_EQ(class, DATALINK_CLASS_VNIC);
	CHECK_EQ(flags, DLMGMT_ACTIVE | DLMGMT_PERSIST);
	CHECK_EQ(dls_mgmt_get_linkinfo(zid, NULL, NULL, NULL, &flags), 0);
	CHECK_EQ(flags, DLMGMT_ACTIVE);
	CHECK_EQ(dls_mgmt_get_linkinfo(gid, NULL, NULL, NULL, NULL), 0);
	/* A zone sees its own links only. */
	CHECK_EQ(AS(5, dls_mgmt_get_linkinfo(zid, name, NULL, NULL, NULL)), 0);
	CHECK_EQ(AS(5, dls_mgmt_get_linkinfo(gid, name, NULL, NULL, NULL)),
	    I_ENOENT);
	dlszone_host_set_zone(GZ);
	/* A lent link is the borrower's to see. */
	mac_handle_t lm = dt_mac("vnic12");
	datalink_id_t lent = dt_link(lm, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	dls_dl_handle_t ddh;
	CHECK_EQ(AS(5, dls_mgmt_get_linkinfo(lent, NULL, NULL, NULL, NULL)),
	    I_ENOENT);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(dls_devnet_hold_tmp(lent, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	CHECK_EQ(AS(5, dls_mgmt_get_linkinfo(lent, name, NULL, NULL, NULL)),
	    0);
	dlszone_host_set_zone(GZ);
	CHECK_STR(name, "net1");
	CHECK_EQ(dls_devnet_setzid(ddh, GZ), 0);
	dls_devnet_rele_tmp(ddh);

	/* Failures write nothing: no such link, dlmgmtd's own error. */
	(void) strcpy(name, "untouched");
	class = media = flags = 99;
	CHECK_EQ(dls_mgmt_get_linkinfo(gid + 1000, name, &class, &media,
	    &flags), I_ENOENT);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_GETNAME, I_EROFS);
	CHECK_EQ(dls_mgmt_get_linkinfo(gid, name, &class, &media, &flags),
	    I_EROFS);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_GETNAME, I_EAGAIN);
	CHECK_EQ(dls_mgmt_get_linkinfo(gid, name, &class, &media, &flags),
	    I_EAGAIN);
	CHECK_STR(name, "untouched");
	CHECK_EQ(class, 99);
	CHECK_EQ(media, 99);
	CHECK_EQ(flags, 99);
	(void) dlszone_host_settle();
	int calls = dlszone_host_dlmgmtd_calls(0);
	CHECK_EQ(dls_mgmt_get_linkinfo(DATALINK_INVALID_LINKID, name, NULL,
	    NULL, NULL), I_EINVAL);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), calls);

	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(gm, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(zm, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(lm, &out, B_TRUE), 0);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
mgmt_get_linkid(void)
{
	dt_begin("dls_mgmt_get_linkid: names resolve in the caller's zone");
	dlszone_host_zone_boot(5, 105);
	datalink_id_t gid = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	datalink_id_t zid = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, 5, 0, 0);
	datalink_id_t id = 0;

	CHECK_EQ(dls_mgmt_get_linkid("net0", &id), 0);
	CHECK_EQ(id, gid);
	CHECK_EQ(AS(5, dls_mgmt_get_linkid("net0", &id)), 0);
	dlszone_host_set_zone(GZ);
	CHECK_EQ(id, zid);
	id = 1234;
	CHECK_EQ(dls_mgmt_get_linkid("net1", &id), I_ENOENT);
	CHECK_EQ(id, 1234);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_GETLINKID, I_EROFS);
	CHECK_EQ(dls_mgmt_get_linkid("net0", &id), I_EROFS);
	CHECK_EQ(id, 1234);

	/* The longest name goes to dlmgmtd; a longer one cannot exist. */
	char *n31 = dt_nonul(MAXLINKNAMELEN);
	n31[MAXLINKNAMELEN - 1] = '\0';
	int calls = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_GETLINKID);
	CHECK_EQ(dls_mgmt_get_linkid(n31, &id), I_ENOENT);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_GETLINKID), calls + 1);
	dt_nonul_free(n31, MAXLINKNAMELEN);
	char *n32 = dt_nonul(MAXLINKNAMELEN);
	CHECK_EQ(dls_mgmt_get_linkid(n32, &id), I_ENOENT);
	CHECK_EQ(dls_mgmt_get_linkid("", &id), I_ENOENT);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_GETLINKID), calls + 1);
	CHECK_EQ(id, 1234);
	dt_nonul_free(n32, MAXLINKNAMELEN);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
mgmt_get_next(void)
{
	dt_begin("dls_mgmt_get_next: the walk, its filters, 0 on any failure");
	dlszone_host_zone_boot(5, 105);
	datalink_id_t a = dlszone_host_dlmgmtd_add("e1000g0",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 0);
	datalink_id_t b = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	datalink_id_t c = dlszone_host_dlmgmtd_add("z5net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, 5, 0, 0);
	datalink_id_t d = dlszone_host_dlmgmtd_add("old0",
	    DATALINK_CLASS_VNIC, DLMGMT_PERSIST, GZ, 0, 0);
	uint32_t all = DLMGMT_ACTIVE | DLMGMT_PERSIST;
	CHECK(a < b && b < c && c < d);

	/* The global zone walks every link, in id order. */
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), a);
	CHECK_EQ(dls_mgmt_get_next(a, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), b);
	CHECK_EQ(dls_mgmt_get_next(b, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), c);
	CHECK_EQ(dls_mgmt_get_next(c, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), d);
	CHECK_EQ(dls_mgmt_get_next(d, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), DATALINK_INVALID_LINKID);
	/* A zone walks its own. */
	CHECK_EQ(AS(5, dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all)), c);
	CHECK_EQ(AS(5, dls_mgmt_get_next(c, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all)), DATALINK_INVALID_LINKID);
	dlszone_host_set_zone(GZ);
	/* Filters: class, flags, media. */
	CHECK_EQ(dls_mgmt_get_next(a, DATALINK_CLASS_PHYS,
	    DATALINK_ANY_MEDIATYPE, all), DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_VNIC,
	    DATALINK_ANY_MEDIATYPE, all), b);
	CHECK_EQ(dls_mgmt_get_next(c, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, DLMGMT_ACTIVE), DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_mgmt_get_next(a, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, DLMGMT_PERSIST), d);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL, 4, all), a);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL, 5, all),
	    DATALINK_INVALID_LINKID);

	/* Any failure ends the walk: dlmgmtd's error, bad filters, no door. */
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_GETNEXT, I_EROFS);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), DATALINK_INVALID_LINKID);
	int calls = dlszone_host_dlmgmtd_calls(0);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, 0), DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, 0x80), DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL, 2ULL << 32, all),
	    DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_mgmt_get_next(0, 0, DATALINK_ANY_MEDIATYPE, all),
	    DATALINK_INVALID_LINKID);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), calls);
	dlszone_host_dlmgmtd_kill();
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), DATALINK_INVALID_LINKID);
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, all), a);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
mgmt_get_phydev(void)
{
	dt_begin("dls_mgmt_get_phydev: every failure is EINVAL");
	datalink_id_t phys = dlszone_host_dlmgmtd_add("e1000g4",
	    DATALINK_CLASS_PHYS, DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 4);
	datalink_id_t vnic = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	dev_t dev = 0;

	CHECK_EQ(dls_mgmt_get_phydev(phys, &dev), 0);
	CHECK_EQ(dev, DT_DEV(88, 5));
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_DLS_GETATTR), 2);
	dev = 1;
	CHECK_EQ(dls_mgmt_get_phydev(vnic, &dev), I_EINVAL);
	CHECK_EQ(dls_mgmt_get_phydev(phys + 1000, &dev), I_EINVAL);
	CHECK_EQ(dls_mgmt_get_phydev(DATALINK_INVALID_LINKID, &dev), I_EINVAL);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_DLS_GETATTR, I_EROFS);
	CHECK_EQ(dls_mgmt_get_phydev(phys, &dev), I_EINVAL);
	CHECK_EQ(dls_mgmt_get_phydev(phys, NULL), I_EFAULT);
	/* A zone does not see the global zone's device. */
	dlszone_host_zone_boot(5, 105);
	CHECK_EQ(AS(5, dls_mgmt_get_phydev(phys, &dev)), I_EINVAL);
	dlszone_host_set_zone(GZ);
	dlszone_host_dlmgmtd_kill();
	CHECK_EQ(dls_mgmt_get_phydev(phys, &dev), I_EINVAL);
	CHECK_EQ(dev, 1);
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dls_mgmt_get_phydev(phys, &dev), 0);
	CHECK_EQ(dev, DT_DEV(88, 5));
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
mgmt_linkprop_init(void)
{
	dt_begin("dls_mgmt_linkprop_init: dlmgmtd pushes a link's properties");
	datalink_id_t id = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	int calls = dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT);

	CHECK_EQ(dls_mgmt_linkprop_init(id), 0);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
	    calls + 1);
	CHECK_EQ(dls_mgmt_linkprop_init(id + 1000), I_ENOENT);
	dlszone_host_dlmgmtd_fail_next(DLMGMT_CMD_LINKPROP_INIT, I_EROFS);
	CHECK_EQ(dls_mgmt_linkprop_init(id), I_EROFS);
	CHECK_EQ(dls_mgmt_linkprop_init(DATALINK_INVALID_LINKID), I_EINVAL);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
	    calls + 3);
	/* Every new link gets its property task, once. */
	mac_handle_t mh = dt_mac("vnic20");
	datalink_id_t lid = dt_link(mh, "net1", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	(void) dlszone_host_settle();
	CHECK_EQ(dlszone_host_dlmgmtd_calls(DLMGMT_CMD_LINKPROP_INIT),
	    calls + 4);
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, lid);
	dt_end();
}

static void
mgmt_door_set(void)
{
	dt_begin("dls_mgmt_door_set: register, withdraw, re-register");
	datalink_id_t id = dlszone_host_dlmgmtd_add("net0",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	int recreates = dlszone_host_softmac_recreates();

	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), 0);
	CHECK_EQ(dls_mgmt_door_set(B_FALSE), 0);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), I_EBADF);
	/* Withdrawing twice is harmless and re-creates nothing. */
	CHECK_EQ(dls_mgmt_door_set(B_FALSE), 0);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates + 1);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), 0);
	/* A registration that fails leaves no door at all. */
	dlszone_host_fail_next("door_open", I_EIO);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), I_EIO);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates + 1);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), I_EBADF);
	/* Registering again (dlmgmtd's refresh) is fine. */
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	CHECK_EQ(dlszone_host_softmac_recreates(), recreates + 3);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, NULL, NULL, NULL, NULL), 0);
	dt_end();
}

/*
 * dls_mgmt_init() and dls_mgmt_fini(): before init and after fini every
 * entry point answers ENXIO (or its "nothing" value) and touches nothing;
 * a second init or fini is a no-op; dls unloads and loads again.
 */
static void
mgmt_init_fini(void)
{
	dt_begin("dls_mgmt_init/_fini: ENXIO outside, re-init works");
	mac_handle_t mh = dt_mac("vnic30");
	datalink_id_t id = dt_link(mh, "net0", DATALINK_CLASS_VNIC, GZ,
	    B_FALSE);
	dt_state_t before;

	/* A second init is a no-op. */
	dt_state_take(&before);
	dls_mgmt_init();
	CHECK_SAME(before);
	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	CHECK_EQ(out, id);
	(void) dlszone_host_settle();

	/* Unloaded: every entry point refuses. */
	dls_mgmt_fini();
	dls_mgmt_fini();
	int calls = dlszone_host_dlmgmtd_calls(0);
	dls_dl_handle_t ddh = DT_FORGED;
	datalink_id_t lid = 77;
	dev_t dev = 77;
	uint32_t n = 0, u = 0;
	uint64_t gen = 77;
	dls_link_t *dlp = NULL;
	dls_recover_result_t res;
	dls_holder_t h;
	dls_link_info_t li;
	dls_counters_t c;
	char name[MAXLINKNAMELEN] = "untouched";
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), I_ENXIO);
	CHECK_EQ(dls_mgmt_create("vnic9", 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    &lid), I_ENXIO);
	CHECK_EQ(dls_mgmt_destroy(id, B_FALSE), I_ENXIO);
	CHECK_EQ(dls_mgmt_update("e1000g0", 4, B_FALSE, &u, &lid), I_ENXIO);
	CHECK_EQ(dls_mgmt_get_linkinfo(id, name, NULL, NULL, NULL), I_ENXIO);
	CHECK_EQ(dls_mgmt_get_linkid("net0", &lid), I_ENXIO);
	CHECK_EQ(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, DLMGMT_ACTIVE), DATALINK_INVALID_LINKID);
	CHECK_EQ(dls_mgmt_get_phydev(id, &dev), I_ENXIO);
	CHECK_EQ(dls_mgmt_linkprop_init(id), I_ENXIO);
	CHECK_EQ(dls_devnet_create(mh, id, GZ), I_ENXIO);
	CHECK_EQ(dls_devnet_recreate(mh, id), I_ENXIO);
	CHECK_EQ(dls_devnet_destroy(mh, &lid, B_TRUE), I_ENXIO);
	CHECK_EQ(dls_devnet_rename(id, 0, "net1"), I_ENXIO);
	CHECK_EQ(dls_devnet_hold(id, &ddh), I_ENXIO);
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), I_ENXIO);
	CHECK_EQ(dls_devnet_hold_tmp_by_link((dls_link_t *)"vnic30", &ddh),
	    I_ENXIO);
	CHECK_EQ(dls_devnet_hold_link(id, &ddh, &dlp), I_ENXIO);
	CHECK_EQ(dls_devnet_hold_by_dev(DT_DEV(1, 1), &ddh), I_ENXIO);
	CHECK_EQ(dls_devnet_open("net0", &ddh, &dev), I_ENXIO);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), I_ENXIO);
	CHECK_EQ(dls_devnet_setzid_transient(ddh, 5, B_TRUE), I_ENXIO);
	CHECK_EQ(dls_devnet_macname2linkid("vnic30", &lid), I_ENXIO);
	CHECK_EQ(dls_devnet_dev2linkid(DT_DEV(1, 1), &lid), I_ENXIO);
	CHECK_EQ(dls_devnet_phydev(id, &dev), I_ENXIO);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &ddh), I_ENXIO);
	CHECK_EQ(dls_zone_recover(CRED(GZ), 5, 105, 0, 0, &res), I_ENXIO);
	n = 1;
	CHECK_EQ(dls_devnet_holders(CRED(GZ), id, 0, &h, &n), I_ENXIO);
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), &li, &n, &gen), I_ENXIO);
	CHECK_EQ(dls_mgmt_outbox_replay(CRED(GZ), &n, &u), I_ENXIO);
	CHECK_EQ(dls_devnet_release(ddh), I_ENXIO);
	CHECK_EQ(dls_devnet_counters(CRED(GZ), &c), I_ENXIO);
	/* The void and value functions answer "nothing". */
	dls_devnet_rele(ddh);
	dls_devnet_rele_tmp(ddh);
	dls_devnet_rele_link(ddh, NULL);
	dls_devnet_close(ddh);
	dls_devnet_prop_task_wait(ddh);
	CHECK_EQ(dls_devnet_getzid(ddh), ALL_ZONES);
	CHECK_EQ(dls_devnet_getownerzid(ddh), ALL_ZONES);
	CHECK_EQ(dls_devnet_linkid(ddh), DATALINK_INVALID_LINKID);
	CHECK_STR(dls_devnet_link(ddh), "");
	CHECK_STR(dls_devnet_mac(ddh), "");
	CHECK(!dls_devnet_islinkvisible(id, GZ));
	devnet_need_rebuild = B_FALSE;
	CHECK(!dls_devnet_rebuild());
	/* Nothing was written, and dlmgmtd heard nothing. */
	CHECK(ddh == DT_FORGED);
	CHECK_EQ(lid, 77);
	CHECK_EQ(dev, 77);
	CHECK_EQ(gen, 77);
	CHECK_EQ(n, 1);
	CHECK(dlp == NULL);
	CHECK_STR(name, "untouched");
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), calls);
	CHECK_EQ(dlszone_host_kstats_total(), 0);

	/* dls loads again: the zones come back through netstack create. */
	dlszone_host_zone_boot(5, 105);
	dls_mgmt_init();
	/* Zones are numbered when dls loads (without gate headers). */
	uint64_t u5 = dlszone_host_zone_incarnation(5);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	mac_handle_t m2 = dt_mac("vnic31");
	datalink_id_t z = dt_link(m2, "z5net0", DATALINK_CLASS_VNIC, 5,
	    B_FALSE);
	CHECK(dt_info(z, &li));
	CHECK_EQ(li.dli_zone_uniqid, u5);
	CHECK_EQ(dls_devnet_destroy(m2, &out, B_TRUE), 0);
	CHECK_EQ(out, z);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

int
main(void)
{
	static void (*const tests[])(void) = {
		mgmt_create_destroy,
		mgmt_update,
		mgmt_get_linkinfo,
		mgmt_get_linkid,
		mgmt_get_next,
		mgmt_get_phydev,
		mgmt_linkprop_init,
		mgmt_door_set,
		mgmt_init_fini,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
