/*
 * t_badinput.c -- bad input to every function dls_mgmt.o exports: NULL
 * pointers, names without a NUL within their limit (a buffer of exactly
 * the limit, so that AddressSanitizer catches a read past it), names too
 * long or malformed, unknown or stale zones and credentials, handles
 * never issued, released already, or of the wrong kind. Each call gets
 * its documented errno, writes no output, and changes nothing anyone can
 * observe (dt_state_t: the snapshot and its generation, the holders, the
 * counters, the kstats, the perimeters, dlmgmtd's records); the
 * release functions only count the release (dc_bad_releases).
 */
#include "dls_test.h"

#define	GZ	GLOBAL_ZONEID

static dt_state_t st;
static int calls;

/* A refused call: its errno, nothing changed, no upcall. */
#define	REFUSED(call, err) do {						\
	dt_state_take(&st);						\
	calls = dlszone_host_dlmgmtd_calls(0);				\
	CHECK_EQ((call), (err));					\
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), calls);			\
	CHECK_SAME(st);							\
} while (0)

/* A refusal that is dlmgmtd's answer: an upcall, nothing changed. */
#define	ANSWERED(call, err) do {					\
	dt_state_take(&st);						\
	CHECK_EQ((call), (err));					\
	CHECK_SAME(st);							\
} while (0)

/* A void release that matches no hold: counted once, nothing else. */
#define	IGNORED(stmt) do {						\
	dt_state_take(&st);						\
	stmt;								\
	CHECK_SAME_BAD(st, 1);						\
} while (0)

/* A call that must change nothing at all. */
#define	NOTHING(stmt) do {						\
	dt_state_take(&st);						\
	calls = dlszone_host_dlmgmtd_calls(0);				\
	stmt;								\
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), calls);			\
	CHECK_SAME(st);							\
} while (0)

/* Handles that hold nothing. */
#define	FORGED2	((dls_dl_handle_t)(uintptr_t)((1ULL << 40) | 5))
#define	FORGED3	((dls_dl_handle_t)(uintptr_t)~0ULL)
/* A credential the kernel does not know. */
#define	BADCRED	((const cred_t *)(uintptr_t)0x1234)
#define	MISCRED	((const cred_t *)((uintptr_t)CRED(GZ) + 1))

/* The world every test starts from. */
static mac_handle_t gm, zm, lm, pm;
static datalink_id_t gid, zid, lid, pid;
static dls_dl_handle_t h_tmp, h_long, h_open, h_link, h_dead;
static dls_link_t *dlp;
static uint64_t u5;

static void
fixture(const char *name)
{
	dt_begin(name);
	u5 = dlszone_host_zone_boot(5, 105);
	dlszone_host_device("e1000g", 88, 0);
	gm = dt_mac("vnic1");
	gid = dt_link(gm, "net0", DATALINK_CLASS_VNIC, GZ, B_TRUE);
	zm = dt_mac("vnic2");
	zid = dt_link(zm, "z5net0", DATALINK_CLASS_VNIC, 5, B_FALSE);
	lm = dt_mac("vnic3");
	lid = dt_link(lm, "net1", DATALINK_CLASS_VNIC, GZ, B_FALSE);
	pm = dt_mac("e1000g0");
	pid = dlszone_host_dlmgmtd_add("e1000g0", DATALINK_CLASS_PHYS,
	    DLMGMT_ACTIVE | DLMGMT_PERSIST, GZ, 88, 0);
	CHECK_EQ(dls_devnet_create(pm, pid, GZ), 0);
	dls_dl_handle_t ddh;
	CHECK_EQ(dls_devnet_hold_tmp(lid, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, 5), 0);
	dls_devnet_rele_tmp(ddh);
	dev_t dev;
	CHECK_EQ(dls_devnet_hold_tmp(gid, &h_tmp), 0);
	CHECK_EQ(dls_devnet_hold(zid, &h_long), 0);
	CHECK_EQ(dls_devnet_open("net0", &h_open, &dev), 0);
	CHECK_EQ(dt_hold_link("e1000g0", pid, &h_link, &dlp), 0);
	CHECK_EQ(dls_devnet_hold_tmp(gid, &h_dead), 0);
	dls_devnet_rele_tmp(h_dead);
	(void) dlszone_host_settle();
	(void) dls_devnet_rebuild();
}

