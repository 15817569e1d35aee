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
typedef unsigned long		uintptr_t;	/* int_types.h, LP64 */
typedef long			intptr_t;	/* int_types.h, LP64 */
typedef int			int32_t;
typedef long long		longlong_t;
typedef longlong_t		hrtime_t;	/* sys/time.h */
typedef uint_t			major_t;
typedef uint_t			minor_t;
typedef ulong_t			dev_t;		/* 32-bit major, 32-bit minor */
typedef int			pid_t;

typedef enum {
	B_FALSE = 0,
	B_TRUE = 1
} boolean_t;

/* ---- Zones (usr/src/uts/common/sys/zone.h) ----------------------------- */

#define	GLOBAL_ZONEID		0
#define	MIN_ZONEID		0
#define	MAX_ZONEID		9999
#define	ALL_ZONES		(-1)
#define	GLOBAL_ZONEUNIQID	0

/* A zone's life cycle, in order; zone_status_get() returns one. */
typedef enum {
	ZONE_IS_UNINITIALIZED = 0,
	ZONE_IS_INITIALIZED,
	ZONE_IS_READY,
	ZONE_IS_BOOTING,
	ZONE_IS_RUNNING,
	ZONE_IS_SHUTTING_DOWN,
	ZONE_IS_EMPTY,
	ZONE_IS_DOWN,
	ZONE_IS_DYING,
	ZONE_IS_DEAD
} zone_status_t;

/* Opaque here: fields are read only through ffi/shim (zone_uniqid). */
typedef struct zone zone_t;

extern zoneid_t		getzoneid(void);
/* Takes a reference (zone_rele() it); NULL for an unknown or dead id. */
extern zone_t		*zone_find_by_id(zoneid_t);
extern void		zone_rele(zone_t *);
extern zone_status_t	zone_status_get(zone_t *);
/* Calls the walker for every datalink in the zone's zone_dl_list. */
extern int		zone_datalink_walk(zoneid_t,
			    int (*)(datalink_id_t, void *), void *);
extern int		zone_check_datalink(zoneid_t *, datalink_id_t);

/*
 * Zone-specific data (ZSD).  A key is a small integer; 0 is the value of a
 * key not yet created (ZONE_KEY_UNINITIALIZED).  zone_key_create() calls
 * the create callback for every zone initialised and not yet down, then
 * for every zone created later, and stores what it returns as that zone's
 * value for the key; it writes the key only once those calls are done.
 * The shutdown and destroy callbacks (either may be NULL) get the value
 * back when the zone goes away or the key is deleted.  zone_getspecific()
 * returns NULL for a zone without a value (or for an unknown key).
 */
#define	ZONE_KEY_UNINITIALIZED	0

typedef uint_t zone_key_t;

extern void	zone_key_create(zone_key_t *, void *(*)(zoneid_t),
		    void (*)(zoneid_t, void *), void (*)(zoneid_t, void *));
/* 0, or -1 for a key that was never created. */
extern int	zone_key_delete(zone_key_t);
extern void	*zone_getspecific(zone_key_t, zone_t *);

/* ---- Credentials (usr/src/uts/common/sys/cred.h, sys/sunddi.h) --------- */

typedef struct cred cred_t;

/* The calling process's zone's kernel credential (door upcalls use it). */
extern cred_t		*zone_kcred(void);
extern zoneid_t		crgetzoneid(const cred_t *);
extern struct zone	*crgetzone(const cred_t *);
/*
 * CRED() is a macro over curthread; modules outside genunix get the same
 * pointer from ddi_get_cred() (sys/sunddi.h).
 */
extern cred_t		*ddi_get_cred(void);

/* ---- Datalink identity (usr/src/uts/common/sys/dls_mgmt.h) ------------ */

#define	DATALINK_INVALID_LINKID	0

