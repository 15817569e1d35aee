/*
 * dlszone_h.c -- compiles include/sys/dlszone.h outside the kernel (with
 * stand-ins for the kernel types it uses) and prints the layout of its
 * structures, so a unit test can check that they are the same for 32- and
 * 64-bit code and as documented. The header's own _Static_asserts run too
 * (this file is compiled as C11).
 */
#include <stddef.h>
#include <stdint.h>

typedef int		zoneid_t;
typedef uint32_t	datalink_id_t;
typedef enum { B_FALSE = 0, B_TRUE = 1 } boolean_t;
typedef struct cred	cred_t;
typedef struct dls_devnet_s *dls_dl_handle_t;
#define	MAXLINKNAMELEN	32
#define	MAXNAMELEN	256

#define	DLSZONE_NO_SYS_INCLUDES
#include "../../include/sys/dlszone.h"

/*
 * The layout, for 32- and 64-bit alike (the unit test also compiles this
 * file for i386 with -ffreestanding -fsyntax-only: these asserts are the
 * whole check there).
 */
_Static_assert(offsetof(dls_holder_t, dh_uniqid) == 16, "dh_uniqid");
_Static_assert(offsetof(dls_holder_t, dh_count) == 24, "dh_count");
_Static_assert(offsetof(dls_link_info_t, dli_owner_uniqid) == 24, "owner");
_Static_assert(offsetof(dls_link_info_t, dli_long_holds) == 40, "holds");
_Static_assert(offsetof(dls_link_info_t, dli_name) == 48, "dli_name");
_Static_assert(offsetof(dls_link_info_t, dli_reserved) == 80, "reserved");
_Static_assert(offsetof(dls_link_info_t, dli_mac) == 112, "dli_mac");

#ifndef	DLSZONE_SYNTAX_ONLY
#include <stdio.h>

#define	SZ(t)		printf("%s %zu\n", #t, sizeof (t))
#define	OFF(t, f)	printf("%s.%s %zu\n", #t, #f, offsetof(t, f))

int
main(void)
{
	SZ(dls_recover_result_t);
	OFF(dls_recover_result_t, drr_notices);
	SZ(dls_holder_t);
	OFF(dls_holder_t, dh_uniqid);
	OFF(dls_holder_t, dh_count);
	SZ(dls_link_info_t);
	OFF(dls_link_info_t, dli_owner_uniqid);
	OFF(dls_link_info_t, dli_long_holds);
	OFF(dls_link_info_t, dli_name);
	OFF(dls_link_info_t, dli_reserved);
	OFF(dls_link_info_t, dli_mac);
	return (0);
}
#endif