static void
unfixture(void)
{
	datalink_id_t out;

	dls_devnet_rele_tmp(h_tmp);
	dls_devnet_rele(h_long);
	dls_devnet_close(h_open);
	dt_rele_link("e1000g0", h_link, dlp);
	dls_dl_handle_t ddh;
	CHECK_EQ(dls_devnet_hold_tmp(lid, &ddh), 0);
	CHECK_EQ(dls_devnet_setzid(ddh, GZ), 0);
	dls_devnet_rele_tmp(ddh);
	CHECK_EQ(dls_devnet_destroy(gm, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(zm, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(lm, &out, B_TRUE), 0);
	CHECK_EQ(dls_devnet_destroy(pm, &out, B_TRUE), 0);
	dlszone_host_zone_halt(5);
	dlszone_host_zone_destroy(5);
	dt_end();
}

static void
bad_mgmt(void)
{
	fixture("bad input: dls_mgmt_* (the door functions)");
	char *dev256 = dt_nonul(MAXNAMELEN);
	char *link32 = dt_nonul(MAXLINKNAMELEN);
	datalink_id_t id = 77;
	uint32_t media = 77, class = 77, flags = 77;
	dev_t dev = 77;
	char name[MAXLINKNAMELEN] = "untouched";

	/* dls_mgmt_create */
	REFUSED(dls_mgmt_create(NULL, 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    &id), I_EFAULT);
	REFUSED(dls_mgmt_create("vnic9", 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    NULL), I_EFAULT);
	REFUSED(dls_mgmt_create(dev256, 0, DATALINK_CLASS_VNIC, 4, B_FALSE,
	    &id), I_EINVAL);
	REFUSED(dls_mgmt_create("", 0, DATALINK_CLASS_VNIC, 4, B_FALSE, &id),
	    I_EINVAL);
	REFUSED(dls_mgmt_create("vnic9", 0, 0, 4, B_FALSE, &id), I_EINVAL);
	REFUSED(dls_mgmt_create("vnic9", 0, 0x12345, 4, B_FALSE, &id),
	    I_EINVAL);
	ANSWERED(dls_mgmt_create("e1000g0", DT_DEV(88, 0), DATALINK_CLASS_PHYS,
	    4, B_TRUE, &id), I_EEXIST);
	CHECK_EQ(id, 77);

	/* dls_mgmt_destroy */
	REFUSED(dls_mgmt_destroy(DATALINK_INVALID_LINKID, B_FALSE), I_EINVAL);
	ANSWERED(dls_mgmt_destroy(gid + 1000, B_FALSE), I_ENOENT);

	/* dls_mgmt_update */
	REFUSED(dls_mgmt_update(NULL, 4, B_FALSE, &media, &id), I_EFAULT);
	REFUSED(dls_mgmt_update("e1000g0", 4, B_FALSE, NULL, &id), I_EFAULT);
	REFUSED(dls_mgmt_update("e1000g0", 4, B_FALSE, &media, NULL),
	    I_EFAULT);
	REFUSED(dls_mgmt_update(dev256, 4, B_FALSE, &media, &id), I_EINVAL);
	REFUSED(dls_mgmt_update("", 4, B_FALSE, &media, &id), I_EINVAL);
	ANSWERED(dls_mgmt_update("bge7", 4, B_FALSE, &media, &id), I_ENOENT);
	CHECK_EQ(id, 77);
	CHECK_EQ(media, 77);

	/* dls_mgmt_get_linkinfo */
	REFUSED(dls_mgmt_get_linkinfo(DATALINK_INVALID_LINKID, name, &class,
	    &media, &flags), I_EINVAL);
	ANSWERED(dls_mgmt_get_linkinfo(gid + 1000, name, &class, &media,
	    &flags), I_ENOENT);
	/* A zone's view: another zone's link does not exist. */
	dlszone_host_set_zone(5);
	ANSWERED(dls_mgmt_get_linkinfo(gid, name, &class, &media, &flags),
	    I_ENOENT);
	dlszone_host_set_zone(GZ);
	CHECK_STR(name, "untouched");
	CHECK_EQ(class, 77);
	CHECK_EQ(flags, 77);

	/* dls_mgmt_get_linkid */
	REFUSED(dls_mgmt_get_linkid(NULL, &id), I_EFAULT);
	REFUSED(dls_mgmt_get_linkid("net0", NULL), I_EFAULT);
	REFUSED(dls_mgmt_get_linkid(link32, &id), I_ENOENT);
	REFUSED(dls_mgmt_get_linkid("", &id), I_ENOENT);
	ANSWERED(dls_mgmt_get_linkid("net9", &id), I_ENOENT);
	CHECK_EQ(id, 77);

	/* dls_mgmt_get_next: bad filters end the walk at once. */
	REFUSED(dls_mgmt_get_next(0, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, 0), DATALINK_INVALID_LINKID);
	REFUSED(dls_mgmt_get_next(0, 0, DATALINK_ANY_MEDIATYPE,
	    DLMGMT_ACTIVE), DATALINK_INVALID_LINKID);
	REFUSED(dls_mgmt_get_next(0, DATALINK_CLASS_ALL, 7ULL << 32,
	    DLMGMT_ACTIVE), DATALINK_INVALID_LINKID);
	ANSWERED(dls_mgmt_get_next(0xfffffff0u, DATALINK_CLASS_ALL,
	    DATALINK_ANY_MEDIATYPE, DLMGMT_ACTIVE), DATALINK_INVALID_LINKID);

	/* dls_mgmt_get_phydev: every failure is EINVAL, but NULL. */
	REFUSED(dls_mgmt_get_phydev(pid, NULL), I_EFAULT);
	REFUSED(dls_mgmt_get_phydev(DATALINK_INVALID_LINKID, &dev), I_EINVAL);
	ANSWERED(dls_mgmt_get_phydev(gid, &dev), I_EINVAL);
	ANSWERED(dls_mgmt_get_phydev(pid + 1000, &dev), I_EINVAL);
	CHECK_EQ(dev, 77);

	/* dls_mgmt_linkprop_init */
	REFUSED(dls_mgmt_linkprop_init(DATALINK_INVALID_LINKID), I_EINVAL);
	ANSWERED(dls_mgmt_linkprop_init(pid + 1000), I_ENOENT);

	/* dls_mgmt_init again: nothing. dls_mgmt_door_set(B_FALSE) twice. */
	NOTHING(dls_mgmt_init());
	CHECK_EQ(dls_mgmt_door_set(B_FALSE), 0);
	NOTHING(CHECK_EQ(dls_mgmt_door_set(B_FALSE), 0));
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	(void) dlszone_host_settle();
	dt_nonul_free(dev256, MAXNAMELEN);
	dt_nonul_free(link32, MAXLINKNAMELEN);
	unfixture();
}

static void
bad_lifecycle(void)
{
	fixture("bad input: create, recreate, destroy, rename");
	char *link32 = dt_nonul(MAXLINKNAMELEN);
	mac_handle_t forged = (mac_handle_t)(uintptr_t)0x4242;
	(void) forged;
	mac_handle_t fresh = dt_mac("vnic9");
	datalink_id_t nid = dlszone_host_dlmgmtd_add("net9",
	    DATALINK_CLASS_VNIC, DLMGMT_ACTIVE, GZ, 0, 0);
	datalink_id_t out = 77;

	/* dls_devnet_create */
	REFUSED(dls_devnet_create(NULL, nid, GZ), I_EINVAL);
	HOST_ONLY(REFUSED(dls_devnet_create(forged, nid, GZ), I_EINVAL));
	REFUSED(dls_devnet_create(fresh, nid, -1), I_EINVAL);
	REFUSED(dls_devnet_create(fresh, nid, 10000), I_EINVAL);
	REFUSED(dls_devnet_create(fresh, nid, 0x7fffffff), I_EINVAL);
	ANSWERED(dls_devnet_create(fresh, nid + 1000, GZ), I_ENOENT);
	ANSWERED(dls_devnet_create(fresh, nid, 7), I_ENXIO);
	ANSWERED(dls_devnet_create(fresh, gid, GZ), I_EEXIST);
	CHECK_EQ(dlszone_host_link_refs("vnic9"), -1);

	/* dls_devnet_recreate */
	REFUSED(dls_devnet_recreate(NULL, pid), I_EINVAL);
	HOST_ONLY(REFUSED(dls_devnet_recreate(forged, pid), I_EINVAL));
	REFUSED(dls_devnet_recreate(pm, DATALINK_INVALID_LINKID), I_EINVAL);
	ANSWERED(dls_devnet_recreate(pm, pid), I_EEXIST);

	/* dls_devnet_destroy: *idp is the id the link had, or invalid. */
	REFUSED(dls_devnet_destroy(gm, NULL, B_TRUE), I_EFAULT);
	REFUSED(dls_devnet_destroy(NULL, &out, B_TRUE), I_EINVAL);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	out = 77;
	HOST_ONLY(REFUSED(dls_devnet_destroy(forged, &out, B_TRUE),
	    I_EINVAL));
	HOST_ONLY(CHECK_EQ(out, DATALINK_INVALID_LINKID));
	out = 77;
	REFUSED(dls_devnet_destroy(fresh, &out, B_TRUE), I_ENOENT);
	CHECK_EQ(out, DATALINK_INVALID_LINKID);
	REFUSED(dls_devnet_destroy(zm, &out, B_TRUE), I_EBUSY);
	REFUSED(dls_devnet_destroy(lm, &out, B_FALSE), I_EBUSY);
	REFUSED(dls_devnet_destroy(gm, &out, B_FALSE), I_EBUSY);

	/* dls_devnet_rename */
	REFUSED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, NULL),
	    I_EFAULT);
	REFUSED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, link32),
	    I_ENAMETOOLONG);
	REFUSED(dls_devnet_rename(DATALINK_INVALID_LINKID,
	    DATALINK_INVALID_LINKID, "net5"), I_EINVAL);
	ANSWERED(dls_devnet_rename(gid + 1000, DATALINK_INVALID_LINKID,
	    "net5"), I_ENOENT);
	ANSWERED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, ""),
	    I_EINVAL);
	ANSWERED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, "0net"),
	    I_EINVAL);
	ANSWERED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, "net"),
	    I_EINVAL);
	ANSWERED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, "n/et0"),
	    I_EINVAL);
	ANSWERED(dls_devnet_rename(lid, DATALINK_INVALID_LINKID, "z5net0"),
	    I_EEXIST);
	ANSWERED(dls_devnet_rename(zid, DATALINK_INVALID_LINKID, "z5net1"),
	    I_EBUSY);
	dt_nonul_free(link32, MAXLINKNAMELEN);
	unfixture();
}