typedef enum {
	DATALINK_CLASS_PHYS		= 0x01,
	DATALINK_CLASS_VLAN		= 0x02,
	DATALINK_CLASS_AGGR		= 0x04,
	DATALINK_CLASS_VNIC		= 0x08,
	DATALINK_CLASS_ETHERSTUB	= 0x10,
	DATALINK_CLASS_SIMNET		= 0x20,
	DATALINK_CLASS_BRIDGE		= 0x40,
	DATALINK_CLASS_IPTUN		= 0x80,
	DATALINK_CLASS_PART		= 0x100,
	DATALINK_CLASS_OVERLAY		= 0x200,
	DATALINK_CLASS_MISC		= 0x400
} datalink_class_t;

/* Media type in the low word; bit 32 set: any media. */
typedef uint64_t		datalink_media_t;

#define	DLMGMT_ACTIVE		0x01
#define	DLMGMT_PERSIST		0x02
#define	DLMGMT_TRANSIENT	0x04

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
extern int	mutex_owned(const kmutex_t *);

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

/* ---- Time conversion and sleeping (usr/src/uts/common/sys/ddi.h) ------- */

extern clock_t	drv_usectohz(clock_t);
/* The clock-tick counter (lbolt) now (usr/src/uts/common/sys/sunddi.h). */
extern clock_t	ddi_get_lbolt(void);
/* Sleeps at least this many ticks; may not be called with a spin lock. */
extern void	delay(clock_t);

/* ---- Device numbers and names (sys/ddi.h, sys/sunddi.h) ---------------- */

typedef struct __dev_info dev_info_t;

extern major_t		getmajor(dev_t);
extern minor_t		getminor(dev_t);
extern dev_t		makedevice(major_t, minor_t);
extern char		*ddi_major_to_name(major_t);
extern major_t		ddi_name_to_major(char *);
extern dev_info_t	*ddi_hold_devi_by_instance(major_t, int, int);
extern void		ddi_release_devi(dev_info_t *);

/* ---- Doors, kernel interface (usr/src/uts/common/sys/door.h) ---------- */

typedef unsigned long long	door_ptr_t;
typedef unsigned long long	door_id_t;
typedef unsigned int		door_attr_t;

#define	DOOR_REVOKED	0x08

typedef struct __door_handle *door_handle_t;
typedef struct door_desc door_desc_t;

/*
 * sys/door.h lays door_desc_t and door_info_t out with 4-byte packing on
 * amd64 (its 64-bit members are 4-byte aligned, as on i386), so one
 * layout serves 32- and 64-bit processes: door_info_t is 48 bytes, not 56.
 */
#pragma pack(4)
typedef struct door_info {
	pid_t		di_target;
	door_ptr_t	di_proc;
	door_ptr_t	di_data;
	door_attr_t	di_attributes;
	door_id_t	di_uniquifier;
	int		di_resv[4];
} door_info_t;
#pragma pack()

typedef struct door_arg {
	char		*data_ptr;
	size_t		data_size;
	door_desc_t	*desc_ptr;
	uint_t		desc_num;
	char		*rbuf;
	size_t		rsize;
} door_arg_t;

extern int	door_ki_open(char *, door_handle_t *);
extern void	door_ki_hold(door_handle_t);
extern void	door_ki_rele(door_handle_t);
extern int	door_ki_info(door_handle_t, door_info_t *);
/*
 * Calls the door as the given credential; a reply larger than rsize is
 * put in a buffer the door layer allocates (rbuf then changes).
 */
extern int	door_ki_upcall_limited(door_handle_t, door_arg_t *,
		    struct cred *, size_t, uint_t);

/*
 * Set once the system is going down (usr/src/uts/common/syscall/uadmin.c).
 * No header declares it; dls_mgmt.c declares it itself.
 */
extern int	sys_shutdown;

/* ---- Task queues (usr/src/uts/common/sys/taskq.h) ---------------------- */

typedef struct taskq taskq_t;
typedef uintptr_t taskqid_t;
typedef void (task_func_t)(void *);

