/*
 * sys/dlszone_ioctl.h -- the ioctl interface of /dev/dlszone, the
 * dlszone pseudo driver (drv/dlszone, kernel/drv in the dlszone sources).
 *
 * The driver lets userland reach the IPD 3 entry points of misc/dls
 * (sys/dlszone.h): forced recovery of a halted zone's links, the links a
 * caller may see with their zone columns and hold counts, the holders of a
 * link, and the replay of the notices queued for dlmgmtd. dlszonectl(8) is
 * its command-line tool; zoneadmd calls DZIOC_RECOVER at halt
 * (docs/integration.md).
 *
 * Installation: add_drv -m '* 0666 root sys' dlszone (the node may be
 * opened by anyone; every ioctl checks the caller's privilege and zone
 * itself). A zone sees /dev/dlszone only if its configuration adds the
 * device (zonecfg: add device; set match=/dev/dlszone).
 *
 * Conventions:
 *
 *   - Every structure has fixed-width fields only, with explicit padding;
 *     64-bit fields sit at multiples of 8 and every size is a multiple of
 *     8, so 32-bit and 64-bit callers share one layout and the driver
 *     never converts (the sizes are asserted below, for i386 and amd64).
 *     User buffers are named by uint64_t addresses, not pointers.
 *   - The first field of every structure is its version, DZIOC_VERSION.
 *   - ioctl(2) returns 0, or -1 with errno set. Order of checks:
 *       1. DZIOC_RECOVER and DZIOC_REPLAY change the system: they need
 *          the privilege dladm's link configuration needs
 *          (secpolicy_dl_config(): sys_dl_config, or sys_net_config),
 *          checked before anything is read: EPERM;
 *       2. the structure is copied in: EFAULT for a bad address;
 *       3. its version: ENOTSUP for any other (also for an unknown
 *          command);
 *       4. flags and ranges: EINVAL; a non-zero capacity with a zero
 *          buffer address, or a buffer too short for its capacity: EFAULT;
 *       5. zones: a caller outside the global zone that names any zone
 *          but its own gets ENOENT, as for a zone that does not exist; it
 *          gets EACCES for what only the global zone may do;
 *       6. the operation; the structure is then copied back out, also
 *          when the answer is ENOSPC and when a recovery did part of its
 *          work (EBUSY, ETIMEDOUT).
 *   - Size negotiation (DZIOC_LIST, DZIOC_HOLDERS): call with capacity 0
 *     to learn the number of entries (*_total; the call succeeds); call
 *     again with room for that many. If the table grew in between, the
 *     answer is ENOSPC with *_total updated and no entry written: grow
 *     and retry.
 */

#ifndef _SYS_DLSZONE_IOCTL_H
#define	_SYS_DLSZONE_IOCTL_H

#ifndef	DLSZONE_NO_SYS_INCLUDES
#include <sys/types.h>
#include <sys/param.h>
#endif

