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