#define	TQ_SLEEP	0x00
#define	TQ_NOSLEEP	0x01

extern taskq_t		*system_taskq;
/* 0 on failure (only possible without TQ_SLEEP). */
extern taskqid_t	taskq_dispatch(taskq_t *, task_func_t, void *, uint_t);
extern void		taskq_wait_id(taskq_t *, taskqid_t);

/* ---- Kernel statistics (usr/src/uts/common/sys/kstat.h) ---------------- */

#define	KSTAT_STRLEN		31
#define	KSTAT_TYPE_NAMED	1
#define	KSTAT_FLAG_VIRTUAL	0x01
#define	KSTAT_DATA_UINT32	2
#define	KSTAT_DATA_UINT64	4
#define	KSTAT_READ		0
#define	KSTAT_WRITE		1

typedef int kid_t;

typedef struct kstat {
	hrtime_t	ks_crtime;
	struct kstat	*ks_next;
	kid_t		ks_kid;
	char		ks_module[KSTAT_STRLEN];
	uchar_t		ks_resv;
	int		ks_instance;
	char		ks_name[KSTAT_STRLEN];
	uchar_t		ks_type;
	char		ks_class[KSTAT_STRLEN];
	uchar_t		ks_flags;
	void		*ks_data;
	uint_t		ks_ndata;
	size_t		ks_data_size;
	hrtime_t	ks_snaptime;
	int		(*ks_update)(struct kstat *, int);
	void		*ks_private;
	int		(*ks_snapshot)(struct kstat *, void *, int);
	void		*ks_lock;
} kstat_t;

/*
 * The header's value union also has obsolete float and double members;
 * they are left out (the kernel target has no FPU use), which changes
 * neither size nor alignment (ffi/layout.rs).
 */
typedef struct kstat_named {
	char	name[KSTAT_STRLEN];
	uchar_t	data_type;
	union {
		char		c[16];
		int32_t		i32;
		uint32_t	ui32;
		struct {
			union {
				char	*ptr;
				char	__pad[8];
			} addr;
			uint32_t	len;
		} str;
		long		i64;
		uint64_t	ui64;
		long		l;
		ulong_t		ul;
	} value;
} kstat_named_t;

extern kstat_t	*kstat_create(const char *, int, const char *, const char *,
		    uchar_t, uint_t, uchar_t);
extern kstat_t	*kstat_create_zone(const char *, int, const char *,
		    const char *, uchar_t, uint_t, uchar_t, zoneid_t);
extern void	kstat_install(kstat_t *);
extern void	kstat_delete(kstat_t *);
extern void	kstat_named_init(kstat_named_t *, const char *, uchar_t);

/* ---- Network stacks (usr/src/uts/common/sys/netstack.h) ---------------- */

typedef id_t netstackid_t;
typedef struct netstack netstack_t;

#define	NS_DLS		0

/*
 * The callbacks: create (returns the module's per-stack state), shutdown
 * and destroy (each given that state). The header spells the pointer
 * types out; so does this declaration, so bindgen names nothing new.
 */
extern void		netstack_register(int,
			    void *(*)(netstackid_t, netstack_t *),
			    void (*)(netstackid_t, void *),
			    void (*)(netstackid_t, void *));
extern void		netstack_unregister(int);
extern zoneid_t		netstackid_to_zoneid(netstackid_t);
extern netstack_t	*netstack_get_current(void);
extern void		netstack_rele(netstack_t *);

/* ---- Modhash (usr/src/uts/common/sys/modhash.h) ------------------------ */

typedef struct mod_hash mod_hash_t;
typedef void *mod_hash_key_t;
typedef void *mod_hash_val_t;

/* 0 when found; MH_ERR_NOTFOUND (-1) otherwise. */
extern int	mod_hash_find(mod_hash_t *, mod_hash_key_t, mod_hash_val_t *);

/* ---- MAC (sys/mac.h, sys/mac_client.h, sys/mac_client_priv.h) ---------- */

