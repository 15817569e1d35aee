/*
 * dlszone_host.h -- the control functions of the host kernel that the host
 * build of dls_mgmt.o runs on (kernel/dls/host.rs). Tests only: none of
 * these exists in the kernel object.
 */
#ifndef DLSZONE_HOST_H
#define	DLSZONE_HOST_H

#include <stdint.h>

/* A fresh fake kernel and dlmgmtd; call with dls not loaded. */
extern void	dlszone_host_reset(void);
/* The calling thread acts for zone `zid`. */
extern void	dlszone_host_set_zone(int zid);
/* A credential of zone `zid`. */
extern const void *dlszone_host_cred(int zid);

/*
 * Zones: boot (netstack create), halt (netstack shutdown), destroy. Boot
 * returns the incarnation the kernel's datalink code knows the zone by
 * (what dls_devnet_snapshot() and dls_devnet_holders() report and
 * dls_zone_recover() takes): the zone_uniqid given here on the host build;
 * on the loaded object built without gate headers, the number the object
 * gave the zone itself (kernel/kmod/zone.rs).
 */
extern uint64_t	dlszone_host_zone_boot(int zid, uint64_t uniqid);
/* That incarnation, now (0 for the global zone or no such zone). */
extern uint64_t	dlszone_host_zone_incarnation(int zid);
extern void	dlszone_host_zone_status(int zid, int status);
/* Zone `zid`'s zone_status_t; -1 if the kernel has no such zone. */
extern int	dlszone_host_zone_state(int zid);
extern void	dlszone_host_zone_halt(int zid);
extern void	dlszone_host_zone_destroy(int zid);

/* MACs and their dls_link_t. */
extern void	*dlszone_host_mac(const char *name);
extern int	dlszone_host_link_refs(const char *mac);
extern int	dlszone_host_link_zone(const char *mac);
/* A caller drops a dls_link_t reference it holds (dls_link_rele(), inside
 * the MAC's perimeter, as dld does). */
extern void	dlszone_host_link_rele(void *dlp);

/* The next call of kernel function `op` fails with `errno`: op is one of
 * link_hold_create, link_hold, link_rele_by_name, link_setzid,
 * perim_enter, mac_rename_primary, mac_exclusive, door_open,
 * iptun_create, iptun_delete, kstat_create. */
extern void	dlszone_host_fail_next(const char *op, int errno_value);

extern int	dlszone_host_perims_held(void);
/* The calling thread enters (or leaves) the perimeter of MAC `mac`, as dld
 * does around dls_devnet_hold_link() and dls_devnet_rele_link(). */
extern int	dlszone_host_perim_enter(const char *mac);
extern int	dlszone_host_perim_exit(const char *mac);
extern void	dlszone_host_taskq_drain(void);
extern void	dlszone_host_taskq_refuse(int refuse);
extern int	dlszone_host_kstats(const char *name, int zid);
extern int	dlszone_host_kstats_total(void);
extern int	dlszone_host_console_lines(void);
extern int	dlszone_host_kernel_complaints(void);
extern void	dlszone_host_device(const char *drv, uint32_t major,
		    uint32_t inst);
extern int	dlszone_host_softmac_recreates(void);
/* Whether implicit tunnel `linkid` exists (iptun registered its MAC,
 * "iptun<linkid>", and created its link through dls_devnet_create()). */
extern int	dlszone_host_tunnel(uint32_t linkid);

/* dlmgmtd. */
extern void	dlszone_host_dlmgmtd_start(void);
extern void	dlszone_host_dlmgmtd_kill(void);
extern uint32_t	dlszone_host_dlmgmtd_add(const char *name, uint32_t class,
		    uint32_t flags, int zid, uint64_t phymaj, uint64_t phyinst);
extern int	dlszone_host_dlmgmtd_zone(uint32_t linkid);
extern int	dlszone_host_dlmgmtd_calls(int cmd);
extern void	dlszone_host_dlmgmtd_fail_next(int cmd, uint32_t errno_value);
/* A digest of dlmgmtd's link records: equal digests, equal records. */
extern uint64_t	dlszone_host_dlmgmtd_digest(void);
/* libdladm's rename of a link in dlmgmtd (before DLDIOC_RENAME). */
extern int	dlszone_host_dlmgmtd_rename(uint32_t linkid, const char *name);
/* dlmgmtd's next door call of command `cmd` (0: any) hangs until
 * unstalled; _hanging() waits (up to 10 s) for it to hang. */
extern void	dlszone_host_dlmgmtd_stall(int cmd);
extern int	dlszone_host_dlmgmtd_hanging(void);
extern void	dlszone_host_dlmgmtd_unstall(void);

/* Waits for queued tasks; the number of notices still queued. */
extern int	dlszone_host_settle(void);

#endif /* DLSZONE_HOST_H */
