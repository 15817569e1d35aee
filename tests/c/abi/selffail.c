/*
 * selffail.c -- proof that the C tests bite. Never built with them (its
 * name is not t_*.c): `make c-test` builds and runs it on its own and
 * requires it to fail, as written.
 *
 *   - a check that is false (its line is marked SELFFAIL-CHECK) must be
 *     reported at its line and make the program exit 1;
 *   - a call that changes the state must be caught by CHECK_SAME (the
 *     line marked SELFFAIL-SAME), or the "nothing changed" checks of the
 *     bad-input tests would prove nothing;
 *   - built with -DDT_SELFFAIL_OVERREAD, a name 16 bytes long with no NUL,
 *     where the object reads up to 32, must kill the program at the read
 *     (the guard page behind dt_nonul()'s bytes), or the bad-input tests
 *     of names without a NUL would prove nothing.
 */
#include "dls_test.h"

static void
deliberate_failures(void)
{
	dt_begin("selffail: deliberately failing checks");
	mac_handle_t mh = dt_mac("vnic1");
	datalink_id_t id = dt_link(mh, "net0", DATALINK_CLASS_VNIC,
	    GLOBAL_ZONEID, B_FALSE);
	dls_dl_handle_t ddh;
	dt_state_t before;

	/* The link exists: the hold succeeds, and this check is false. */
	CHECK_EQ(dls_devnet_hold_tmp(id, &ddh), I_ENOENT); /* SELFFAIL-CHECK */
	dls_devnet_rele_tmp(ddh);

	/* A rename changes the state: this comparison must fail. */
	dt_state_take(&before);
	CHECK_EQ(dls_devnet_rename(id, DATALINK_INVALID_LINKID, "net1"), 0);
	CHECK_SAME(before); /* SELFFAIL-SAME */

#ifdef	DT_SELFFAIL_OVERREAD
	char *name = dt_nonul(16);
	(void) dls_devnet_hold_zlink(CRED(GLOBAL_ZONEID), ALL_ZONES, name,
	    DLS_HOLD_TMP, &ddh);
	/* Not reached: the read past the 16 bytes faults. */
	(void) printf("selffail: the over-read was not caught\n");
	dt_nonul_free(name, 16);
#endif

	datalink_id_t out;
	CHECK_EQ(dls_devnet_destroy(mh, &out, B_TRUE), 0);
	dt_end();
}

int
main(void)
{
	static void (*const tests[])(void) = {
		deliberate_failures,
	};
	return (dt_main(tests, sizeof (tests) / sizeof (tests[0])));
}