static void
bad_holds(void)
{
	fixture("bad input: holds and their releases");
	char *mac256 = dt_nonul(MAXNAMELEN);
	char *link32 = dt_nonul(MAXLINKNAMELEN);
	dls_dl_handle_t keep = DT_FORGED;
	dls_link_t *kdlp = NULL;
	dev_t dev = 77;

	/* dls_devnet_hold, dls_devnet_hold_tmp */
	REFUSED(dls_devnet_hold(gid, NULL), I_EFAULT);
	REFUSED(dls_devnet_hold(DATALINK_INVALID_LINKID, &keep), I_ENOENT);
	REFUSED(dls_devnet_hold(gid + 1000, &keep), I_ENOENT);
	REFUSED(dls_devnet_hold_tmp(gid, NULL), I_EFAULT);
	REFUSED(dls_devnet_hold_tmp(DATALINK_INVALID_LINKID, &keep), I_ENOENT);
	REFUSED(dls_devnet_hold_tmp(gid + 1000, &keep), I_ENOENT);

	/* dls_devnet_hold_tmp_by_link: dl_name is a char[MAXNAMELEN]. */
	REFUSED(dls_devnet_hold_tmp_by_link(NULL, &keep), I_EFAULT);
	REFUSED(dls_devnet_hold_tmp_by_link(dlp, NULL), I_EFAULT);
	REFUSED(dls_devnet_hold_tmp_by_link((dls_link_t *)mac256, &keep),
	    I_ENOENT);
	REFUSED(dls_devnet_hold_tmp_by_link((dls_link_t *)"", &keep),
	    I_ENOENT);
	REFUSED(dls_devnet_hold_tmp_by_link((dls_link_t *)"vnic99", &keep),
	    I_ENOENT);

	/* dls_devnet_hold_link */
	REFUSED(dls_devnet_hold_link(gid, NULL, &kdlp), I_EFAULT);
	REFUSED(dls_devnet_hold_link(gid, &keep, NULL), I_EFAULT);
	REFUSED(dls_devnet_hold_link(DATALINK_INVALID_LINKID, &keep, &kdlp),
	    I_ENOENT);

	/* dls_devnet_hold_by_dev */
	REFUSED(dls_devnet_hold_by_dev(DT_DEV(88, 1), NULL), I_EFAULT);
	REFUSED(dls_devnet_hold_by_dev(DT_DEV(99, 1), &keep), I_EINVAL);
	REFUSED(dls_devnet_hold_by_dev(DT_DEV(88, 9), &keep), I_ENOENT);

	/* dls_devnet_open */
	REFUSED(dls_devnet_open(NULL, &keep, &dev), I_EFAULT);
	REFUSED(dls_devnet_open("net0", NULL, &dev), I_EFAULT);
	REFUSED(dls_devnet_open("net0", &keep, NULL), I_EFAULT);
	REFUSED(dls_devnet_open(link32, &keep, &dev), I_ENOENT);
	REFUSED(dls_devnet_open("", &keep, &dev), I_ENOENT);
	REFUSED(dls_devnet_open("n/et0", &keep, &dev), I_ENOENT);
	REFUSED(dls_devnet_open("z5net0", &keep, &dev), I_ENOENT);
	CHECK(keep == DT_FORGED);
	CHECK(kdlp == NULL);
	CHECK_EQ(dev, 77);

	/* Releases of handles that hold nothing: counted, nothing else. */
	dls_dl_handle_t none[] = { NULL, DT_FORGED, FORGED2, FORGED3,
	    h_dead };
	for (size_t i = 0; i < sizeof (none) / sizeof (none[0]); i++) {
		IGNORED(dls_devnet_rele(none[i]));
		IGNORED(dls_devnet_rele_tmp(none[i]));
		IGNORED(dls_devnet_rele_link(none[i], dlp));
		IGNORED(dls_devnet_rele_link(none[i], NULL));
		IGNORED(dls_devnet_close(none[i]));
		IGNORED(CHECK_EQ(dls_devnet_release(none[i]), I_ENOENT));
		NOTHING(dls_devnet_prop_task_wait(none[i]));
	}
	/* Of the wrong kind: counted, nothing else. */
	IGNORED(dls_devnet_rele(h_tmp));
	IGNORED(dls_devnet_rele(h_link));
	IGNORED(dls_devnet_rele_tmp(h_long));
	IGNORED(dls_devnet_rele_tmp(h_open));
	IGNORED(dls_devnet_rele_link(h_long, dlp));
	IGNORED(dls_devnet_close(h_tmp));
	IGNORED(dls_devnet_close(h_link));
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_bad_releases, 6 * 5 + 7);
	CHECK_EQ(c.dc_handles, 4);
	dt_nonul_free(mac256, MAXNAMELEN);
	dt_nonul_free(link32, MAXLINKNAMELEN);
	unfixture();
}

