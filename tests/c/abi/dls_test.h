/*
 * dls_test.h -- what a C test of dls_mgmt.o needs: the C declarations of
 * the functions the object exports (with the types illumos' sys/dls.h,
 * sys/dls_impl.h and sys/dls_mgmt.h give them, spelled here for a host
 * build), the IPD 3 header, the host kernel's control functions, and a
 * small check harness.
 *
 * The tests link the host build of the object (a static library of the
 * kernel/dls crate with the fake kernel of kernel/dls/host.rs) and run
 * under AddressSanitizer.
 */
#ifndef DLS_TEST_H
#define	DLS_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- illumos types, as the kernel headers define them (LP64) ---------- */

typedef int		zoneid_t;
typedef uint32_t	datalink_id_t;
typedef uint32_t	datalink_class_t;
typedef uint64_t	datalink_media_t;
typedef int		boolean_t;
#define	B_FALSE		0
#define	B_TRUE		1
typedef struct cred	cred_t;
typedef struct mac_handle_s *mac_handle_t;
typedef struct dls_devnet_s *dls_dl_handle_t;
typedef struct dls_link_s dls_link_t;

#define	MAXLINKNAMELEN	32
#define	MAXNAMELEN	256
#define	GLOBAL_ZONEID	0
#define	ALL_ZONES	(-1)
#define	DATALINK_INVALID_LINKID	0

#define	DATALINK_CLASS_PHYS	0x01
#define	DATALINK_CLASS_VNIC	0x08
#define	DATALINK_CLASS_IPTUN	0x80
#define	DATALINK_CLASS_ALL	0x7ff
#define	DATALINK_ANY_MEDIATYPE	(1ULL << 32)
#define	DLMGMT_ACTIVE		0x01
#define	DLMGMT_PERSIST		0x02

/* makedevice() of a 64-bit dev_t; a DLPI node's minor is its ppa + 1. */
#define	DT_DEV(maj, min)	(((dev_t)(maj) << 32) | (dev_t)(min))

/* dlmgmtd door commands (sys/dls_mgmt.h). */
#define	DLMGMT_CMD_DLS_CREATE	1
#define	DLMGMT_CMD_DLS_GETATTR	2
#define	DLMGMT_CMD_DLS_DESTROY	3
#define	DLMGMT_CMD_GETNAME	4
#define	DLMGMT_CMD_GETLINKID	5
#define	DLMGMT_CMD_GETNEXT	6
#define	DLMGMT_CMD_DLS_UPDATE	7
#define	DLMGMT_CMD_LINKPROP_INIT	8
#define	DLMGMT_CMD_SETZONEID	9

/* illumos errno values (sys/errno.h), which differ from Linux's. */
#define	I_EPERM		1
#define	I_ENOENT	2
#define	I_EINTR		4
#define	I_EIO		5
#define	I_ENXIO		6
#define	I_EBADF		9
#define	I_EAGAIN	11
#define	I_ENOMEM	12
#define	I_EACCES	13
#define	I_EFAULT	14
#define	I_EBUSY		16
#define	I_EEXIST	17
#define	I_EINVAL	22
#define	I_ENOSPC	28
#define	I_EROFS		30
#define	I_ENOTSUP	48
#define	I_ENAMETOOLONG	78
#define	I_ENOTEMPTY	93
#define	I_ETIMEDOUT	145
#define	I_EALREADY	149
#define	I_ESTALE	151

/* ---- the exports of dls_mgmt.o (gate's signatures) ---------------------- */

#ifdef DT_KLOAD
/*
 * Against the loaded object (make kload-test), the datum is the object's
 * own, in the emulated kernel's memory: reached through a pointer.
 */
extern boolean_t *dlszone_host_devnet_need_rebuild(void);
#define	devnet_need_rebuild	(*dlszone_host_devnet_need_rebuild())
#else
extern boolean_t devnet_need_rebuild;
#endif

extern void	dls_mgmt_init(void);
extern void	dls_mgmt_fini(void);
extern int	dls_mgmt_door_set(boolean_t);
extern int	dls_mgmt_create(const char *, dev_t, datalink_class_t, uint32_t,
		    boolean_t, datalink_id_t *);
extern int	dls_mgmt_destroy(datalink_id_t, boolean_t);
extern int	dls_mgmt_update(const char *, uint32_t, boolean_t, uint32_t *,
		    datalink_id_t *);
