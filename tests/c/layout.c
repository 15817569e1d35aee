/*
 * layout.c -- prints the size and field offsets of the illumos kernel
 * structures whose layout the dlszone Rust code pins (kernel/door/proto.rs,
 * ffi/layout.rs), as a C compiler lays them out.
 *
 * The declarations below are the dlszone project's own, written from the
 * field lists of the illumos-gate headers named at each one (field order
 * and C types only).  The host compiler is an x86_64 LP64 one, which lays
 * out int, long, pointers, 64-bit integers and arrays exactly as the amd64
 * illumos kernel compiler does, so the numbers printed are the amd64
 * values.  The Rust unit tests compile this file with the host cc, run it,
 * and compare every line with the Rust side.
 *
 * Output: one "name value" line per fact, e.g. "door_arg_t.rbuf 32".
 */
#include <stddef.h>
#include <stdio.h>

typedef unsigned int		uint_t;
typedef unsigned int		uint32_t_;
typedef unsigned long long	uint64_t_;
typedef unsigned char		uchar_t;
typedef int			boolean_t;	/* an enum of int size */
typedef int			zoneid_t;
typedef unsigned int		datalink_id_t;
typedef unsigned int		datalink_class_t; /* enum, values < 2^31 */
typedef uint64_t_		datalink_media_t;
typedef long long		hrtime_t;
typedef int			kid_t;
typedef int			pid_t_;

#define	MAXNAMELEN		256
#define	MAXLINKNAMELEN		32
#define	MAXLINKATTRLEN		32
#define	MAXLINKATTRVALLEN	1024
#define	KSTAT_STRLEN		31

/* ---- sys/dls_mgmt.h ---------------------------------------------------- */

struct create_arg {
	int			ld_cmd;
	datalink_class_t	ld_class;
	uint32_t_		ld_media;
	boolean_t		ld_persist;
	uint64_t_		ld_phymaj;
	uint64_t_		ld_phyinst;
	char			ld_devname[MAXNAMELEN];
};

struct destroy_arg {
	int		ld_cmd;
	datalink_id_t	ld_linkid;
	boolean_t	ld_persist;
	int		ld_padding;
};

struct update_arg {
	int		ld_cmd;
	boolean_t	ld_novanity;
	uint32_t_	ld_media;
	uint32_t_	ld_padding;
	char		ld_devname[MAXNAMELEN];
};

struct getattr_arg {
	int		ld_cmd;
	datalink_id_t	ld_linkid;
	char		ld_attr[MAXLINKATTRLEN];
};

struct getname_arg {
	int		ld_cmd;
	datalink_id_t	ld_linkid;
};

struct getlinkid_arg {
	int		ld_cmd;
	char		ld_link[MAXLINKNAMELEN];
	zoneid_t	ld_zoneid;
};

struct getnext_arg {
	int			ld_cmd;
	datalink_id_t		ld_linkid;
	datalink_class_t	ld_class;
	uint32_t_		ld_flags;
	datalink_media_t	ld_dmedia;
};

struct linkprop_init_arg {
	int		ld_cmd;
	datalink_id_t	ld_linkid;
};

struct setzoneid_arg {
	int		ld_cmd;
	datalink_id_t	ld_linkid;
	zoneid_t	ld_zoneid;
};

struct retval {
	uint_t	lr_err;
};

struct linkid_retval {
	uint_t			lr_err;
	datalink_id_t		lr_linkid;
	uint32_t_		lr_flags;
	datalink_class_t	lr_class;
	uint32_t_		lr_media;
	uint32_t_		lr_padding;
};

struct getname_retval {
	uint_t			lr_err;
	char			lr_link[MAXLINKNAMELEN];
	datalink_class_t	lr_class;
	uint32_t_		lr_media;
	uint32_t_		lr_flags;
};

struct getattr_retval {
	uint_t	lr_err;
	uint_t	lr_type;
	uint_t	lr_attrsz;
	uint_t	lr_padding;
	char	lr_attrval[MAXLINKATTRVALLEN];
};

/* ---- sys/door.h -------------------------------------------------------- */

struct door_arg {
	char		*data_ptr;
	unsigned long	data_size;	/* size_t */
	void		*desc_ptr;	/* door_desc_t * */
	uint_t		desc_num;
	char		*rbuf;
	unsigned long	rsize;		/* size_t */
};

/* Packed to 4 on amd64, as sys/door.h does (_LONG_LONG_ALIGNMENT_32 4). */
#pragma pack(4)
struct door_info {
	pid_t_		di_target;
	uint64_t_	di_proc;	/* door_ptr_t */
	uint64_t_	di_data;	/* door_ptr_t */
	uint_t		di_attributes;	/* door_attr_t */
	uint64_t_	di_uniquifier;	/* door_id_t */
	int		di_resv[4];
};
#pragma pack()

/* ---- sys/kstat.h ------------------------------------------------------- */