typedef struct __mac_handle *mac_handle_t;
typedef struct __mac_perim_handle *mac_perim_handle_t;

extern const char	*mac_name(mac_handle_t);
extern int		mac_open(const char *, mac_handle_t *);
extern void		mac_close(mac_handle_t);
extern int		mac_rename_primary(mac_handle_t, const char *);
extern void		mac_perim_enter_by_mh(mac_handle_t, mac_perim_handle_t *);
extern int		mac_perim_enter_by_macname(const char *,
			    mac_perim_handle_t *);
extern int		mac_perim_enter_by_linkid(datalink_id_t,
			    mac_perim_handle_t *);
extern void		mac_perim_exit(mac_perim_handle_t);
extern boolean_t	mac_perim_held(mac_handle_t);
extern int		mac_mark_exclusive(mac_handle_t);
extern void		mac_unmark_exclusive(mac_handle_t);

/* ---- The rest of misc/dls (sys/dls.h, sys/dls_impl.h) ------------------ */

/*
 * dls_link_t is opaque here. Its first member is dl_name, the MAC name
 * (char[MAXNAMELEN]), so a dls_link_t pointer is also a pointer to that
 * NUL-terminated name: C puts the first member at offset 0.
 */
typedef struct dls_link_s dls_link_t;
typedef struct dls_dev_t *dls_dev_handle_t;

/* MAC name -> dls_link_t, defined in dls_link.c. */
extern mod_hash_t	*i_dls_link_hash;

extern int	dls_link_hold(const char *, dls_link_t **);
extern int	dls_link_hold_create(const char *, dls_link_t **);
extern void	dls_link_rele(dls_link_t *);
extern int	dls_link_rele_by_name(const char *);
extern int	dls_link_setzid(const char *, zoneid_t);
extern int	dls_link_getzid(const char *, zoneid_t *);
extern dev_t	dls_link_dev(dls_link_t *);
extern int	dls_stat_create(const char *, int, const char *, zoneid_t,
		    int (*)(struct kstat *, int), void *, kstat_t **);
extern int	dls_stat_update(kstat_t *, dls_link_t *, int);

/* ---- softmac (usr/src/uts/common/sys/softmac.h) ------------------------ */

extern int	softmac_hold_device(dev_t, dls_dev_handle_t *);
extern void	softmac_rele_device(dls_dev_handle_t);
extern void	softmac_recreate(void);

/* ---- IP tunnels (inet/iptun.h, inet/iptun/iptun_impl.h) ---------------- */

/*
 * The members of iptun_kparams_t that are not set for an implicit tunnel
 * (addresses, IPsec request) keep their types so the structure has its
 * real layout; Rust sees them as opaque blobs of the same size and
 * alignment (OPAQUE in build.rs), and ffi/layout.rs pins every offset.
 *
 * sys/socket_impl.h: 256 bytes, aligned like its double member (8 on
 * amd64).  sa_family_t is a uint16_t.
 */
struct sockaddr_storage {
	unsigned short	ss_family;
	char		_ss_pad1[8 - sizeof (unsigned short)];
	double		_ss_align;
	char		_ss_pad2[256 - 8 - 8];
};

/* netinet/in.h: 16 bytes, 4-byte aligned. */
typedef struct ipsec_req {
	uint_t		ipsr_ah_req;
	uint_t		ipsr_esp_req;
	uint_t		ipsr_self_encap_req;
	uchar_t		ipsr_auth_alg;
	uchar_t		ipsr_esp_alg;
	uchar_t		ipsr_esp_auth_alg;
} ipsec_req_t;

/* inet/iptun.h */
typedef enum {
	IPTUN_TYPE_UNKNOWN = 0,
	IPTUN_TYPE_IPV4,
	IPTUN_TYPE_IPV6,
	IPTUN_TYPE_6TO4
} iptun_type_t;