extern int	dls_mgmt_get_linkinfo(datalink_id_t, char *, datalink_class_t *,
		    uint32_t *, uint32_t *);
extern int	dls_mgmt_get_linkid(const char *, datalink_id_t *);
extern datalink_id_t dls_mgmt_get_next(datalink_id_t, datalink_class_t,
		    datalink_media_t, uint32_t);
extern int	dls_mgmt_get_phydev(datalink_id_t, dev_t *);
extern int	dls_mgmt_linkprop_init(datalink_id_t);

extern int	dls_devnet_create(mac_handle_t, datalink_id_t, zoneid_t);
extern int	dls_devnet_recreate(mac_handle_t, datalink_id_t);
extern int	dls_devnet_destroy(mac_handle_t, datalink_id_t *, boolean_t);
extern int	dls_devnet_rename(datalink_id_t, datalink_id_t, const char *);

extern int	dls_devnet_hold(datalink_id_t, dls_dl_handle_t *);
extern int	dls_devnet_hold_tmp(datalink_id_t, dls_dl_handle_t *);
extern void	dls_devnet_rele_tmp(dls_dl_handle_t);
extern int	dls_devnet_hold_tmp_by_link(dls_link_t *, dls_dl_handle_t *);
extern int	dls_devnet_hold_link(datalink_id_t, dls_dl_handle_t *,
		    dls_link_t **);
extern void	dls_devnet_rele_link(dls_dl_handle_t, dls_link_t *);
extern int	dls_devnet_hold_by_dev(dev_t, dls_dl_handle_t *);
extern void	dls_devnet_rele(dls_dl_handle_t);
extern int	dls_devnet_open(const char *, dls_dl_handle_t *, dev_t *);
extern void	dls_devnet_close(dls_dl_handle_t);
extern void	dls_devnet_prop_task_wait(dls_dl_handle_t);

extern int	dls_devnet_setzid(dls_dl_handle_t, zoneid_t);
extern zoneid_t	dls_devnet_getzid(dls_dl_handle_t);
extern zoneid_t	dls_devnet_getownerzid(dls_dl_handle_t);
extern boolean_t dls_devnet_islinkvisible(datalink_id_t, zoneid_t);

extern const char *dls_devnet_link(dls_dl_handle_t);
extern const char *dls_devnet_mac(dls_dl_handle_t);
extern datalink_id_t dls_devnet_linkid(dls_dl_handle_t);
extern int	dls_devnet_macname2linkid(const char *, datalink_id_t *);
extern int	dls_devnet_dev2linkid(dev_t, datalink_id_t *);
extern int	dls_devnet_phydev(datalink_id_t, dev_t *);
extern boolean_t dls_devnet_rebuild(void);

/* ---- the IPD 3 additions ------------------------------------------------- */

#define	DLSZONE_NO_SYS_INCLUDES
#include "../../../include/sys/dlszone.h"

/* ---- the host kernel ------------------------------------------------------- */

#include "dlszone_host.h"

/* ---- checks ---------------------------------------------------------------- */

extern int dt_failures;
extern int dt_checks;

/*
 * A check only the host build can make: an input no kernel caller can give
 * without faulting there (a credential or a MAC handle the kernel never
 * made: crgetzoneid() and mac_name() dereference it). Against the loaded
 * object (DT_KLOAD) the emulated kernel would panic on it, as a kernel
 * would fault, so the check is skipped and counted (dt_host_only).
 */
extern int dt_host_only;
#ifdef DT_KLOAD
#define	HOST_ONLY(stmt)	(dt_host_only++)
#else
#define	HOST_ONLY(stmt)	stmt
#endif

#define	CHECK(cond) do {						\
	dt_checks++;							\
	if (!(cond)) {							\
		dt_failures++;						\
		(void) fprintf(stderr, "%s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define	CHECK_EQ(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	dt_checks++;							\
	if (_a != _b) {							\
		dt_failures++;						\
		(void) fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n",\
		    __FILE__, __LINE__, #a, #b, _a, _b);		\
	}								\
} while (0)

