/*
 * sys/dlszone.h -- the IPD 3 ("Link management improvements") additions to
 * the datalink services (dls) kernel interface.
 *
 * These entry points are exported by dls_mgmt.o, the dlszone replacement of
 * usr/src/uts/common/io/dls/dls_mgmt.c in misc/dls, next to the existing
 * dls_devnet_*() and dls_mgmt_*() functions of sys/dls.h and sys/dls_impl.h,
 * whose signatures and behaviour for existing callers do not change.
 *
 * Conventions used throughout:
 *
 *   - Every function returning int returns 0 or an errno value from
 *     sys/errno.h (illumos values). On failure nothing has changed and no
 *     output argument has been written, unless its description says
 *     otherwise.
 *   - "Caller's zone" is the zone of the credential passed in (cred_t *cr);
 *     callers pass the credential of the thread they act for (the ioctl's
 *     cred, or CRED()). A non-global caller sees only links currently in
 *     its zone: a link elsewhere is reported as ENOENT, exactly as one that
 *     does not exist.
 *   - Operations reserved to the global zone return EACCES to another
 *     zone, as dld does today for the "zone" link property. Privilege
 *     (secpolicy_dl_config()) is checked by the ioctl layer, which returns
 *     EPERM, as today; these functions do not check privileges.
 *   - A zone incarnation is (zoneid, uniqid): ids are reused, uniqids
 *     never are. The uniqid is the zone's zone_uniqid (ZONE_ATTR_UNIQID)
 *     when dls_mgmt.o is built against the illumos headers (ILLUMOS_GATE);
 *     an object built without them numbers incarnations itself, through
 *     zone-specific data. Either way dls_devnet_snapshot() reports it
 *     (dli_zone_uniqid). A (zoneid, uniqid) pair naming an incarnation
 *     that no longer exists gives ESTALE.
 *   - A cred_t pointer the kernel does not know (only possible with the
 *     host test build) gives EINVAL; a NULL one EFAULT.
 *   - Link names are C strings of 1 to MAXLINKNAMELEN - 1 bytes; a name
 *     with no NUL within MAXLINKNAMELEN bytes is ENAMETOOLONG; a NULL
 *     pointer argument is EFAULT.
 *   - "May sleep": the function may block for an unbounded time (dlmgmtd
 *     door upcalls, waits for holders) and must not be called from
 *     interrupt context, with a spin lock held, or inside a MAC perimeter
 *     unless the description allows it. "Does not sleep" still means it
 *     may block briefly on an adaptive mutex.
 *   - Structures have fixed-width fields only and explicit padding, so
 *     32-bit and 64-bit code share their layout (sizes are asserted
 *     below).
 *
 * The semantics are the registry's (docs/design.md rules 3, 5, 7, 8, 9);
 * docs/integration.md says how the existing dls_devnet_*() and dls_mgmt_*()
 * functions behave in the same object.
 */

#ifndef _SYS_DLSZONE_H
#define	_SYS_DLSZONE_H

#ifndef	DLSZONE_NO_SYS_INCLUDES
#include <sys/types.h>
#include <sys/cred.h>
#include <sys/param.h>
#include <sys/dls.h>
#endif