/*
 * inet/iptun.h; the same size (544 bytes) for 32- and 64-bit code, with an
 * explicit trailing pad.
 */
typedef struct iptun_kparams {
	datalink_id_t		iptun_kparam_linkid;
	uint32_t		iptun_kparam_flags;
	struct sockaddr_storage	iptun_kparam_laddr;
	struct sockaddr_storage	iptun_kparam_raddr;
	ipsec_req_t		iptun_kparam_secinfo;
	iptun_type_t		iptun_kparam_type;
	uint32_t		_iptun_kparam_padding;
} iptun_kparams_t;

/* iptun_kparam_flags: which members are set, and how it was created. */
#define	IPTUN_KPARAM_TYPE	0x00000001
#define	IPTUN_KPARAM_IMPLICIT	0x00000010

extern int	iptun_create(iptun_kparams_t *, cred_t *);
extern int	iptun_delete(datalink_id_t, cred_t *);

/* ---- Kernel memory (usr/src/uts/common/sys/kmem.h) --------------------- */

#define	KM_SLEEP	0x0000	/* may block; never fails */
#define	KM_NOSLEEP	0x0001	/* never blocks; may return NULL */

extern void	*kmem_alloc(size_t, int);
extern void	*kmem_zalloc(size_t, int);
extern void	kmem_free(void *, size_t);

/*
 * Object caches (kmem_cache_create(9F)).  Both types are opaque to kmem's
 * clients; a NULL vmem_t means the default kmem arena, and align 0 means
 * KMEM_ALIGN.  The constructor, destructor and reclaim callbacks may be
 * NULL.
 */
typedef struct kmem_cache kmem_cache_t;
typedef struct vmem vmem_t;

extern kmem_cache_t	*kmem_cache_create(char *, size_t, size_t,
			    int (*)(void *, void *, int), void (*)(void *, void *),
			    void (*)(void *), void *, vmem_t *, int);
extern void		kmem_cache_destroy(kmem_cache_t *);
extern void		*kmem_cache_alloc(kmem_cache_t *, int);
extern void		kmem_cache_free(kmem_cache_t *, void *);

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

/* ---- Character device drivers (sys/devops.h, sys/conf.h, sys/modctl.h) - */
/*
 * What drv/dlszone (kernel/drv) needs to be a pseudo driver: the dev_ops
 * and cb_ops vectors, its modldrv, attach/detach/getinfo commands, minor
 * nodes, user copies and the datalink privilege.
 */

typedef char			*caddr_t;	/* sys/types.h */
typedef long			off_t;		/* LP64 */
typedef long long		offset_t;
typedef long			daddr_t;
typedef void			*devmap_cookie_t; /* sys/ddidevmap.h */

/* Only pointed at. */
struct buf;
struct uio;
struct as;
struct pollhead;
struct aio_req;
struct streamtab;
struct bus_ops;

/* sys/ddipropdefs.h */
typedef enum {
	PROP_LEN = 0,
	PROP_LEN_AND_VAL_BUF = 1,
	PROP_LEN_AND_VAL_ALLOC = 2,
	PROP_EXISTS = 3
} ddi_prop_op_t;

/* sys/devops.h */
typedef enum {
	DDI_INFO_DEVT2DEVINFO = 0,
	DDI_INFO_DEVT2INSTANCE = 1
} ddi_info_cmd_t;

typedef enum {
	DDI_ATTACH = 0,
	DDI_RESUME = 1,
	DDI_PM_RESUME = 2
} ddi_attach_cmd_t;

typedef enum {
	DDI_DETACH = 0,
	DDI_SUSPEND = 1,
	DDI_PM_SUSPEND = 2,
	DDI_HOTPLUG_DETACH = 3
} ddi_detach_cmd_t;

typedef enum {
	DDI_RESET_FORCE = 0
} ddi_reset_cmd_t;

