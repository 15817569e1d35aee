/*
 * harness.c -- the check harness of the dls_mgmt.o C tests.
 */
#include "dls_test.h"

int dt_failures;
int dt_checks;

static const char *dt_name;
static int dt_failures_before;

void
dt_begin(const char *name)
{
	dt_name = name;
	dt_failures_before = dt_failures;
	dlszone_host_reset();
	dls_mgmt_init();
	dlszone_host_dlmgmtd_start();
	CHECK_EQ(dls_mgmt_door_set(B_TRUE), 0);
	(void) dlszone_host_settle();
}

void
dt_end(void)
{
	/* Whatever the test did, the object left the kernel consistent. */
	(void) dlszone_host_settle();
	CHECK_EQ(dlszone_host_perims_held(), 0);
	CHECK_EQ(dlszone_host_kernel_complaints(), 0);
	dls_mgmt_fini();
	CHECK_EQ(dlszone_host_kstats_total(), 0);
	(void) printf("%s %s\n", dt_failures == dt_failures_before ?
	    "ok  " : "FAIL", dt_name);
}

int
dt_main(void (*const *tests)(void), size_t n)
{
	for (size_t i = 0; i < n; i++)
		tests[i]();
	(void) printf("%d checks, %d failed\n", dt_checks, dt_failures);
	return (dt_failures == 0 ? 0 : 1);
}

mac_handle_t
dt_mac(const char *name)
{
	return ((mac_handle_t)dlszone_host_mac(name));
}

datalink_id_t
dt_link(mac_handle_t mh, const char *name, uint32_t class, zoneid_t zid,
    boolean_t persist)
{
	uint32_t flags = DLMGMT_ACTIVE | (persist ? DLMGMT_PERSIST : 0);
	datalink_id_t id = dlszone_host_dlmgmtd_add(name, class, flags, zid,
	    0, 0);

	dlszone_host_set_zone(zid);
	CHECK_EQ(dls_devnet_create(mh, id, zid), 0);
	dlszone_host_set_zone(GLOBAL_ZONEID);
	return (id);
}
