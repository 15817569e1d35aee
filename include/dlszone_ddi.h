/*
 * dlszone_ddi.h -- the part of the illumos kernel DDI/DKI that dlszone
 * calls, declared by the dlszone project for bindgen.
 *
 * This is not a copy of any illumos header.  Each declaration below states
 * an illumos kernel interface with the type, size and value it has in the
 * amd64 (LP64) kernel; the comment before each group names the illumos-gate
 * header that is authoritative for it.  build.rs feeds this file to bindgen
 * unless ILLUMOS_GATE names an illumos-gate checkout, in which case
 * gate_wrapper.h pulls in the real headers instead and the layout assertions
 * in ffi/layout.rs check that both agree.
 *
 * Rules for additions:
 *  - declare only what the crate uses, with the real C types;
 *  - C enums stay C enums here: bindgen turns them into constants and an
 *    integer type alias (never a Rust enum, see build.rs);
 *  - #define values become integer macros that bindgen emits as constants;
 *  - add the function or data name to the allowlist in build.rs and, when
 *    the kernel module refers to it, to tools/kernel-symbols.allow.
 */
#ifndef DLSZONE_DDI_H
#define DLSZONE_DDI_H

/* ---- Basic types (usr/src/uts/common/sys/types.h, int_types.h) -------- */

typedef unsigned char		uchar_t;
typedef unsigned short		ushort_t;
typedef unsigned int		uint_t;
typedef unsigned long		ulong_t;
typedef unsigned int		uint32_t;
typedef unsigned long		uint64_t;
typedef unsigned long		size_t;		/* LP64 */
typedef long			clock_t;	/* ticks, signed */
typedef int			id_t;
typedef id_t			zoneid_t;
typedef uint32_t		datalink_id_t;

typedef enum {
	B_FALSE = 0,
	B_TRUE = 1
} boolean_t;

/* ---- Zones (usr/src/uts/common/sys/zone.h) ----------------------------- */

#define	GLOBAL_ZONEID		0
#define	MIN_ZONEID		0
#define	MAX_ZONEID		9999
#define	ALL_ZONES		(-1)

/* ---- Error numbers (usr/src/uts/common/sys/errno.h) -------------------- */
/* Exactly the set kernel/errno.rs knows; a unit test compares the two. */

#define	EPERM		1
#define	ENOENT		2
#define	EINTR		4
#define	ENXIO		6
#define	EBADF		9
#define	EAGAIN		11
#define	ENOMEM		12
#define	EACCES		13
#define	EFAULT		14
#define	EBUSY		16
#define	EEXIST		17
#define	EINVAL		22
#define	ENOSPC		28
#define	ENOTSUP		48
#define	ENAMETOOLONG	78
#define	EOVERFLOW	79
#define	ENOTEMPTY	93
#define	ETIMEDOUT	145
#define	EALREADY	149
#define	ESTALE		151

/* ---- Adaptive mutexes (usr/src/uts/common/sys/mutex.h) ----------------- */

typedef enum {
	MUTEX_ADAPTIVE = 0,
	MUTEX_SPIN = 1,
	MUTEX_DRIVER = 4,
	MUTEX_DEFAULT = 6
} kmutex_type_t;

/* One pointer-sized word on LP64; contents private to the kernel. */
typedef struct mutex {
	void	*_opaque[1];
} kmutex_t;

extern void	mutex_init(kmutex_t *, char *, kmutex_type_t, void *);
extern void	mutex_destroy(kmutex_t *);
extern void	mutex_enter(kmutex_t *);
extern int	mutex_tryenter(kmutex_t *);
extern void	mutex_exit(kmutex_t *);
extern int	mutex_owned(kmutex_t *);

/* ---- Readers/writer locks (usr/src/uts/common/sys/rwlock.h) ------------ */

typedef enum {
	RW_DRIVER = 2,
	RW_DEFAULT = 4
} krw_type_t;

typedef enum {
	RW_WRITER = 0,
	RW_READER = 1
} krw_t;

typedef struct _krwlock {
	void	*_opaque[1];
} krwlock_t;

extern void	rw_init(krwlock_t *, char *, krw_type_t, void *);
extern void	rw_destroy(krwlock_t *);
extern void	rw_enter(krwlock_t *, krw_t);
extern int	rw_tryenter(krwlock_t *, krw_t);
extern void	rw_exit(krwlock_t *);
extern int	rw_read_held(krwlock_t *);
extern int	rw_write_held(krwlock_t *);
extern int	rw_lock_held(krwlock_t *);

/* ---- Condition variables (usr/src/uts/common/sys/condvar.h) ------------ */

typedef struct _kcondvar {
	ushort_t	_opaque;
} kcondvar_t;

typedef enum {
	CV_DEFAULT = 0,
	CV_DRIVER = 1
} kcv_type_t;

/* Resolution argument of cv_reltimedwait(). */
typedef enum {
	TR_NANOSEC = 0,
	TR_MICROSEC = 1,
	TR_MILLISEC = 2,
	TR_SEC = 3,
	TR_CLOCK_TICK = 4,
	TR_COUNT = 5
} time_res_t;