struct cb_ops {
	int	(*cb_open)(dev_t *, int, int, cred_t *);
	int	(*cb_close)(dev_t, int, int, cred_t *);
	int	(*cb_strategy)(struct buf *);
	int	(*cb_print)(dev_t, char *);
	int	(*cb_dump)(dev_t, caddr_t, daddr_t, int);
	int	(*cb_read)(dev_t, struct uio *, cred_t *);
	int	(*cb_write)(dev_t, struct uio *, cred_t *);
	int	(*cb_ioctl)(dev_t, int, intptr_t, int, cred_t *, int *);
	int	(*cb_devmap)(dev_t, devmap_cookie_t, offset_t, size_t,
		    size_t *, uint_t);
	int	(*cb_mmap)(dev_t, off_t, int);
	int	(*cb_segmap)(dev_t, off_t, struct as *, caddr_t *, off_t,
		    unsigned int, unsigned int, unsigned int, cred_t *);
	int	(*cb_chpoll)(dev_t, short, int, short *, struct pollhead **);
	int	(*cb_prop_op)(dev_t, dev_info_t *, ddi_prop_op_t, int, char *,
		    caddr_t, int *);
	struct streamtab *cb_str;
	int	cb_flag;
	int	cb_rev;
	int	(*cb_aread)(dev_t, struct aio_req *, cred_t *);
	int	(*cb_awrite)(dev_t, struct aio_req *, cred_t *);
};

struct dev_ops {
	int	devo_rev;
	int	devo_refcnt;
	int	(*devo_getinfo)(dev_info_t *, ddi_info_cmd_t, void *, void **);
	int	(*devo_identify)(dev_info_t *);
	int	(*devo_probe)(dev_info_t *);
	int	(*devo_attach)(dev_info_t *, ddi_attach_cmd_t);
	int	(*devo_detach)(dev_info_t *, ddi_detach_cmd_t);
	int	(*devo_reset)(dev_info_t *, ddi_reset_cmd_t);
	struct cb_ops	*devo_cb_ops;
	struct bus_ops	*devo_bus_ops;
	int	(*devo_power)(dev_info_t *, int, int);
	int	(*devo_quiesce)(dev_info_t *);
};

#define	DEVO_REV	4
#define	CB_REV		1

/* cb_flag (sys/conf.h) */
#define	D_NEW		0x00
#define	D_MP		0x20

/* sys/modctl.h: a driver's linkage, over mod_driverops (modconf.c). */
struct modldrv {
	struct mod_ops	*drv_modops;
	char		*drv_linkinfo;
	struct dev_ops	*drv_dev_ops;
};

extern struct mod_ops mod_driverops;

/* sys/sunddi.h */
#define	DDI_SUCCESS	0
#define	DDI_FAILURE	(-1)
#define	DDI_PSEUDO	"ddi_pseudo"

/* sys/stat.h, sys/open.h */
#define	S_IFCHR		0x2000
#define	OTYP_CHR	2

extern int	ddi_create_minor_node(dev_info_t *, char *, int, minor_t,
		    char *, int);
extern void	ddi_remove_minor_node(dev_info_t *, char *);
extern int	ddi_get_instance(dev_info_t *);
/* 0, or -1 when an address faults; FKIOCTL in the flags: kernel memory. */
extern int	ddi_copyin(const void *, void *, size_t, int);
extern int	ddi_copyout(const void *, void *, size_t, int);
extern int	ddi_prop_op(dev_t, dev_info_t *, ddi_prop_op_t, int, char *,
		    caddr_t, int *);
extern int	ddi_quiesce_not_needed(dev_info_t *);
extern int	nochpoll(dev_t, short, int, short *, struct pollhead **);
/*
 * usr/src/uts/common/os/subr.c defines these unprototyped (int nodev()),
 * to fill any entry of cb_ops and dev_ops.
 */
extern int	nodev(void);
extern int	nulldev(void);

/* sys/policy.h: the privilege dld's configuration ioctls require. */
extern int	secpolicy_dl_config(const cred_t *);

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