static void
bad_zones_queries(void)
{
	fixture("bad input: setzid, the queries on a handle, the lookups");
	char *mac256 = dt_nonul(MAXNAMELEN);
	datalink_id_t id = 77;
	dev_t dev = 77;
	dls_dl_handle_t none[] = { NULL, DT_FORGED, FORGED2, FORGED3,
	    h_dead };

	for (size_t i = 0; i < sizeof (none) / sizeof (none[0]); i++) {
		REFUSED(dls_devnet_setzid(none[i], 5), I_ENOENT);
		REFUSED(dls_devnet_setzid_transient(none[i], 5, B_TRUE),
		    I_ENOENT);
		NOTHING(CHECK_EQ(dls_devnet_getzid(none[i]), ALL_ZONES));
		NOTHING(CHECK_EQ(dls_devnet_getownerzid(none[i]), ALL_ZONES));
		NOTHING(CHECK_EQ(dls_devnet_linkid(none[i]),
		    DATALINK_INVALID_LINKID));
		NOTHING(CHECK_STR(dls_devnet_link(none[i]), ""));
		NOTHING(CHECK_STR(dls_devnet_mac(none[i]), ""));
	}
	/* Zone ids that cannot be, or are not running. */
	REFUSED(dls_devnet_setzid(h_tmp, -1), I_EINVAL);
	REFUSED(dls_devnet_setzid(h_tmp, -2), I_EINVAL);
	REFUSED(dls_devnet_setzid(h_tmp, 10000), I_EINVAL);
	REFUSED(dls_devnet_setzid_transient(h_tmp, 10000, B_FALSE), I_EINVAL);
	REFUSED(dls_devnet_setzid(h_tmp, 7), I_ENXIO);
	/* What the link is: persistent, a zone's own, lent, name taken. */
	REFUSED(dls_devnet_setzid_transient(h_tmp, 5, B_TRUE), I_EINVAL);
	REFUSED(dls_devnet_setzid(h_long, 7), I_ENXIO);
	dlszone_host_zone_boot(6, 106);
	REFUSED(dls_devnet_setzid(h_long, 6), I_EPERM);
	dls_dl_handle_t lt;
	CHECK_EQ(dls_devnet_hold_tmp(lid, &lt), 0);
	REFUSED(dls_devnet_setzid(lt, 6), I_EBUSY);
	dls_devnet_rele_tmp(lt);

	/* dls_devnet_islinkvisible */
	NOTHING(CHECK(!dls_devnet_islinkvisible(DATALINK_INVALID_LINKID,
	    GZ)));
	NOTHING(CHECK(!dls_devnet_islinkvisible(gid + 1000, GZ)));
	NOTHING(CHECK(!dls_devnet_islinkvisible(gid, -1)));
	NOTHING(CHECK(!dls_devnet_islinkvisible(gid, 10000)));
	NOTHING(CHECK(!dls_devnet_islinkvisible(zid, 6)));

	/* dls_devnet_macname2linkid */
	REFUSED(dls_devnet_macname2linkid(NULL, &id), I_EFAULT);
	REFUSED(dls_devnet_macname2linkid("vnic1", NULL), I_EFAULT);
	REFUSED(dls_devnet_macname2linkid(mac256, &id), I_ENOENT);
	REFUSED(dls_devnet_macname2linkid("", &id), I_ENOENT);
	REFUSED(dls_devnet_macname2linkid("vnic99", &id), I_ENOENT);

	/* dls_devnet_dev2linkid */
	REFUSED(dls_devnet_dev2linkid(DT_DEV(88, 1), NULL), I_EFAULT);
	REFUSED(dls_devnet_dev2linkid(DT_DEV(99, 1), &id), I_EINVAL);
	REFUSED(dls_devnet_dev2linkid(DT_DEV(88, 9), &id), I_ENOENT);
	CHECK_EQ(id, 77);

	/* dls_devnet_phydev */
	REFUSED(dls_devnet_phydev(pid, NULL), I_EFAULT);
	REFUSED(dls_devnet_phydev(DATALINK_INVALID_LINKID, &dev), I_ENOENT);
	REFUSED(dls_devnet_phydev(gid + 1000, &dev), I_ENOENT);
	ANSWERED(dls_devnet_phydev(gid, &dev), I_EINVAL);
	CHECK_EQ(dev, 77);

	/* dls_devnet_rebuild: nothing changed, nothing to rebuild. */
	NOTHING(CHECK(!dls_devnet_rebuild()));
	dt_nonul_free(mac256, MAXNAMELEN);
	dlszone_host_zone_halt(6);
	dlszone_host_zone_destroy(6);
	unfixture();
}

