/*
 * dlszone_shim.c -- see dlszone_shim.h. Built only for the illumos kernel
 * target and only against the real illumos-gate headers (build.rs adds
 * -I$ILLUMOS_GATE/usr/src/uts/{intel,common} and -D_KERNEL), because it
 * reads fields of zone_t and fills an iptun_kparams_t.
 */
#include <sys/types.h>
#include <sys/errno.h>
#include <sys/systm.h>
#include <sys/cred.h>
#include <sys/zone.h>
#include <sys/dls_mgmt.h>
#include <inet/iptun.h>
#include <inet/iptun/iptun_impl.h>

#include "dlszone_shim.h"

int
dlszone_zone_key(zoneid_t zid, uint64_t *uniqidp, int *statusp)
{
	zone_t *zp;

	if ((zp = zone_find_by_id(zid)) == NULL)
		return (ENXIO);
	*uniqidp = zp->zone_uniqid;
	*statusp = (int)zone_status_get(zp);
	zone_rele(zp);
	return (0);
}

int
dlszone_cred_zone_key(const cred_t *cr, zoneid_t *zidp, uint64_t *uniqidp)
{
	zone_t *zp;

	if (cr == NULL)
		return (EINVAL);
	zp = crgetzone(cr);
	*zidp = zp->zone_id;
	*uniqidp = zp->zone_uniqid;
	return (0);
}

int
dlszone_iptun_create_implicit(datalink_id_t linkid, int type, cred_t *cr)
{
	iptun_kparams_t ik;

	if (type != IPTUN_TYPE_IPV4 && type != IPTUN_TYPE_IPV6 &&
	    type != IPTUN_TYPE_6TO4)
		return (EINVAL);
	bzero(&ik, sizeof (ik));
	ik.iptun_kparam_linkid = linkid;
	ik.iptun_kparam_type = (iptun_type_t)type;
	ik.iptun_kparam_flags = IPTUN_KPARAM_TYPE | IPTUN_KPARAM_IMPLICIT;
	return (iptun_create(&ik, cr));
}