extern void	cv_init(kcondvar_t *, char *, kcv_type_t, void *);
extern void	cv_destroy(kcondvar_t *);
extern void	cv_wait(kcondvar_t *, kmutex_t *);
/* 0 when a signal interrupted the wait, > 0 otherwise. */
extern int	cv_wait_sig(kcondvar_t *, kmutex_t *);
/* -1 when the relative timeout (in ticks) passed, > 0 otherwise. */
extern clock_t	cv_reltimedwait(kcondvar_t *, kmutex_t *, clock_t,
		    time_res_t);
/* -1 when the absolute time (an lbolt value, in ticks) passed. */
extern clock_t	cv_timedwait(kcondvar_t *, kmutex_t *, clock_t);
extern void	cv_signal(kcondvar_t *);
extern void	cv_broadcast(kcondvar_t *);

/* ---- Time conversion (usr/src/uts/common/sys/ddi.h) -------------------- */

extern clock_t	drv_usectohz(clock_t);
/* The clock-tick counter (lbolt) now (usr/src/uts/common/sys/sunddi.h). */
extern clock_t	ddi_get_lbolt(void);

/* ---- Kernel memory (usr/src/uts/common/sys/kmem.h) --------------------- */

#define	KM_SLEEP	0x0000	/* may block; never fails */
#define	KM_NOSLEEP	0x0001	/* never blocks; may return NULL */

extern void	*kmem_alloc(size_t, int);
extern void	*kmem_zalloc(size_t, int);
extern void	kmem_free(void *, size_t);

/* ---- Messages and panic (usr/src/uts/common/sys/cmn_err.h) ------------- */

#define	CE_CONT		0
#define	CE_NOTE		1
#define	CE_WARN		2
#define	CE_PANIC	3
#define	CE_IGNORE	4

extern void	cmn_err(int, const char *, ...);
extern void	panic(const char *, ...) __attribute__((__noreturn__));

/* ---- Loadable modules (usr/src/uts/common/sys/modctl.h) ---------------- */

#define	MODREV_1		1
#define	MODMAXNAMELEN		32
#define	MODMAXLINKINFOLEN	32

/* Old-style (unprototyped) entry points, as the kernel declares them. */
struct mod_ops {
	int	(*modm_install)();
	int	(*modm_remove)();
	int	(*modm_info)();
};

/* mod_ops of "misc" modules, defined in genunix. */
extern struct mod_ops mod_miscops;

struct modlmisc {
	struct mod_ops	*misc_modops;
	char		*misc_linkinfo;
};

/* ml_linkage is a NULL-terminated array; 7 slots on LP64. */
struct modlinkage {
	int	ml_rev;
	void	*ml_linkage[7];
};

/* Filled in by mod_info(); dlszone only passes it through. */
struct modinfo;

typedef struct __ddi_modhandle *ddi_modhandle_t;

extern int	mod_install(struct modlinkage *);
extern int	mod_remove(struct modlinkage *);
/* Non-zero on success. */
extern int	mod_info(struct modlinkage *, struct modinfo *);

/* ---- ktest (usr/src/uts/common/sys/ktest.h, kernel section) ------------ */

#define	KTEST_MAX_NAME_LEN	64
#define	KTEST_MAX_LOG_LEN	4096

typedef enum ktest_test_flags {
	KTEST_FLAG_NONE = 0,
	KTEST_FLAG_INPUT = 1
} ktest_test_flags_t;

typedef enum ktest_result_type {
	KTEST_RESULT_NONE = 0,
	KTEST_RESULT_PASS = 1,
	KTEST_RESULT_FAIL = 2,
	KTEST_RESULT_SKIP = 3,
	KTEST_RESULT_ERROR = 4
} ktest_result_type_t;

/* Opaque handles owned by the ktest driver. */
typedef struct __ktest_module_hdl ktest_module_hdl_t;
typedef struct __ktest_suite_hdl ktest_suite_hdl_t;
typedef struct __ktest_test_hdl ktest_test_hdl_t;
typedef struct __ktest_ctx_hdl ktest_ctx_hdl_t;

typedef void (*ktest_fn_t)(ktest_ctx_hdl_t *);

extern int	ktest_create_module(const char *, ktest_module_hdl_t **);
extern int	ktest_add_suite(ktest_module_hdl_t *, const char *,
		    ktest_suite_hdl_t **);
extern int	ktest_add_test(ktest_suite_hdl_t *, const char *, ktest_fn_t,
		    ktest_test_flags_t);
extern int	ktest_register_module(ktest_module_hdl_t *);
extern void	ktest_unregister_module(const char *);
extern void	ktest_free_module(ktest_module_hdl_t *);

extern int	ktest_hold_mod(const char *, ddi_modhandle_t *);
extern void	ktest_release_mod(ddi_modhandle_t);
extern int	ktest_get_fn(ddi_modhandle_t, const char *, void **);

extern void	ktest_get_input(const ktest_ctx_hdl_t *, uchar_t **, size_t *);

extern void	ktest_result_pass(ktest_ctx_hdl_t *, int);
extern void	ktest_result_fail(ktest_ctx_hdl_t *, int, const char *, ...);
extern void	ktest_result_error(ktest_ctx_hdl_t *, int, const char *, ...);
extern void	ktest_result_skip(ktest_ctx_hdl_t *, int, const char *, ...);
extern void	ktest_msg_clear(ktest_ctx_hdl_t *);
extern void	ktest_msg_prepend(ktest_ctx_hdl_t *, const char *, ...);

#endif /* DLSZONE_DDI_H */
