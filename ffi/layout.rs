//! Compile-time checks of the C layouts and values the Rust code relies on.
//!
//! These hold for the amd64 (LP64) illumos kernel. They are checked against
//! whatever header bindgen read: the project's `include/dlszone_ddi.h` by
//! default, or the real illumos-gate headers when `ILLUMOS_GATE` is set, so
//! a declaration that disagrees with illumos fails the build here.

use core::ffi::c_void;
use core::mem::{align_of, offset_of, size_of};

use static_assertions::const_assert_eq;

use super::*;
use crate::errno::Errno;

// Lock words: one pointer for kmutex_t and krwlock_t, one ushort for
// kcondvar_t. The kernel backend of crate::sync allocates exactly these.
const_assert_eq!(size_of::<kmutex_t>(), 8);
const_assert_eq!(align_of::<kmutex_t>(), 8);
const_assert_eq!(size_of::<krwlock_t>(), 8);
const_assert_eq!(align_of::<krwlock_t>(), 8);
const_assert_eq!(size_of::<kcondvar_t>(), 2);
const_assert_eq!(align_of::<kcondvar_t>(), 2);

// Module linkage, as krtld and modctl read it from the module's .data.
const_assert_eq!(size_of::<modlinkage>(), 64);
const_assert_eq!(offset_of!(modlinkage, ml_rev), 0);
const_assert_eq!(offset_of!(modlinkage, ml_linkage), 8);
const_assert_eq!(size_of::<[*mut c_void; 7]>(), 56);
const_assert_eq!(size_of::<modlmisc>(), 16);
const_assert_eq!(offset_of!(modlmisc, misc_linkinfo), 8);
const_assert_eq!(size_of::<mod_ops>(), 24);
const_assert_eq!(MODREV_1, 1);
const_assert_eq!(MODMAXNAMELEN, 32);
const_assert_eq!(MODMAXLINKINFOLEN, 32);

// Scalar types: same width *and* signedness as illumos (a type mismatch
// fails to compile, a width mismatch fails the assertion).
const _: zoneid_t = -1i32;
const _: datalink_id_t = 0u32;
const _: clock_t = -1i64;
const_assert_eq!(size_of::<boolean_t>(), 4);
const_assert_eq!(boolean_t::B_FALSE.0, 0);
const_assert_eq!(boolean_t::B_TRUE.0, 1);

// Zones.
const_assert_eq!(GLOBAL_ZONEID, 0);
const_assert_eq!(MIN_ZONEID, 0);
const_assert_eq!(MAX_ZONEID, 9999);
const_assert_eq!(ALL_ZONES, -1);

// Lock types and modes.
const_assert_eq!(size_of::<kmutex_type_t>(), 4);
const_assert_eq!(kmutex_type_t::MUTEX_ADAPTIVE.0, 0);
const_assert_eq!(kmutex_type_t::MUTEX_SPIN.0, 1);
const_assert_eq!(kmutex_type_t::MUTEX_DRIVER.0, 4);
const_assert_eq!(kmutex_type_t::MUTEX_DEFAULT.0, 6);
const_assert_eq!(size_of::<krw_type_t>(), 4);
const_assert_eq!(krw_type_t::RW_DRIVER.0, 2);
const_assert_eq!(krw_type_t::RW_DEFAULT.0, 4);
const_assert_eq!(size_of::<krw_t>(), 4);
const_assert_eq!(krw_t::RW_WRITER.0, 0);
const_assert_eq!(krw_t::RW_READER.0, 1);
const_assert_eq!(size_of::<kcv_type_t>(), 4);
const_assert_eq!(kcv_type_t::CV_DEFAULT.0, 0);
const_assert_eq!(kcv_type_t::CV_DRIVER.0, 1);
const_assert_eq!(time_res_t::TR_CLOCK_TICK.0, 4);

// kmem flags and cmn_err levels.
const_assert_eq!(KM_SLEEP, 0);
const_assert_eq!(KM_NOSLEEP, 1);
const_assert_eq!(CE_CONT, 0);
const_assert_eq!(CE_NOTE, 1);
const_assert_eq!(CE_WARN, 2);
const_assert_eq!(CE_PANIC, 3);
const_assert_eq!(CE_IGNORE, 4);

// ktest.
const_assert_eq!(size_of::<ktest_test_flags_t>(), 4);
const_assert_eq!(ktest_test_flags_t::KTEST_FLAG_NONE.0, 0);
const_assert_eq!(ktest_test_flags_t::KTEST_FLAG_INPUT.0, 1);
const_assert_eq!(ktest_result_type_t::KTEST_RESULT_PASS.0, 1);
const_assert_eq!(ktest_result_type_t::KTEST_RESULT_ERROR.0, 4);
const_assert_eq!(KTEST_MAX_NAME_LEN, 64);
const_assert_eq!(KTEST_MAX_LOG_LEN, 4096);

// errno: kernel/errno.rs is the crate's source of truth; the header's
// values must be the same. ERRNO_TABLE lists every pair, and a unit test
// checks that it covers all of Errno::ALL.
macro_rules! errno_table {
    ($($name:ident),* $(,)?) => {
        $(const_assert_eq!(Errno::$name.to_raw(), $name);)*
        /// `(Errno, value from the C header)` for every errno the crate uses.
        pub(crate) const ERRNO_TABLE: &[(Errno, i32)] = &[$((Errno::$name, $name)),*];
    };
}

errno_table!(
    EPERM,
    ENOENT,
    EINTR,
    ENXIO,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EINVAL,
    ENOSPC,
    ENOTSUP,
    ENAMETOOLONG,
    EOVERFLOW,
    ENOTEMPTY,
    ETIMEDOUT,
    EALREADY,
    ESTALE,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_table_covers_kernel_errno() {
        assert_eq!(ERRNO_TABLE.len(), Errno::ALL.len(), "ffi and kernel/errno.rs disagree");
        for e in Errno::ALL {
            let hit = ERRNO_TABLE.iter().find(|(k, _)| k == e);
            assert_eq!(hit.map(|(_, v)| *v), Some(e.to_raw()), "{e:?}");
        }
    }
}
