/*
 * harness.c -- the check harness of the dls_mgmt.o C tests.
 */
#define	_DEFAULT_SOURCE

#include <sys/mman.h>
#include <unistd.h>

#include "dls_test.h"

int dt_failures;
int dt_checks;
int dt_host_only;

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
	/* Every test gives back what it held (dls_mgmt_fini() leaks it). */
	dls_counters_t c = dt_counters();
	CHECK_EQ(c.dc_handles, 0);
	CHECK_EQ(c.dc_pending_frees, 0);
	dls_mgmt_fini();
	CHECK_EQ(dlszone_host_kstats_total(), 0);
	/* The object gave everything back (the loaded object's checks). */
	CHECK_EQ(dlszone_host_kernel_complaints(), 0);
	(void) printf("%s %s\n", dt_failures == dt_failures_before ?
	    "ok  " : "FAIL", dt_name);
}

void
dt_begin_unloaded(const char *name)
{
	dt_name = name;
	dt_failures_before = dt_failures;
	dlszone_host_reset();
}

void
dt_end_unloaded(void)
{
	CHECK_EQ(dlszone_host_kernel_complaints(), 0);
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
	if (dt_host_only > 0)
		(void) printf("%d host-only steps skipped (inputs a kernel "
		    "would fault on)\n", dt_host_only);
	return (dt_failures == 0 ? 0 : 1);
}

mac_handle_t
dt_mac(const char *name)
{
	return ((mac_handle_t)dlszone_host_mac(name));
}

int
dt_hold_link(const char *mac, datalink_id_t id, dls_dl_handle_t *ddhp,
    dls_link_t **dlpp)
{
	int r;

	CHECK_EQ(dlszone_host_perim_enter(mac), 0);
	r = dls_devnet_hold_link(id, ddhp, dlpp);
	CHECK_EQ(dlszone_host_perim_exit(mac), 0);
	return (r);
}

void
dt_rele_link(const char *mac, dls_dl_handle_t ddh, dls_link_t *dlp)
{
	CHECK_EQ(dlszone_host_perim_enter(mac), 0);
	dls_devnet_rele_link(ddh, dlp);
	CHECK_EQ(dlszone_host_perim_exit(mac), 0);
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

static size_t
dt_nonul_span(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return ((n + pg - 1) / pg * pg + pg);
}

char *
dt_nonul(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), span = dt_nonul_span(n);
	char *base = mmap(NULL, span, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED || mprotect(base + span - pg, pg,
	    PROT_NONE) != 0)
		abort();
	char *p = base + span - pg - n;
	(void) memset(p, 'a', n);
	return (p);
}

void
dt_nonul_free(char *p, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), span = dt_nonul_span(n);

	if (munmap(p + n + pg - span, span) != 0)
		abort();
}

dls_counters_t
dt_counters(void)
{
	dls_counters_t c;

	(void) memset(&c, 0xff, sizeof (c));
	if (dls_devnet_counters(CRED(GLOBAL_ZONEID), &c) != 0)
		(void) fprintf(stderr, "harness: dls_devnet_counters failed\n");
	return (c);
}

uint64_t
dt_gen(void)
{
	uint32_t n = 0;
	uint64_t gen = 0;

	if (dls_devnet_snapshot(CRED(GLOBAL_ZONEID), NULL, &n, &gen) != 0 &&
	    n == 0)
		(void) fprintf(stderr, "harness: dls_devnet_snapshot failed\n");
	return (gen);
}

int
dt_info(datalink_id_t id, dls_link_info_t *out)
{
	static dls_link_info_t buf[DT_MAXLINKS];
	uint32_t n = DT_MAXLINKS;

	if (dls_devnet_snapshot(CRED(GLOBAL_ZONEID), buf, &n, NULL) != 0)
		return (0);
	for (uint32_t i = 0; i < n; i++) {
		if (buf[i].dli_linkid == id) {
			if (out != NULL)
				*out = buf[i];
			return (1);
		}
	}
	return (0);
}

uint64_t
dt_holds(datalink_id_t id, uint32_t kind, zoneid_t zid)
{
	dls_holder_t buf[DT_MAXHOLDERS];
	uint32_t n = DT_MAXHOLDERS;
	uint64_t sum = 0;

	if (dls_devnet_holders(CRED(GLOBAL_ZONEID), id, DLS_HOLDERS_DETACHED,
	    buf, &n) != 0)
		return (0);
	for (uint32_t i = 0; i < n; i++) {
		if (buf[i].dh_kind == kind && buf[i].dh_zoneid == zid)
			sum += buf[i].dh_count;
	}
	return (sum);
}