static void
bad_ipd3(void)
{
	fixture("bad input: the IPD 3 functions");
	char *link32 = dt_nonul(MAXLINKNAMELEN);
	dls_dl_handle_t keep = DT_FORGED;
	dls_recover_result_t res, sentinel;
	dls_holder_t h[4];
	dls_link_info_t li[4];
	dls_counters_t c, csentinel;
	uint32_t n = 3, u = 3;
	uint64_t gen = 77;

	/* dls_devnet_hold_zlink */
	REFUSED(dls_devnet_hold_zlink(NULL, ALL_ZONES, "net0", DLS_HOLD_TMP,
	    &keep), I_EFAULT);
	REFUSED(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, NULL, DLS_HOLD_TMP,
	    &keep), I_EFAULT);
	REFUSED(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net0",
	    DLS_HOLD_TMP, NULL), I_EFAULT);
	HOST_ONLY(REFUSED(dls_devnet_hold_zlink(BADCRED, ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &keep), I_EINVAL));
	HOST_ONLY(REFUSED(dls_devnet_hold_zlink(MISCRED, ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &keep), I_EINVAL));
	REFUSED(dls_devnet_hold_zlink(CRED(10000), ALL_ZONES, "net0",
	    DLS_HOLD_TMP, &keep), I_EINVAL);
	REFUSED(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, link32,
	    DLS_HOLD_TMP, &keep), I_ENAMETOOLONG);
	const char *badnames[] = { "", "0net", "net", "net-0", "n et0",
	    "\xffnet0" };
	for (size_t i = 0; i < sizeof (badnames) / sizeof (badnames[0]); i++) {
		REFUSED(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, badnames[i],
		    DLS_HOLD_LONG, &keep), I_EINVAL);
	}
	REFUSED(dls_devnet_hold_zlink(CRED(GZ), -2, "net0", DLS_HOLD_TMP,
	    &keep), I_EINVAL);
	REFUSED(dls_devnet_hold_zlink(CRED(GZ), 10000, "net0", DLS_HOLD_TMP,
	    &keep), I_EINVAL);
	uint32_t badflags[] = { 0, DLS_HOLD_TMP | DLS_HOLD_LONG, 4, 0x100,
	    DLS_HOLD_TMP | 0x8000 };
	for (size_t i = 0; i < sizeof (badflags) / sizeof (badflags[0]); i++) {
		REFUSED(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net0",
		    badflags[i], &keep), I_EINVAL);
	}
	REFUSED(dls_devnet_hold_zlink(CRED(5), GZ, "net0", DLS_HOLD_TMP,
	    &keep), I_ENOENT);
	REFUSED(dls_devnet_hold_zlink(CRED(GZ), 7, "net0", DLS_HOLD_TMP,
	    &keep), I_ENOENT);
	CHECK(keep == DT_FORGED);

	/* dls_zone_recover: res is written only on 0, EBUSY, ETIMEDOUT. */
	(void) memset(&sentinel, 0xa5, sizeof (sentinel));
	res = sentinel;
	REFUSED(dls_zone_recover(NULL, 5, u5, 0, 0, &res), I_EFAULT);
	REFUSED(dls_zone_recover(CRED(GZ), 5, u5, 0, 0, NULL), I_EFAULT);
	HOST_ONLY(REFUSED(dls_zone_recover(BADCRED, 5, u5, 0, 0, &res),
	    I_EINVAL));
	REFUSED(dls_zone_recover(CRED(5), 5, u5, 0, 0, &res), I_EACCES);
	REFUSED(dls_zone_recover(CRED(GZ), GZ, 0, 0, 0, &res), I_EINVAL);
	REFUSED(dls_zone_recover(CRED(GZ), -1, 0, 0, 0, &res), I_EINVAL);
	REFUSED(dls_zone_recover(CRED(GZ), 10000, 0, 0, 0, &res), I_EINVAL);
	REFUSED(dls_zone_recover(CRED(GZ), 5, u5, 0, 2, &res), I_EINVAL);
	REFUSED(dls_zone_recover(CRED(GZ), 5, u5, 0,
	    DLS_RECOVER_FORCE | 0x10, &res), I_EINVAL);
	REFUSED(dls_zone_recover(CRED(GZ), 7, 107, 0, 0, &res), I_ENXIO);
	REFUSED(dls_zone_recover(CRED(GZ), 5, u5 + 1, 0, 0, &res), I_ESTALE);
	CHECK_EQ(memcmp(&res, &sentinel, sizeof (res)), 0);
	REFUSED(dls_zone_recover(CRED(GZ), 5, u5, 0, DLS_RECOVER_FORCE,
	    &res), I_EBUSY);
	CHECK_EQ(res.drr_returned + res.drr_condemned + res.drr_left +
	    res.drr_holds_reclaimed + res.drr_delayed + res.drr_notices, 0);

	/* dls_devnet_holders: *countp is written only on 0 and ENOSPC. */
	REFUSED(dls_devnet_holders(NULL, gid, 0, h, &n), I_EFAULT);
	REFUSED(dls_devnet_holders(CRED(GZ), gid, 0, h, NULL), I_EFAULT);
	REFUSED(dls_devnet_holders(CRED(GZ), gid, 0, NULL, &n), I_EFAULT);
	HOST_ONLY(REFUSED(dls_devnet_holders(BADCRED, gid, 0, h, &n),
	    I_EINVAL));
	REFUSED(dls_devnet_holders(CRED(5), zid, 0, h, &n), I_EACCES);
	REFUSED(dls_devnet_holders(CRED(GZ), DATALINK_INVALID_LINKID, 0, h,
	    &n), I_EINVAL);
	REFUSED(dls_devnet_holders(CRED(GZ), gid, 2, h, &n), I_EINVAL);
	REFUSED(dls_devnet_holders(CRED(GZ), gid, DLS_HOLDERS_DETACHED | 0x40,
	    h, &n), I_EINVAL);
	REFUSED(dls_devnet_holders(CRED(GZ), gid + 1000, 0, h, &n), I_ENOENT);
	REFUSED(dls_devnet_holders(CRED(GZ), gid + 1000, DLS_HOLDERS_DETACHED,
	    h, &n), I_ENOENT);
	CHECK_EQ(n, 3);

	/* dls_devnet_snapshot */
	REFUSED(dls_devnet_snapshot(NULL, li, &n, &gen), I_EFAULT);
	REFUSED(dls_devnet_snapshot(CRED(GZ), li, NULL, &gen), I_EFAULT);
	REFUSED(dls_devnet_snapshot(CRED(GZ), NULL, &n, &gen), I_EFAULT);
	HOST_ONLY(REFUSED(dls_devnet_snapshot(BADCRED, li, &n, &gen),
	    I_EINVAL));
	REFUSED(dls_devnet_snapshot(CRED(10000), li, &n, &gen), I_EINVAL);
	CHECK_EQ(n, 3);
	CHECK_EQ(gen, 77);

	/* dls_mgmt_outbox_replay */
	REFUSED(dls_mgmt_outbox_replay(NULL, &n, &u), I_EFAULT);
	HOST_ONLY(REFUSED(dls_mgmt_outbox_replay(BADCRED, &n, &u), I_EINVAL));
	REFUSED(dls_mgmt_outbox_replay(CRED(5), &n, &u), I_EACCES);
	REFUSED(dls_mgmt_outbox_replay(CRED(5), NULL, NULL), I_EACCES);
	CHECK_EQ(n, 3);
	CHECK_EQ(u, 3);

	/* dls_devnet_counters */
	(void) memset(&csentinel, 0xa5, sizeof (csentinel));
	c = csentinel;
	REFUSED(dls_devnet_counters(NULL, &c), I_EFAULT);
	REFUSED(dls_devnet_counters(CRED(GZ), NULL), I_EFAULT);
	HOST_ONLY(REFUSED(dls_devnet_counters(BADCRED, &c), I_EINVAL));
	REFUSED(dls_devnet_counters(CRED(5), &c), I_EACCES);
	CHECK_EQ(memcmp(&c, &csentinel, sizeof (c)), 0);

	/* dls_devnet_release: ENOENT for what holds nothing (counted). */
	dt_state_take(&st);
	CHECK_EQ(dls_devnet_release(h_dead), I_ENOENT);
	CHECK_EQ(dls_devnet_release(DT_FORGED), I_ENOENT);
	CHECK_SAME_BAD(st, 2);
	dt_nonul_free(link32, MAXLINKNAMELEN);
	unfixture();
}

