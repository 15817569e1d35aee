/*
 * dlszone_shim.h -- small C functions that read fields of large illumos
 * kernel structures for the dlszone Rust code.
 *
 * Rust never hard-codes an offset into zone_t, cred_t or iptun_kparams_t:
 * where it needs one of their fields, it calls one of these functions,
 * which are compiled against the real illumos-gate headers (build.rs does
 * that for the kernel target when ILLUMOS_GATE names a gate checkout).
 * Only the types below cross the boundary, all of fixed width.
 *
 * Every function may be called from any kernel thread context in which
 * the caller may block on an adaptive mutex (zone_find_by_id() takes
 * zonehash_lock); none sleeps otherwise, none allocates.
 */
#ifndef DLSZONE_SHIM_H
#define	DLSZONE_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The identity of zone `zid`: its zone_uniqid (never reused, unlike zone
 * ids) and its zone_status_t, read under a zone reference.
 * Returns 0, or ENXIO when no zone has that id (zone_find_by_id() found
 * none: never created, or already gone from the zone hash).
 */
extern int	dlszone_zone_key(zoneid_t zid, uint64_t *uniqidp,
		    int *statusp);

/*
 * The zone of credential `cr` (the zone the caller acts for): its id and
 * zone_uniqid. The cred holds its zone, so this takes no zone lock.
 * Returns 0, or EINVAL for a NULL cred.
 */
extern int	dlszone_cred_zone_key(const cred_t *cr, zoneid_t *zidp,
		    uint64_t *uniqidp);

/*
 * Creates the implicit IP tunnel `linkid` of type `type` (an
 * iptun_type_t: 1 IPv4, 2 IPv6, 3 6to4) as credential `cr`, as
 * dls_mgmt.c's implicit-tunnel path does: an iptun_kparams_t with
 * IPTUN_KPARAM_TYPE | IPTUN_KPARAM_IMPLICIT handed to iptun_create().
 * Returns iptun_create()'s result; EINVAL for a type out of range.
 */
extern int	dlszone_iptun_create_implicit(datalink_id_t linkid, int type,
		    cred_t *cr);

#ifdef __cplusplus
}
#endif

#endif /* DLSZONE_SHIM_H */