struct kstat {
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
	unsigned long	ks_data_size;	/* size_t */
	hrtime_t	ks_snaptime;
	int		(*ks_update)(struct kstat *, int);
	void		*ks_private;
	int		(*ks_snapshot)(struct kstat *, void *, int);
	void		*ks_lock;
};

/* The value union without its obsolete float and double members. */
struct kstat_named {
	char	name[KSTAT_STRLEN];
	uchar_t	data_type;
	union {
		char		c[16];
		int		i32;
		uint32_t_	ui32;
		struct {
			union {
				char	*ptr;
				char	pad[8];
			} addr;
			uint32_t_ len;
		} str;
		long long	i64;
		uint64_t_	ui64;
		long		l;
		unsigned long	ul;
	} value;
};

/* ---- sys/socket_impl.h, netinet/in.h, inet/iptun.h --------------------- */

/* illumos' sockaddr_storage (not the host's, which is 128 bytes). */
struct ss_illumos {
	unsigned short	ss_family;	/* sa_family_t */
	char		_ss_pad1[6];
	double		_ss_align;
	char		_ss_pad2[240];
};

struct ipsec_req {
	uint_t		ipsr_ah_req;
	uint_t		ipsr_esp_req;
	uint_t		ipsr_self_encap_req;
	uchar_t		ipsr_auth_alg;
	uchar_t		ipsr_esp_alg;
	uchar_t		ipsr_esp_auth_alg;
};

struct iptun_kparams {
	datalink_id_t		iptun_kparam_linkid;
	uint32_t_		iptun_kparam_flags;
	struct ss_illumos	iptun_kparam_laddr;
	struct ss_illumos	iptun_kparam_raddr;
	struct ipsec_req	iptun_kparam_secinfo;
	int			iptun_kparam_type;	/* iptun_type_t */
	uint32_t_		_iptun_kparam_padding;
};

/* Its alignment: where it lands after a char. */
struct iptun_kparams_align {
	char			c;
	struct iptun_kparams	k;
};

#define	SZ(name, t)	printf("%s %zu\n", name, sizeof (t))
#define	OFF(name, t, f)	printf("%s.%s %zu\n", name, #f, offsetof(t, f))

