/*
 * gate_wrapper.h -- bindgen input when ILLUMOS_GATE names an illumos-gate
 * checkout.  build.rs adds -I$ILLUMOS_GATE/usr/src/uts/intel and
 * -I$ILLUMOS_GATE/usr/src/uts/common and -D_KERNEL, so these are the real
 * kernel headers.  bindgen's allowlists (build.rs) keep the same items as
 * with dlszone_ddi.h; ffi/layout.rs checks that the two agree.
 */
#include <sys/types.h>
#include <sys/errno.h>
#include <sys/param.h>
#include <sys/mutex.h>
#include <sys/rwlock.h>
#include <sys/condvar.h>
#include <sys/kmem.h>
#include <sys/cmn_err.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>
#include <sys/modctl.h>
#include <sys/zone.h>
#include <sys/ktest.h>
/* The dls_mgmt.o seam (docs/integration.md). */
#include <sys/systm.h>
#include <sys/cred.h>
#include <sys/door.h>
#include <sys/taskq.h>
#include <sys/kstat.h>
#include <sys/netstack.h>
#include <sys/modhash.h>
#include <sys/mac.h>
#include <sys/mac_client.h>
#include <sys/mac_client_priv.h>
#include <sys/dls.h>
#include <sys/dls_impl.h>
#include <sys/dls_mgmt.h>
#include <sys/softmac.h>
#include <inet/iptun.h>
#include <inet/iptun/iptun_impl.h>

/* drv/dlszone (kernel/drv). */
#include <sys/stat.h>
#include <sys/open.h>
#include <sys/file.h>
#include <sys/conf.h>
#include <sys/devops.h>
#include <sys/policy.h>

/* No header declares it; dls_mgmt.c declares it itself (uadmin.c). */
extern int sys_shutdown;