void
dt_state_take(dt_state_t *s)
{
	(void) memset(s, 0, sizeof (*s));
	s->ds_nlinks = DT_MAXLINKS;
	if (dls_devnet_snapshot(CRED(GLOBAL_ZONEID), s->ds_links,
	    &s->ds_nlinks, &s->ds_gen) != 0) {
		(void) fprintf(stderr, "harness: snapshot failed\n");
		dt_failures++;
	}
	for (uint32_t i = 0; i < s->ds_nlinks; i++) {
		uint32_t n = DT_MAXHOLDERS;

		if (dls_devnet_holders(CRED(GLOBAL_ZONEID),
		    s->ds_links[i].dli_linkid, DLS_HOLDERS_DETACHED,
		    s->ds_holders[i], &n) != 0)
			n = 0;
		s->ds_nholders[i] = n;
		s->ds_refs[i] = dlszone_host_link_refs(s->ds_links[i].dli_mac);
		s->ds_lzone[i] = dlszone_host_link_zone(s->ds_links[i].dli_mac);
	}
	s->ds_counters = dt_counters();
	s->ds_kstats = dlszone_host_kstats_total();
	s->ds_perims = dlszone_host_perims_held();
	s->ds_recreates = dlszone_host_softmac_recreates();
	s->ds_rebuild = devnet_need_rebuild;
	s->ds_dlmgmtd = dlszone_host_dlmgmtd_digest();
}

#define	DIFF(what) do {							\
	(void) fprintf(stderr, "%s:%d: state changed: %s\n", file,	\
	    line, what);						\
	same = 0;							\
} while (0)

void
dt_state_same(const dt_state_t *a, uint64_t bad, const char *file, int line)
{
	static dt_state_t b;
	int same = 1;

	dt_state_take(&b);
	dt_checks++;
	if (a->ds_nlinks != b.ds_nlinks || memcmp(a->ds_links, b.ds_links,
	    sizeof (a->ds_links[0]) * a->ds_nlinks) != 0)
		DIFF("links");
	if (a->ds_gen != b.ds_gen)
		DIFF("generation");
	if (memcmp(a->ds_nholders, b.ds_nholders,
	    sizeof (a->ds_nholders)) != 0 ||
	    memcmp(a->ds_holders, b.ds_holders, sizeof (a->ds_holders)) != 0)
		DIFF("holders");
	if (memcmp(a->ds_refs, b.ds_refs, sizeof (a->ds_refs)) != 0)
		DIFF("dls_link_t references");
	if (memcmp(a->ds_lzone, b.ds_lzone, sizeof (a->ds_lzone)) != 0)
		DIFF("data-path zones");
	dls_counters_t ca = a->ds_counters;
	ca.dc_bad_releases += bad;
	if (memcmp(&ca, &b.ds_counters, sizeof (ca)) != 0)
		DIFF("counters");
	if (a->ds_kstats != b.ds_kstats)
		DIFF("kstats");
	if (a->ds_perims != b.ds_perims)
		DIFF("perimeters");
	if (a->ds_recreates != b.ds_recreates)
		DIFF("softmac re-creates");
	if (a->ds_rebuild != b.ds_rebuild)
		DIFF("devnet_need_rebuild");
	if (a->ds_dlmgmtd != b.ds_dlmgmtd)
		DIFF("dlmgmtd's records");
	if (!same)
		dt_failures++;
}

void
dt_dlmgmtd_agrees(const char *file, int line)
{
	static dls_link_info_t k[DT_MAXLINKS];
	uint32_t n = DT_MAXLINKS;
	int ok = 1;

	dt_checks++;
	if (dls_devnet_snapshot(CRED(GLOBAL_ZONEID), k, &n, NULL) != 0) {
		(void) fprintf(stderr, "%s:%d: snapshot failed\n", file, line);
		dt_failures++;
		return;
	}
	/* Every active kernel link, as dlmgmtd has it. */
	for (uint32_t i = 0; i < n; i++) {
		char name[MAXLINKNAMELEN];

		if (k[i].dli_state != DLS_LINK_ACTIVE)
			continue;
		if (dlszone_host_dlmgmtd_zone(k[i].dli_linkid) !=
		    k[i].dli_zone) {
			(void) fprintf(stderr, "%s:%d: link %u: kernel zone "
			    "%d, dlmgmtd zone %d\n", file, line,
			    k[i].dli_linkid, k[i].dli_zone,
			    dlszone_host_dlmgmtd_zone(k[i].dli_linkid));
			ok = 0;
			continue;
		}
		(void) memset(name, 0, sizeof (name));
		if (dls_mgmt_get_linkinfo(k[i].dli_linkid, name, NULL, NULL,
		    NULL) != 0 || strcmp(name, k[i].dli_name) != 0) {
			(void) fprintf(stderr, "%s:%d: link %u: kernel name "
			    "\"%s\", dlmgmtd name \"%s\"\n", file, line,
			    k[i].dli_linkid, k[i].dli_name, name);
			ok = 0;
		}
	}
	/* Every link dlmgmtd has in a non-global zone, in the kernel. */
	for (datalink_id_t id = 0; (id = dls_mgmt_get_next(id,
	    DATALINK_CLASS_ALL, DATALINK_ANY_MEDIATYPE,
	    DLMGMT_ACTIVE | DLMGMT_PERSIST)) != DATALINK_INVALID_LINKID; ) {
		int z = dlszone_host_dlmgmtd_zone(id);
		int found = 0;

		if (z == GLOBAL_ZONEID)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			if (k[i].dli_linkid == id &&
			    k[i].dli_state == DLS_LINK_ACTIVE)
				found = 1;
		}
		if (!found) {
			(void) fprintf(stderr, "%s:%d: dlmgmtd has link %u in "
			    "zone %d; the kernel has no such link\n", file,
			    line, id, z);
			ok = 0;
		}
	}
	if (!ok)
		dt_failures++;
}