int
main(void)
{
	SZ("dlmgmt_upcall_arg_create_t", struct create_arg);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_cmd);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_class);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_media);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_persist);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_phymaj);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_phyinst);
	OFF("dlmgmt_upcall_arg_create_t", struct create_arg, ld_devname);

	SZ("dlmgmt_upcall_arg_destroy_t", struct destroy_arg);
	OFF("dlmgmt_upcall_arg_destroy_t", struct destroy_arg, ld_cmd);
	OFF("dlmgmt_upcall_arg_destroy_t", struct destroy_arg, ld_linkid);
	OFF("dlmgmt_upcall_arg_destroy_t", struct destroy_arg, ld_persist);
	OFF("dlmgmt_upcall_arg_destroy_t", struct destroy_arg, ld_padding);

	SZ("dlmgmt_upcall_arg_update_t", struct update_arg);
	OFF("dlmgmt_upcall_arg_update_t", struct update_arg, ld_cmd);
	OFF("dlmgmt_upcall_arg_update_t", struct update_arg, ld_novanity);
	OFF("dlmgmt_upcall_arg_update_t", struct update_arg, ld_media);
	OFF("dlmgmt_upcall_arg_update_t", struct update_arg, ld_padding);
	OFF("dlmgmt_upcall_arg_update_t", struct update_arg, ld_devname);

	SZ("dlmgmt_upcall_arg_getattr_t", struct getattr_arg);
	OFF("dlmgmt_upcall_arg_getattr_t", struct getattr_arg, ld_cmd);
	OFF("dlmgmt_upcall_arg_getattr_t", struct getattr_arg, ld_linkid);
	OFF("dlmgmt_upcall_arg_getattr_t", struct getattr_arg, ld_attr);

	SZ("dlmgmt_door_getname_t", struct getname_arg);
	OFF("dlmgmt_door_getname_t", struct getname_arg, ld_cmd);
	OFF("dlmgmt_door_getname_t", struct getname_arg, ld_linkid);

	SZ("dlmgmt_door_getlinkid_t", struct getlinkid_arg);
	OFF("dlmgmt_door_getlinkid_t", struct getlinkid_arg, ld_cmd);
	OFF("dlmgmt_door_getlinkid_t", struct getlinkid_arg, ld_link);
	OFF("dlmgmt_door_getlinkid_t", struct getlinkid_arg, ld_zoneid);

	SZ("dlmgmt_door_getnext_t", struct getnext_arg);
	OFF("dlmgmt_door_getnext_t", struct getnext_arg, ld_cmd);
	OFF("dlmgmt_door_getnext_t", struct getnext_arg, ld_linkid);
	OFF("dlmgmt_door_getnext_t", struct getnext_arg, ld_class);
	OFF("dlmgmt_door_getnext_t", struct getnext_arg, ld_flags);
	OFF("dlmgmt_door_getnext_t", struct getnext_arg, ld_dmedia);

	SZ("dlmgmt_door_linkprop_init_t", struct linkprop_init_arg);
	OFF("dlmgmt_door_linkprop_init_t", struct linkprop_init_arg, ld_cmd);
	OFF("dlmgmt_door_linkprop_init_t", struct linkprop_init_arg,
	    ld_linkid);

	SZ("dlmgmt_door_setzoneid_t", struct setzoneid_arg);
	OFF("dlmgmt_door_setzoneid_t", struct setzoneid_arg, ld_cmd);
	OFF("dlmgmt_door_setzoneid_t", struct setzoneid_arg, ld_linkid);
	OFF("dlmgmt_door_setzoneid_t", struct setzoneid_arg, ld_zoneid);

	SZ("dlmgmt_retval_t", struct retval);
	OFF("dlmgmt_retval_t", struct retval, lr_err);

	SZ("dlmgmt_linkid_retval_t", struct linkid_retval);
	OFF("dlmgmt_linkid_retval_t", struct linkid_retval, lr_err);
	OFF("dlmgmt_linkid_retval_t", struct linkid_retval, lr_linkid);
	OFF("dlmgmt_linkid_retval_t", struct linkid_retval, lr_flags);
	OFF("dlmgmt_linkid_retval_t", struct linkid_retval, lr_class);
	OFF("dlmgmt_linkid_retval_t", struct linkid_retval, lr_media);
	OFF("dlmgmt_linkid_retval_t", struct linkid_retval, lr_padding);

	SZ("dlmgmt_getname_retval_t", struct getname_retval);
	OFF("dlmgmt_getname_retval_t", struct getname_retval, lr_err);
	OFF("dlmgmt_getname_retval_t", struct getname_retval, lr_link);
	OFF("dlmgmt_getname_retval_t", struct getname_retval, lr_class);
	OFF("dlmgmt_getname_retval_t", struct getname_retval, lr_media);
	OFF("dlmgmt_getname_retval_t", struct getname_retval, lr_flags);

	SZ("dlmgmt_getattr_retval_t", struct getattr_retval);
	OFF("dlmgmt_getattr_retval_t", struct getattr_retval, lr_err);
	OFF("dlmgmt_getattr_retval_t", struct getattr_retval, lr_type);
	OFF("dlmgmt_getattr_retval_t", struct getattr_retval, lr_attrsz);
	OFF("dlmgmt_getattr_retval_t", struct getattr_retval, lr_padding);
	OFF("dlmgmt_getattr_retval_t", struct getattr_retval, lr_attrval);

	SZ("door_arg_t", struct door_arg);
	OFF("door_arg_t", struct door_arg, data_ptr);
	OFF("door_arg_t", struct door_arg, data_size);
	OFF("door_arg_t", struct door_arg, desc_ptr);
	OFF("door_arg_t", struct door_arg, desc_num);
	OFF("door_arg_t", struct door_arg, rbuf);
	OFF("door_arg_t", struct door_arg, rsize);

	SZ("door_info_t", struct door_info);
	OFF("door_info_t", struct door_info, di_target);
	OFF("door_info_t", struct door_info, di_proc);
	OFF("door_info_t", struct door_info, di_data);
	OFF("door_info_t", struct door_info, di_attributes);
	OFF("door_info_t", struct door_info, di_uniquifier);
	OFF("door_info_t", struct door_info, di_resv);

	SZ("kstat_t", struct kstat);
	OFF("kstat_t", struct kstat, ks_data);
	OFF("kstat_t", struct kstat, ks_ndata);
	OFF("kstat_t", struct kstat, ks_data_size);
	OFF("kstat_t", struct kstat, ks_update);
	OFF("kstat_t", struct kstat, ks_private);
	OFF("kstat_t", struct kstat, ks_lock);

	SZ("kstat_named_t", struct kstat_named);
	OFF("kstat_named_t", struct kstat_named, name);
	OFF("kstat_named_t", struct kstat_named, data_type);
	OFF("kstat_named_t", struct kstat_named, value);

	SZ("sockaddr_storage", struct ss_illumos);
	SZ("ipsec_req_t", struct ipsec_req);
	SZ("iptun_kparams_t", struct iptun_kparams);
	printf("iptun_kparams_t.align %zu\n",
	    offsetof(struct iptun_kparams_align, k));
	OFF("iptun_kparams_t", struct iptun_kparams, iptun_kparam_linkid);
	OFF("iptun_kparams_t", struct iptun_kparams, iptun_kparam_flags);
	OFF("iptun_kparams_t", struct iptun_kparams, iptun_kparam_laddr);
	OFF("iptun_kparams_t", struct iptun_kparams, iptun_kparam_raddr);
	OFF("iptun_kparams_t", struct iptun_kparams, iptun_kparam_secinfo);
	OFF("iptun_kparams_t", struct iptun_kparams, iptun_kparam_type);
	OFF("iptun_kparams_t", struct iptun_kparams, _iptun_kparam_padding);
	return (0);
}