#define	CHECK_STR(a, b) do {						\
	const char *_a = (a), *_b = (b);				\
	dt_checks++;							\
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {		\
		dt_failures++;						\
		(void) fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n",\
		    __FILE__, __LINE__, #a, #b, _a == NULL ? "(null)" : _a,\
		    _b == NULL ? "(null)" : _b);			\
	}								\
} while (0)

/* The credential of a zone, in the host kernel. */
#define	CRED(z)	((const cred_t *)dlszone_host_cred(z))

/* One test: a fresh kernel, dls loaded, dlmgmtd up with its door set. */
extern void	dt_begin(const char *);
/* Checks the kernel was used correctly, then unloads dls. */
extern void	dt_end(void);
/* One test of dls not loaded: a fresh kernel, no dls_mgmt_init(). */
extern void	dt_begin_unloaded(const char *);
extern void	dt_end_unloaded(void);
/* Runs the tests given, reports, and returns the exit status. */
extern int	dt_main(void (*const *)(void), size_t);

/* A MAC registered with the host kernel. */
extern mac_handle_t dt_mac(const char *);
/*
 * dls_devnet_hold_link() and dls_devnet_rele_link() as dld calls them:
 * inside the perimeter of the link's MAC `mac` (their callers enter it by
 * link id first; gate ASSERTs it).
 */
extern int	dt_hold_link(const char *, datalink_id_t, dls_dl_handle_t *,
    dls_link_t **);
extern void	dt_rele_link(const char *, dls_dl_handle_t, dls_link_t *);
/* dlmgmtd learns a link (as `dladm create-*` asks it), then the driver
 * creates it in the kernel from zone `zid`; returns the link id. */
extern datalink_id_t dt_link(mac_handle_t, const char *, uint32_t, zoneid_t,
    boolean_t);

/*
 * Everything a caller or the host kernel can observe of the object's
 * state, to prove that a refused call changed nothing: the global zone's
 * snapshot and its generation, every tabled link's holders (detached ones
 * of the same id too, temporary holds included), dls_link_t references
 * and data-path zones, the counters, the kstats, the perimeters, softmac
 * re-creates, the /dev/net rebuild flag, and dlmgmtd's records.
 */
#define	DT_MAXLINKS	32
#define	DT_MAXHOLDERS	16

typedef struct dt_state {
	uint32_t	ds_nlinks;
	uint64_t	ds_gen;
	dls_link_info_t	ds_links[DT_MAXLINKS];
	uint32_t	ds_nholders[DT_MAXLINKS];
	dls_holder_t	ds_holders[DT_MAXLINKS][DT_MAXHOLDERS];
	int		ds_refs[DT_MAXLINKS];
	int		ds_lzone[DT_MAXLINKS];
	dls_counters_t	ds_counters;
	int		ds_kstats;
	int		ds_perims;
	int		ds_recreates;
	int		ds_rebuild;
	uint64_t	ds_dlmgmtd;
} dt_state_t;

extern void	dt_state_take(dt_state_t *);
extern void	dt_state_same(const dt_state_t *, uint64_t, const char *, int);

/* Nothing observable changed since `s` was taken. */
#define	CHECK_SAME(s)		dt_state_same(&(s), 0, __FILE__, __LINE__)
/* Only dc_bad_releases changed, by exactly n (a refused legacy release). */
#define	CHECK_SAME_BAD(s, n)	dt_state_same(&(s), (n), __FILE__, __LINE__)

/* dlmgmtd's view agrees with the kernel's: every active link is in
 * dlmgmtd, in the same zone under the same name, and every link dlmgmtd
 * has in a non-global zone is an active link of the kernel. */
extern void	dt_dlmgmtd_agrees(const char *, int);
#define	CHECK_DLMGMTD_AGREES()	dt_dlmgmtd_agrees(__FILE__, __LINE__)

/*
 * n bytes, none of them NUL, ending right before an unmapped page: a read
 * past them faults, whatever code makes it (AddressSanitizer sees only
 * instrumented C; the object is Rust). Give them back with
 * dt_nonul_free().
 */
extern char	*dt_nonul(size_t);
extern void	dt_nonul_free(char *, size_t);
/* The global zone's record of link `id`; 0 if there is none. */
extern int	dt_info(datalink_id_t, dls_link_info_t *);
/* Holds of `kind` from zone `zid` on link `id` (detached records of the
 * id too; zid -1 for temporary holds). */
extern uint64_t	dt_holds(datalink_id_t, uint32_t, zoneid_t);
/* The counters (from the global zone). */
extern dls_counters_t dt_counters(void);
/* The registry generation (from the global zone). */
extern uint64_t	dt_gen(void);
/* A handle never handed out. */
#define	DT_FORGED	((dls_dl_handle_t)(uintptr_t)0x12345)

#endif /* DLS_TEST_H */