/*
 * Before dls_mgmt_init(): the first test of the process, with dls never
 * loaded. Every entry point answers ENXIO (or its "nothing" value) and
 * writes nothing (t_mgmt.c checks all of them after dls_mgmt_fini()).
 */
static void
bad_before_init(void)
{
	dt_begin_unloaded("bad input: before dls_mgmt_init(), ENXIO");
	dls_dl_handle_t keep = DT_FORGED;
	datalink_id_t id = 77;
	dls_counters_t c;
	uint32_t n = 0;

	(void) memset(&c, 0xa5, sizeof (c));
	CHECK_EQ(dls_devnet_hold_tmp(1, &keep), I_ENXIO);
	CHECK_EQ(dls_devnet_hold_zlink(CRED(GZ), ALL_ZONES, "net0",
	    DLS_HOLD_LONG, &keep), I_ENXIO);
	CHECK_EQ(dls_mgmt_get_linkid("net0", &id), I_ENXIO);
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), I_ENXIO);
	CHECK_EQ(dls_devnet_counters(CRED(GZ), &c), I_ENXIO);
	CHECK_EQ(dls_devnet_snapshot(CRED(GZ), NULL, &n, NULL), I_ENXIO);
	CHECK_EQ(dls_devnet_release(keep), I_ENXIO);
	dls_devnet_rele(keep);
	CHECK(keep == DT_FORGED);
	CHECK_EQ(id, 77);
	CHECK_EQ(c.dc_handles, 0xa5a5a5a5a5a5a5a5ull);
	CHECK_EQ(dlszone_host_dlmgmtd_calls(0), 0);
	dt_end_unloaded();
}

int
main(void)
{
	static void (*const tests[])(void) = {
		bad_before_init,
		bad_mgmt,
		bad_lifecycle,
		bad_holds,
		bad_zones_queries,
		bad_ipd3,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
