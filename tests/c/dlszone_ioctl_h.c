/*
 * dlszone_ioctl_h.c -- compiles include/sys/dlszone_ioctl.h outside the
 * kernel (with stand-ins for the types it takes from sys/types.h and
 * sys/param.h) and prints the layout of its structures, one "name value"
 * line per fact, so a test can compare them with the Rust side
 * (kernel/drv/ioctl). The header's own _Static_asserts and the ones below
 * run for every data model it is compiled for: the test compiles it for
 * amd64 (and runs it) and for i386 (syntax only).
 */
#include <stddef.h>
#include <stdint.h>

#define	MAXLINKNAMELEN	32
#define	MAXNAMELEN	256
#define	DLSZONE_NO_SYS_INCLUDES
#include "../../include/sys/dlszone_ioctl.h"

/* The same offsets for 32- and 64-bit code. */
_Static_assert(offsetof(dz_ioc_recover_t, dzr_uniqid) == 8, "dzr_uniqid");
_Static_assert(offsetof(dz_ioc_recover_t, dzr_notices) == 44, "dzr_notices");
_Static_assert(offsetof(dz_ioc_list_t, dzl_buf) == 24, "dzl_buf");
_Static_assert(offsetof(dz_ioc_list_t, dzl_generation) == 32, "dzl_gen");
_Static_assert(offsetof(dz_link_t, dzk_holds) == 40, "dzk_holds");
_Static_assert(offsetof(dz_link_t, dzk_name) == 88, "dzk_name");
_Static_assert(offsetof(dz_link_t, dzk_mac) == 152, "dzk_mac");
_Static_assert(offsetof(dz_ioc_holders_t, dzh_buf) == 24, "dzh_buf");
_Static_assert(offsetof(dz_holder_t, dzhe_count) == 24, "dzhe_count");
_Static_assert(DZIOC_LIST == 0x647a6302, "DZIOC_LIST");

#ifndef	DLSZONE_SYNTAX_ONLY
#include <stdio.h>

#define	SZ(t)		printf("%s %zu\n", #t, sizeof (t))
#define	OFF(t, f)	printf("%s.%s %zu\n", #t, #f, offsetof(t, f))
#define	VAL(v)		printf("%s %ld\n", #v, (long)(v))

int
main(void)
{
	SZ(dz_ioc_recover_t);
	OFF(dz_ioc_recover_t, dzr_zoneid);
	OFF(dz_ioc_recover_t, dzr_uniqid);
	OFF(dz_ioc_recover_t, dzr_flags);
	OFF(dz_ioc_recover_t, dzr_timeout_ms);
	OFF(dz_ioc_recover_t, dzr_returned);
	OFF(dz_ioc_recover_t, dzr_left);
	OFF(dz_ioc_recover_t, dzr_notices);
	SZ(dz_ioc_list_t);
	OFF(dz_ioc_list_t, dzl_zoneid);
	OFF(dz_ioc_list_t, dzl_capacity);
	OFF(dz_ioc_list_t, dzl_count);
	OFF(dz_ioc_list_t, dzl_total);
	OFF(dz_ioc_list_t, dzl_buf);
	OFF(dz_ioc_list_t, dzl_generation);
	OFF(dz_ioc_list_t, dzl_oflags);
	SZ(dz_link_t);
	OFF(dz_link_t, dzk_owner);
	OFF(dz_link_t, dzk_zone);
	OFF(dz_link_t, dzk_flags);
	OFF(dz_link_t, dzk_state);
	OFF(dz_link_t, dzk_owner_uniqid);
	OFF(dz_link_t, dzk_zone_uniqid);
	OFF(dz_link_t, dzk_holds);
	OFF(dz_link_t, dzk_name);
	OFF(dz_link_t, dzk_reserved);
	OFF(dz_link_t, dzk_mac);
	SZ(dz_ioc_holders_t);
	OFF(dz_ioc_holders_t, dzh_linkid);
	OFF(dz_ioc_holders_t, dzh_flags);
	OFF(dz_ioc_holders_t, dzh_capacity);
	OFF(dz_ioc_holders_t, dzh_total);
	OFF(dz_ioc_holders_t, dzh_buf);
	SZ(dz_holder_t);
	OFF(dz_holder_t, dzhe_kind);
	OFF(dz_holder_t, dzhe_zoneid);
	OFF(dz_holder_t, dzhe_state);
	OFF(dz_holder_t, dzhe_uniqid);
	OFF(dz_holder_t, dzhe_count);
	SZ(dz_ioc_replay_t);
	OFF(dz_ioc_replay_t, dzp_delivered);
	OFF(dz_ioc_replay_t, dzp_pending);
	VAL(DZIOC_RECOVER);
	VAL(DZIOC_LIST);
	VAL(DZIOC_HOLDERS);
	VAL(DZIOC_REPLAY);
	VAL(DZIOC_VERSION);
	VAL(DZ_RECOVER_FORCE);
	VAL(DZ_RECOVER_MAX_TIMEOUT_MS);
	VAL(DZ_LIST_NOHOLDS);
	VAL(DZ_HOLDERS_DETACHED);
	VAL(DZ_LINK_TRANSIENT);
	VAL(DZ_LINK_PERSISTENT);
	VAL(DZ_LINK_LENT);
	VAL(DZ_STATE_DETACHED);
	VAL(DZ_HOLD_TEMPORARY);
	VAL(DZ_HOLD_KINDS);
	return (0);
}
#endif