#ifdef	__cplusplus
extern "C" {
#endif

#define	DZ_DEVICE		"/dev/dlszone"
#define	DZIOC_VERSION		1

#define	DZIOC			(('d' << 24) | ('z' << 16) | ('c' << 8))
#define	DZIOC_RECOVER		(DZIOC | 0x01)	/* dz_ioc_recover_t */
#define	DZIOC_LIST		(DZIOC | 0x02)	/* dz_ioc_list_t */
#define	DZIOC_HOLDERS		(DZIOC | 0x03)	/* dz_ioc_holders_t */
#define	DZIOC_REPLAY		(DZIOC | 0x04)	/* dz_ioc_replay_t */

/* Values shared with sys/dlszone.h. */
#define	DZ_LINK_TRANSIENT	0x0001	/* dzk_flags: goes with its zone */
#define	DZ_LINK_PERSISTENT	0x0002	/* created persistent */
#define	DZ_LINK_LENT		0x0004	/* in a zone other than its owner */

#define	DZ_STATE_ACTIVE		1	/* dzk_state, dzhe_state */
#define	DZ_STATE_CONDEMNED	2
#define	DZ_STATE_DETACHED	3	/* unreachable; freed at last release */
#define	DZ_STATE_INITIALIZING	4

#define	DZ_HOLD_EXISTENCE	1	/* dzhe_kind; dzk_holds[kind - 1] */
#define	DZ_HOLD_LOAN		2
#define	DZ_HOLD_STREAM		3
#define	DZ_HOLD_DEVNET		4
#define	DZ_HOLD_NAMED		5
#define	DZ_HOLD_TEMPORARY	6
#define	DZ_HOLD_KINDS		6

/*
 * DZIOC_RECOVER -- bring the links of a halted zone to where a clean halt
 * would have left them, without dlmgmtd (dls_zone_recover()).
 *
 * In: the zone (1..MAX_ZONEID), its zone_uniqid (ZONE_ATTR_UNIQID), flags,
 * and a bound on every wait inside (at most DZ_RECOVER_MAX_TIMEOUT_MS).
 * Out: the counts, written on success and after EBUSY and ETIMEDOUT.
 *
 *   0          the zone has no links left.
 *   EPERM      no sys_dl_config.
 *   EFAULT     bad address.
 *   ENOTSUP    dzr_version is not DZIOC_VERSION.
 *   EINVAL     unknown flags; zone 0 or out of range; timeout too long.
 *   ENOENT     no such zone (never known to the registry); a non-global
 *              caller naming another zone.
 *   EACCES     a non-global caller naming its own zone.
 *   ESTALE     dzr_uniqid names another incarnation of the zone.
 *   EBUSY      the zone is still running (counts zero); or links remain
 *              (dzr_left): without DZ_RECOVER_FORCE, holds taken inside
 *              the zone block a return.
 *   ETIMEDOUT  the zone's gate stayed busy (a halt or move stuck in an
 *              upcall): nothing was done; run it again.
 */
#define	DZ_RECOVER_FORCE		0x0001	/* reclaim the zone's own holds */
#define	DZ_RECOVER_MAX_TIMEOUT_MS	60000

typedef struct dz_ioc_recover {
	uint32_t	dzr_version;		/* in: DZIOC_VERSION */
	int32_t		dzr_zoneid;		/* in */
	uint64_t	dzr_uniqid;		/* in */
	uint32_t	dzr_flags;		/* in: DZ_RECOVER_FORCE */
	uint32_t	dzr_timeout_ms;		/* in */
	uint32_t	dzr_returned;		/* out: lent links given back */
	uint32_t	dzr_condemned;		/* out: transient links torn down */
	uint32_t	dzr_left;		/* out: links still in the zone */
	uint32_t	dzr_holds_reclaimed;	/* out: the zone's holds dropped */
	uint32_t	dzr_delayed;		/* out: frees waiting for holders */
	uint32_t	dzr_notices;		/* out: notices queued for dlmgmtd */
} dz_ioc_recover_t;

/*
 * DZIOC_LIST -- the links the caller may see (dls_devnet_snapshot()), in
 * link id order, with hold counts by kind (dls_devnet_holders()).
 *
 * dzl_zoneid ALL_ZONES (-1) lists every zone the caller sees: all of them
 * from the global zone, its own from any other zone. A non-global caller
 * gets no hold counts and no reserved names (DZ_LIST_NOHOLDS in
 * dzl_oflags). No privilege is needed.
 *
 *   0        all entries written (dzl_count == dzl_total), or the size
 *            query (capacity 0: dzl_total set, nothing written).
 *   ENOSPC   dzl_capacity < dzl_total: dzl_total set, nothing written.
 *   EFAULT   bad address (the structure or the entries).
 *   ENOTSUP  dzl_version is not DZIOC_VERSION.
 *   EINVAL   dzl_flags not 0; dzl_zoneid not ALL_ZONES nor 0..MAX_ZONEID.
 *   ENOENT   dzl_zoneid names a zone that does not exist, or (from a
 *            non-global zone) any other zone.
 *   EAGAIN   the table kept changing while it was copied; retry.
 */
#define	DZ_LIST_NOHOLDS		0x0001	/* dzl_oflags: no hold counts */

typedef struct dz_ioc_list {
	uint32_t	dzl_version;	/* in: DZIOC_VERSION */
	int32_t		dzl_zoneid;	/* in: ALL_ZONES or a zone */
	uint32_t	dzl_flags;	/* in: 0 */
	uint32_t	dzl_capacity;	/* in: room at dzl_buf, in entries */
	uint32_t	dzl_count;	/* out: entries written */
	uint32_t	dzl_total;	/* out: entries there are */
	uint64_t	dzl_buf;	/* in: address of dz_link_t[capacity] */
	uint64_t	dzl_generation;	/* out: generation of the caller's view */
	uint32_t	dzl_oflags;	/* out: DZ_LIST_NOHOLDS */
	uint32_t	dzl_pad;
} dz_ioc_list_t;

typedef struct dz_link {
	uint32_t	dzk_linkid;
	int32_t		dzk_owner;		/* zone that created it */
	int32_t		dzk_zone;		/* zone it is in now */
	uint32_t	dzk_flags;		/* DZ_LINK_* */
	uint32_t	dzk_state;		/* DZ_STATE_* */
	uint32_t	dzk_pad;
	uint64_t	dzk_owner_uniqid;
	uint64_t	dzk_zone_uniqid;
	uint64_t	dzk_holds[DZ_HOLD_KINDS];	/* by kind, all zones */
	char		dzk_name[MAXLINKNAMELEN];	/* name in dzk_zone */
	char		dzk_reserved[MAXLINKNAMELEN];	/* owner-zone name */
							/* kept while lent */
	char		dzk_mac[MAXNAMELEN];		/* MAC name */
} dz_link_t;

/*
 * DZIOC_HOLDERS -- who holds link dzh_linkid: one entry per (kind, holder
 * zone) with its count. With DZ_HOLDERS_DETACHED, links with this id that
 * were destroyed or torn down but are still held are reported too
 * (dzhe_state DZ_STATE_DETACHED). Global zone only; no privilege needed.
 *
 *   0, ENOSPC, EFAULT, ENOTSUP  as for DZIOC_LIST.
 *   EINVAL   dzh_linkid 0; unknown flags.
 *   ENOENT   no link (or held detached link, with the flag) has this id;
 *            from a non-global zone, a link it cannot see.
 *   EACCES   a non-global caller asking about a link it can see.
 */
#define	DZ_HOLDERS_DETACHED	0x0001

typedef struct dz_ioc_holders {
	uint32_t	dzh_version;	/* in: DZIOC_VERSION */
	uint32_t	dzh_linkid;	/* in */
	uint32_t	dzh_flags;	/* in: DZ_HOLDERS_DETACHED */
	uint32_t	dzh_capacity;	/* in: room at dzh_buf, in entries */
	uint32_t	dzh_count;	/* out: entries written */
	uint32_t	dzh_total;	/* out: entries there are */
	uint64_t	dzh_buf;	/* in: address of dz_holder_t[capacity] */
} dz_ioc_holders_t;

typedef struct dz_holder {
	uint32_t	dzhe_linkid;
	uint32_t	dzhe_kind;	/* DZ_HOLD_* */
	int32_t		dzhe_zoneid;	/* holder's zone; -1 for temporary */
	uint32_t	dzhe_state;	/* the link's DZ_STATE_* */
	uint64_t	dzhe_uniqid;	/* holder zone's zone_uniqid */
	uint64_t	dzhe_count;
} dz_holder_t;

/*
 * DZIOC_REPLAY -- deliver the notices queued for dlmgmtd now
 * (dls_mgmt_outbox_replay()), oldest first, stopping at the first
 * failure. The counts are written whatever the outcome.
 *
 *   0          the queue is empty.
 *   EPERM      no sys_dl_config.
 *   EFAULT, ENOTSUP as above; EINVAL dzp_flags not 0.
 *   EACCES     the caller is not in the global zone.
 *   EALREADY   another replay is running.
 *   EBADF      dlmgmtd is not running; or dlmgmtd's answer for the
 *              notice that failed.
 */
typedef struct dz_ioc_replay {
	uint32_t	dzp_version;	/* in: DZIOC_VERSION */
	uint32_t	dzp_flags;	/* in: 0 */
	uint32_t	dzp_delivered;	/* out */
	uint32_t	dzp_pending;	/* out */
} dz_ioc_replay_t;

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof (dz_ioc_recover_t) == 48, "dz_ioc_recover_t");
_Static_assert(sizeof (dz_ioc_list_t) == 48, "dz_ioc_list_t");
_Static_assert(sizeof (dz_link_t) == 88 + 2 * MAXLINKNAMELEN + MAXNAMELEN,
    "dz_link_t");
_Static_assert(sizeof (dz_ioc_holders_t) == 32, "dz_ioc_holders_t");
_Static_assert(sizeof (dz_holder_t) == 32, "dz_holder_t");
_Static_assert(sizeof (dz_ioc_replay_t) == 16, "dz_ioc_replay_t");
#endif

#ifdef	__cplusplus
}
#endif

#endif	/* _SYS_DLSZONE_IOCTL_H */