#ifdef	__cplusplus
extern "C" {
#endif

/* ---- Lending with a transient flag ------------------------------------- */

/*
 * dls_devnet_setzid_transient -- move a link to zone `zid`, marking the
 * loan transient or not.
 *
 * This is SmartOS' three-argument dls_devnet_setzid() under its own name
 * (gate's two-argument dls_devnet_setzid(ddh, zid) is unchanged and equals
 * this function with transient = B_FALSE).
 *
 *   ddh        a handle the caller holds (a temporary hold is enough, as
 *              dld's property path has).
 *   zid        the destination: a running non-global zone to lend the link
 *              to, or GLOBAL_ZONEID to return it to its owner.
 *   transient  B_TRUE: when the borrowing zone halts, the link is destroyed
 *              with it instead of coming back to the global zone. Ignored
 *              when zid is GLOBAL_ZONEID.
 *
 * Lending keeps the link's name: the same name must be free in zid. While
 * the link is away its global-zone name stays reserved, so no create or
 * rename in the global zone can take it, and the return cannot collide
 * (illumos 10001). dlmgmtd is told first (DLMGMT_CMD_SETZONEID) and may
 * refuse; the kernel changes only if it agrees.
 *
 * Returns:
 *   0          moved (or already in zid: nothing to do).
 *   EINVAL     zid outside 0..MAX_ZONEID; transient for a persistent link.
 *   EPERM      the link is owned by a non-global zone (only the global
 *              zone's own links are lent).
 *   EBUSY      the link is lent to another zone already, another move of
 *              it is in flight, or streams opened inside its current zone
 *              are still open (dls_link_setzid()).
 *   EEXIST     zid already has a link of that name.
 *   ENXIO      zid is not a running zone.
 *   EAGAIN     a notice about this link still waits for dlmgmtd (see
 *              dls_mgmt_outbox_replay()); retry after the replay.
 *   EBADF      dlmgmtd is not running; EINTR, ENOENT, ... as dlmgmtd or
 *              the door report them.
 *
 * May sleep (door upcall). May be called inside the link's MAC perimeter,
 * as dld's "zone" property handler does; no dls lock is held across the
 * upcall. Caller zone: the global zone (dld returns EACCES otherwise; this
 * function trusts its caller, as dls_devnet_setzid() does).
 */
extern int	dls_devnet_setzid_transient(dls_dl_handle_t ddh, zoneid_t zid,
		    boolean_t transient);

/* ---- Zone-qualified hold by name ---------------------------------------- */

/* Flags of dls_devnet_hold_zlink(). */
#define	DLS_HOLD_TMP	0x0001	/* temporary hold: dls_devnet_rele_tmp() */
#define	DLS_HOLD_LONG	0x0002	/* long hold: dls_devnet_rele() */

/*
 * dls_devnet_hold_zlink -- find link `link` in zone `zoneid`'s namespace
 * and hold it, in one step.
 *
 * Today a name is resolved by a dlmgmtd upcall and the id then held, and a
 * rename or a move between the two steps makes the hold land on another
 * link. Here the lookup and the hold happen under the same registry lock,
 * without an upcall.
 *
 *   cr      the caller's credential.
 *   zoneid  the zone whose namespace to search; ALL_ZONES for the caller's
 *           zone. A non-global caller may name only its own zone (any
 *           other gives ENOENT).
 *   link    the link name.
 *   flags   exactly one of DLS_HOLD_TMP, DLS_HOLD_LONG.
 *   ddhp    receives the handle on success.
 *
 * Returns:
 *   0             held; release with dls_devnet_rele_tmp() (DLS_HOLD_TMP)
 *                 or dls_devnet_rele() (DLS_HOLD_LONG).
 *   EFAULT        cr, link or ddhp is NULL.
 *   ENAMETOOLONG  no NUL within MAXLINKNAMELEN bytes of link.
 *   EINVAL        an empty name or one dladm would not accept; zoneid
 *                 neither ALL_ZONES nor in 0..MAX_ZONEID; flags not
 *                 exactly one known flag; an unknown credential.
 *   ENOENT        no such link in that zone, or not visible to the caller,
 *                 or being created or destroyed.
 *   ENXIO         DLS_HOLD_LONG from a zone that is halting.
 *   EOVERFLOW     the link's hold counter would wrap.
 *   ENOMEM        no free handle (the handle table grows ahead of demand
 *                 on the system task queue; this needs a burst of holds
 *                 faster than it).
 *
 * Does not sleep; makes no upcall. Any context that may block on an
 * adaptive mutex, including inside a MAC perimeter.
 */
extern int	dls_devnet_hold_zlink(const cred_t *cr, zoneid_t zoneid,
		    const char *link, uint32_t flags, dls_dl_handle_t *ddhp);

/* ---- Forced recovery of a zone ------------------------------------------ */

/* Flags of dls_zone_recover(). */
#define	DLS_RECOVER_FORCE	0x0001	/* reclaim the dead zone's own holds */

/* What dls_zone_recover() did, link by link, summed. */
typedef struct dls_recover_result {
	uint32_t	drr_returned;	/* lent links given back to owner */
	uint32_t	drr_condemned;	/* transient links torn down */
	uint32_t	drr_left;	/* links still in the zone */
	uint32_t	drr_holds_reclaimed; /* zone's own long holds dropped */
	uint32_t	drr_delayed;	/* condemned, free waits for holders */
	uint32_t	drr_notices;	/* notices queued for dlmgmtd */
} dls_recover_result_t;

/*
 * dls_zone_recover -- bring the links of a halted zone to where a clean
 * halt would have left them, without dlmgmtd.
 *
 * For a zone stuck in "down" ("datalinks remain in zone after shutdown"):
 * every lent, non-transient link goes back to its owner under its reserved
 * name; every transient link is condemned and detached, and freed when its
 * last hold goes (a global-zone holder keeps a valid handle). The kernel
 * changes at once; what dlmgmtd should have been told is queued in order
 * (dls_mgmt_outbox_replay() delivers it). Re-running it is harmless.
 *
 *   cr          the caller's credential (global zone only).
 *   zoneid      the zone.
 *   uniqid      the incarnation zoneadmd halted, as dls_devnet_snapshot()
 *               reports it: the zone's zone_uniqid when built into the
 *               gate, dlszone's own number in the standalone module (a
 *               later zone that reused the id is never touched).
 *   timeout_ms  bound on every wait inside (for the zone's gate, for
 *               temporary holds on links it condemns); 0 waits not at all.
 *   flags       0 or DLS_RECOVER_FORCE: also drop long holds taken by the
 *               dead zone itself (they can never be released now). Holds
 *               taken from the global zone are never dropped; they only
 *               delay the free.
 *   res         receives the counts: filled on success and when links
 *               remain (EBUSY); zeroed when nothing was done (EBUSY for a
 *               running zone, ETIMEDOUT); left alone on any other error.
 *
 * Returns:
 *   0          the zone has no links left (res filled).
 *   EFAULT     cr or res is NULL.
 *   EACCES     the caller is not in the global zone.
 *   EINVAL     zoneid is GLOBAL_ZONEID or outside 0..MAX_ZONEID; unknown
 *              flags.
 *   ENXIO      no zone has had that id since the registry knew it.
 *   ESTALE     uniqid does not match the incarnation the registry knows.
 *   EBUSY      the zone is still running (res zeroed); or links remain in
 *              the zone afterwards -- without DLS_RECOVER_FORCE, holds from
 *              inside the zone block a return -- (res filled: drr_left).
 *   ETIMEDOUT  the zone's gate did not come free within timeout_ms (a
 *              halt or a move of one of its links is stuck in an upcall):
 *              nothing was done, res is zeroed; run it again.
 * Temporary holds still outstanding on links it condemned when the
 * deadline passes are not an error: those links are counted in
 * drr_delayed and freed when the holds go.
 *
 * May sleep, for at most about timeout_ms in all; makes no upcall. Must
 * not be called inside a MAC perimeter.
 */
extern int	dls_zone_recover(const cred_t *cr, zoneid_t zoneid,
		    uint64_t uniqid, uint32_t timeout_ms, uint32_t flags,
		    dls_recover_result_t *res);

/* ---- Holders of a link --------------------------------------------------- */

/* dh_kind: who holds the link, and how. */
#define	DLS_HOLDER_EXISTENCE	1	/* the registry: the link exists */
#define	DLS_HOLDER_LOAN		2	/* the registry: lent to a zone */
#define	DLS_HOLDER_STREAM	3	/* DLPI stream (dls_devnet_hold_by_dev) */
#define	DLS_HOLDER_DEVNET	4	/* /dev/net node (dls_devnet_open) */
#define	DLS_HOLDER_NAMED	5	/* dls_devnet_hold(), _hold_zlink() */
#define	DLS_HOLDER_TEMPORARY	6	/* dls_devnet_hold_tmp() and kin */

/* dh_state, and dli_state below. */
#define	DLS_LINK_ACTIVE		1	/* visible and holdable */
#define	DLS_LINK_CONDEMNED	2	/* being destroyed; no new holds */
#define	DLS_LINK_DETACHED	3	/* unreachable; freed at last release */
#define	DLS_LINK_INITIALIZING	4	/* physical link without an id yet */

typedef struct dls_holder {
	datalink_id_t	dh_linkid;
	uint32_t	dh_kind;	/* DLS_HOLDER_* */
	zoneid_t	dh_zoneid;	/* holder's zone; -1 for temporary */
	uint32_t	dh_state;	/* the link's DLS_LINK_* */
	uint64_t	dh_uniqid;	/* holder zone's zone_uniqid */
	uint64_t	dh_count;	/* holds of this kind from that zone */
} dls_holder_t;

/* Flags of dls_devnet_holders(). */
#define	DLS_HOLDERS_DETACHED	0x0001	/* include detached links too */

/*
 * dls_devnet_holders -- who holds link `linkid`.
 *
 * One record per (kind, holder zone) with its count. With
 * DLS_HOLDERS_DETACHED, links with this id that were destroyed or torn
 * down but are still held (a global-zone `snoop -z` on a halted zone's
 * transient link, say) are reported too, with dh_state DLS_LINK_DETACHED;
 * the id may meanwhile belong to a new link, whose records come first.
 *
 *   cr       the caller's credential (global zone only).
 *   linkid   the link.
 *   flags    0 or DLS_HOLDERS_DETACHED.
 *   buf      an array of *countp records (may be NULL when *countp is 0).
 *   countp   in: the capacity of buf; out: the number of records there
 *            are. Records up to the capacity are written.
 *
 * Returns:
 *   0        every record fit.
 *   ENOSPC   the records did not all fit: buf holds the first *countp-in
 *            of them, *countp is the number needed; call again.
 *   EFAULT   cr or countp is NULL, or buf is NULL with *countp > 0.
 *   EACCES   the caller is not in the global zone.
 *   EINVAL   linkid is DATALINK_INVALID_LINKID; unknown flags.
 *   ENOENT   no link (or, with the flag, detached link) has this id.
 *
 * May sleep (it copies the records into allocated memory first); no
 * upcall.
 */
extern int	dls_devnet_holders(const cred_t *cr, datalink_id_t linkid,
		    uint32_t flags, dls_holder_t *buf, uint32_t *countp);

/* ---- Zone-scoped snapshot ---------------------------------------------- */

/* dli_flags */
#define	DLS_LINKF_TRANSIENT	0x0001	/* goes away with its zone */
#define	DLS_LINKF_PERSISTENT	0x0002	/* created persistent */
#define	DLS_LINKF_LENT		0x0004	/* in a zone other than its owner */

typedef struct dls_link_info {
	datalink_id_t	dli_linkid;
	zoneid_t	dli_owner;	/* zone that created it */
	zoneid_t	dli_zone;	/* zone it is in now */
	uint32_t	dli_flags;	/* DLS_LINKF_* */
	uint32_t	dli_state;	/* DLS_LINK_* */
	uint32_t	dli_pad;
	uint64_t	dli_owner_uniqid;
	uint64_t	dli_zone_uniqid;
	uint64_t	dli_long_holds;	/* all long holds, the registry's too */
	char		dli_name[MAXLINKNAMELEN];	/* name in dli_zone */
	char		dli_reserved[MAXLINKNAMELEN];	/* owner-zone name kept */
							/* while lent; "" else */
	char		dli_mac[MAXNAMELEN];		/* MAC name */
} dls_link_info_t;

/*
 * dls_devnet_snapshot -- the links the caller's zone may see, in link id
 * order, taken at one instant.
 *
 * A global-zone caller gets every link; a non-global caller only the links
 * currently in its zone, with dli_reserved always empty and dli_long_holds
 * counting only the holds taken inside its zone and the registry's own
 * (never another zone's, such as a global-zone snoop -z). For dlmgmtd to
 * rebuild its view after a restart, also of zones it cannot enter (zones
 * in "down"), and for `dladm show-link`'s ZONE column.
 *
 *   cr, buf, countp   as for dls_devnet_holders().
 *   genp     if not NULL, receives the registry generation: it changes
 *            whenever a link is created, destroyed, renamed or moved, so a
 *            caller can tell two snapshots of the same state apart from
 *            a retry after ENOSPC that raced a change. A non-global
 *            caller gets a fingerprint of its own view instead, which
 *            changes only when that view does (nothing of other zones).
 *
 * Returns 0, ENOSPC (as for dls_devnet_holders()), EFAULT (cr or countp
 * NULL, or buf NULL with *countp > 0) or EINVAL (unknown credential).
 *
 * May sleep (it copies the table into allocated memory first); no upcall.
 */
extern int	dls_devnet_snapshot(const cred_t *cr, dls_link_info_t *buf,
		    uint32_t *countp, uint64_t *genp);

/* ---- Outbox replay ------------------------------------------------------ */

/*
 * dls_mgmt_outbox_replay -- deliver the queued notices to dlmgmtd.
 *
 * Changes the kernel makes on its own authority (transient links torn down
 * with their zone, forced recovery) are queued, in commit order, for
 * dlmgmtd (DLMGMT_CMD_SETZONEID for a link now elsewhere; a destroy notice
 * for a link that went away). This delivers them oldest first, each exactly
 * once, and stops at the first failure, which stays queued. dlmgmtd must
 * take a notice it has already seen as a no-op.
 *
 * dls_mgmt_door_set(B_TRUE) schedules a replay on system_taskq by itself
 * (never on the registering thread: dlmgmtd may not serve its door yet);
 * this entry point is for zoneadmd and tests.
 *
 *   cr            the caller's credential (global zone only).
 *   deliveredp    if not NULL, receives the number of notices delivered.
 *   pendingp      if not NULL, receives the number still queued.
 *
 * Returns:
 *   0          the queue is empty.
 *   EACCES     the caller is not in the global zone.
 *   EALREADY   another replay is running; it will deliver them.
 *   EBADF      dlmgmtd is not running; EINTR, EAGAIN or what dlmgmtd
 *              answered, for the notice that failed.
 *
 * May sleep (door upcalls). Must not be called inside a MAC perimeter.
 */
extern int	dls_mgmt_outbox_replay(const cred_t *cr, uint32_t *deliveredp,
		    uint32_t *pendingp);

/* ---- Releases with an answer --------------------------------------------- */

/*
 * dls_devnet_release -- release a handle from any hold function
 * (dls_devnet_hold(), _hold_tmp(), _hold_tmp_by_link(), _hold_link(),
 * _hold_by_dev(), _open(), _hold_zlink()), saying what happened.
 *
 * Every hold has a handle of its own, so a release names exactly one hold.
 * The legacy releases (dls_devnet_rele(), _rele_tmp(), _rele_link(),
 * _close()) are void: a release there that matches no hold is ignored and
 * counted (dc_bad_releases); gate panics or corrupts its count instead.
 * A handle from dls_devnet_open() is closed as dls_devnet_close() does
 * (the dls_link_t of the open is released too); one from
 * dls_devnet_hold_link() releases only the hold, not the dls_link_t.
 *
 * Returns:
 *   0        released.
 *   ENOENT   the handle holds nothing: released already (a double
 *            release), never handed out, or forged. Nothing changed.
 *   ESTALE   the hold was taken inside a zone whose links
 *            dls_zone_recover() reclaimed with DLS_RECOVER_FORCE: it was
 *            discarded then; the handle is now free (dc_late_releases).
 *
 * Does not sleep, except for the last release of an implicitly created IP
 * tunnel (it deletes the tunnel, as dls_devnet_rele() does).
 */
extern int	dls_devnet_release(dls_dl_handle_t ddh);

/* ---- Counters -------------------------------------------------------------- */

typedef struct dls_counters {
	uint64_t	dc_bad_releases;  /* releases that matched no hold */
	uint64_t	dc_late_releases; /* releases of reclaimed holds */
	uint64_t	dc_pending_frees; /* detached links still held */
	uint64_t	dc_outbox;	  /* notices waiting for dlmgmtd */
	uint64_t	dc_handles;	  /* handles held now */
	uint64_t	dc_nomem;	  /* holds refused: no free handle */
} dls_counters_t;

/*
 * dls_devnet_counters -- the counters above.
 *
 * Returns 0, EFAULT (cr or out NULL), EACCES (not the global zone), EINVAL
 * (unknown credential). May sleep (it measures the outbox).
 */
extern int	dls_devnet_counters(const cred_t *cr, dls_counters_t *out);

/* ---- Layout -------------------------------------------------------------- */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof (dls_recover_result_t) == 24, "dls_recover_result_t");
_Static_assert(sizeof (dls_holder_t) == 32, "dls_holder_t");
_Static_assert(sizeof (dls_link_info_t) == 48 + 2 * MAXLINKNAMELEN +
    MAXNAMELEN, "dls_link_info_t");
_Static_assert(sizeof (dls_counters_t) == 48, "dls_counters_t");
#endif

#ifdef	__cplusplus
}
#endif

#endif	/* _SYS_DLSZONE_H */
