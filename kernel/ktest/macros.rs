//! The assertion vocabulary of test bodies: Rust counterparts of ktest's
//! `KT_PASS`, `KT_FAIL`, `KT_ERROR`, `KT_SKIP`, `KT_ASSERT*` and
//! `KT_EASSERT*`.
//!
//! Each macro either falls through or `return`s an [`Outcome`] from the
//! enclosing body, carrying the line of the macro call (`line!()`) and a
//! message formatted into the outcome's fixed buffer. Nothing here
//! allocates or panics, so a failed assertion in the kernel is a FAIL
//! line in `ktest run`, never a system panic.
//!
//! Failed comparisons read like ktest's C macros, operands spelled as in
//! the source and their values in hex:
//!
//! ```text
//! report.remaining ==  1 (0x2 == 0x1)
//! ```
//!
//! Every assertion takes optional trailing `format!` arguments, appended
//! after `": "` (the role of `ktest_msg_prepend`). `FAIL` is for the code
//! under test breaking a rule; `ERROR` (the `kt_e*` forms, [`kt_eok!`])
//! for a test that could not reach a verdict, e.g. its setup failed.
//!
//! [`Outcome`]: crate::Outcome

use core::fmt;

/// Optional context appended to a failure message.
#[doc(hidden)]
pub struct Context<'a>(pub Option<fmt::Arguments<'a>>);

impl fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(args) => write!(f, ": {args}"),
            None => Ok(()),
        }
    }
}

/// Builds the [`Context`] of an assertion from its optional trailing
/// format arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __kt_ctx {
    () => {
        $crate::macros::Context(None)
    };
    ($($ctx:tt)+) => {
        $crate::macros::Context(Some(format_args!($($ctx)+)))
    };
}

/// Returns `verdict` at the caller's line with a formatted message.
#[doc(hidden)]
#[macro_export]
macro_rules! __kt_return {
    ($verdict:ident, $($arg:tt)+) => {
        return $crate::Outcome::new(
            $crate::Verdict::$verdict,
            line!(),
            format_args!($($arg)+),
        )
    };
}

/// A typed comparison, as `KT_ASSERT_IMPL` does it: both sides converted
/// to one integer type, compared, and printed in hex on failure.
#[doc(hidden)]
#[macro_export]
macro_rules! __kt_cmp {
    (@int $verdict:ident, $ty:ty, $l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {{
        #[allow(clippy::unnecessary_cast, trivial_numeric_casts)]
        let (kt_l, kt_r) = (($l) as $ty, ($r) as $ty);
        $crate::__kt_cmp!(@check $verdict, kt_l, kt_r, $l, $op, $r $(, $($ctx)+)?);
    }};
    (@ptr $verdict:ident, $l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {{
        let (kt_l, kt_r) =
            ($crate::outcome::addr($l), $crate::outcome::addr($r));
        $crate::__kt_cmp!(@check $verdict, kt_l, kt_r, $l, $op, $r $(, $($ctx)+)?);
    }};
    (@check $verdict:ident, $lv:ident, $rv:ident, $l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        if !($lv $op $rv) {
            #[allow(clippy::unnecessary_cast, trivial_numeric_casts)]
            let (kt_lx, kt_rx) = ($lv as u64, $rv as u64);
            $crate::__kt_return!(
                $verdict,
                "{} {} {} (0x{:x} {} 0x{:x}){}",
                stringify!($l),
                stringify!($op),
                stringify!($r),
                kt_lx,
                stringify!($op),
                kt_rx,
                $crate::__kt_ctx!($($($ctx)+)?)
            );
        }
    };
}

/// `KT_PASS`: the test passed.
#[macro_export]
macro_rules! kt_pass {
    () => {
        return $crate::Outcome::pass(line!())
    };
}

/// `KT_FAIL`: the code under test broke a rule; the arguments are a
/// `format!` message.
#[macro_export]
macro_rules! kt_fail {
    ($($arg:tt)+) => { $crate::__kt_return!(Fail, $($arg)+) };
}

/// `KT_ERROR`: the test could not reach a verdict.
#[macro_export]
macro_rules! kt_error {
    ($($arg:tt)+) => { $crate::__kt_return!(Error, $($arg)+) };
}

/// `KT_SKIP`: the test cannot run here; the message says why.
#[macro_export]
macro_rules! kt_skip {
    ($($arg:tt)+) => { $crate::__kt_return!(Skip, $($arg)+) };
}

/// `KT_ASSERT`: FAIL unless the condition holds.
#[macro_export]
macro_rules! kt_assert {
    ($cond:expr $(, $($ctx:tt)+)?) => {
        if !($cond) {
            $crate::__kt_return!(
                Fail,
                "{} is false{}",
                stringify!($cond),
                $crate::__kt_ctx!($($($ctx)+)?)
            );
        }
    };
}

/// `KT_EASSERT`: ERROR unless the condition holds.
#[macro_export]
macro_rules! kt_eassert {
    ($cond:expr $(, $($ctx:tt)+)?) => {
        if !($cond) {
            $crate::__kt_return!(
                Error,
                "{} is false{}",
                stringify!($cond),
                $crate::__kt_ctx!($($($ctx)+)?)
            );
        }
    };
}

/// `KT_ASSERT0`: FAIL unless the integer is zero.
#[macro_export]
macro_rules! kt_assert0 {
    ($e:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@int Fail, u64, $e, ==, 0 $(, $($ctx)+)?)
    };
}

/// `KT_EASSERT0`: ERROR unless the integer is zero.
#[macro_export]
macro_rules! kt_eassert0 {
    ($e:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@int Error, u64, $e, ==, 0 $(, $($ctx)+)?)
    };
}

/// `KT_ASSERT3S`: compares two integers as `i64`, e.g.
/// `kt_assert3s!(rc, ==, 0)`.
#[macro_export]
macro_rules! kt_assert3s {
    ($l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@int Fail, i64, $l, $op, $r $(, $($ctx)+)?)
    };
}

/// `KT_ASSERT3U`: compares two integers as `u64`.
#[macro_export]
macro_rules! kt_assert3u {
    ($l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@int Fail, u64, $l, $op, $r $(, $($ctx)+)?)
    };
}

/// `KT_ASSERT3P`: compares two addresses (references or raw pointers).
#[macro_export]
macro_rules! kt_assert3p {
    ($l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@ptr Fail, $l, $op, $r $(, $($ctx)+)?)
    };
}

/// `KT_EASSERT3S`: as [`kt_assert3s!`], but ERROR.
#[macro_export]
macro_rules! kt_eassert3s {
    ($l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@int Error, i64, $l, $op, $r $(, $($ctx)+)?)
    };
}

/// `KT_EASSERT3U`: as [`kt_assert3u!`], but ERROR.
#[macro_export]
macro_rules! kt_eassert3u {
    ($l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@int Error, u64, $l, $op, $r $(, $($ctx)+)?)
    };
}

/// `KT_EASSERT3P`: as [`kt_assert3p!`], but ERROR.
#[macro_export]
macro_rules! kt_eassert3p {
    ($l:expr, $op:tt, $r:expr $(, $($ctx:tt)+)?) => {
        $crate::__kt_cmp!(@ptr Error, $l, $op, $r $(, $($ctx)+)?)
    };
}

/// FAIL unless two values are equal (`PartialEq` + `Debug`); the Rust
/// addition for values that are not integers, such as `KResult`s.
#[macro_export]
macro_rules! kt_assert_eq {
    ($l:expr, $r:expr $(, $($ctx:tt)+)?) => {
        match (&$l, &$r) {
            (kt_l, kt_r) => {
                if !(*kt_l == *kt_r) {
                    $crate::__kt_return!(
                        Fail,
                        "{} == {} ({:?} != {:?}){}",
                        stringify!($l),
                        stringify!($r),
                        kt_l,
                        kt_r,
                        $crate::__kt_ctx!($($($ctx)+)?)
                    );
                }
            }
        }
    };
}

/// FAIL unless a `KResult` is the error `errno`.
#[macro_export]
macro_rules! kt_assert_err {
    ($e:expr, $errno:expr $(, $($ctx:tt)+)?) => {
        match $e {
            Err(kt_e) if kt_e == $errno => {}
            Err(kt_e) => $crate::__kt_return!(
                Fail,
                "{}: expected {:?}, got {:?}{}",
                stringify!($e),
                $errno,
                kt_e,
                $crate::__kt_ctx!($($($ctx)+)?)
            ),
            Ok(_) => $crate::__kt_return!(
                Fail,
                "{}: expected {:?}, got Ok{}",
                stringify!($e),
                $errno,
                $crate::__kt_ctx!($($($ctx)+)?)
            ),
        }
    };
}

/// The value of an `Ok`; FAIL with the errno on `Err`. For calls into the
/// code under test.
#[macro_export]
macro_rules! kt_ok {
    ($e:expr $(, $($ctx:tt)+)?) => {
        match $e {
            Ok(kt_v) => kt_v,
            Err(kt_e) => $crate::__kt_return!(
                Fail,
                "{} failed: {:?}{}",
                stringify!($e),
                kt_e,
                $crate::__kt_ctx!($($($ctx)+)?)
            ),
        }
    };
}

/// The value of an `Ok`; ERROR with the errno on `Err`. For setup the
/// test needs but does not test.
#[macro_export]
macro_rules! kt_eok {
    ($e:expr $(, $($ctx:tt)+)?) => {
        match $e {
            Ok(kt_v) => kt_v,
            Err(kt_e) => $crate::__kt_return!(
                Error,
                "{} failed: {:?}{}",
                stringify!($e),
                kt_e,
                $crate::__kt_ctx!($($($ctx)+)?)
            ),
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{MSG_LEN, Outcome, Verdict};
    use dlszone::errno::{Errno, KResult};

    /// The line of this file carrying the marker comment `// @<tag>`.
    fn at(tag: &str) -> u32 {
        let marker = alloc::format!("// @{tag}\n");
        let src = include_str!("macros.rs");
        let end = src.find(&marker).expect("marker present");
        u32::try_from(src[..end].lines().count()).unwrap()
    }

    fn check(o: Outcome, verdict: Verdict, tag: &str, msg: &str) {
        assert_eq!((o.verdict(), o.line(), o.msg()), (verdict, at(tag), msg), "{o:?}");
    }

    #[test]
    fn results_carry_their_line() {
        fn pass() -> Outcome {
            kt_pass!() // @pass
        }
        fn fail() -> Outcome {
            kt_fail!("{} went wrong", 7) // @fail
        }
        fn error() -> Outcome {
            kt_error!("setup") // @error
        }
        fn skip() -> Outcome {
            kt_skip!("not here") // @skip
        }
        check(pass(), Verdict::Pass, "pass", "");
        check(fail(), Verdict::Fail, "fail", "7 went wrong");
        check(error(), Verdict::Error, "error", "setup");
        check(skip(), Verdict::Skip, "skip", "not here");
    }

    #[test]
    fn comparisons_read_like_ktest() {
        fn f(x: i32, p: &u8, q: &u8) -> Outcome {
            kt_assert!(x > 0); // @a
            kt_assert0!(x - 1, "x={x}"); // @a0
            kt_assert3s!(x - 2, <, 0); // @a3s
            kt_assert3u!(x as u32, <=, 1u8); // @a3u
            kt_assert3p!(p, ==, q); // @a3p
            kt_pass!() // @apass
        }
        let (a, b) = (1u8, 2u8);
        check(f(0, &a, &a), Verdict::Fail, "a", "x > 0 is false");
        check(f(1, &a, &a), Verdict::Pass, "apass", "");
        check(f(3, &a, &a), Verdict::Fail, "a0", "x - 1 == 0 (0x2 == 0x0): x=3");
        let o = f(1, &a, &b);
        assert_eq!((o.verdict(), o.line()), (Verdict::Fail, at("a3p")));
        assert!(o.msg().starts_with("p == q (0x"), "{o:?}");
        fn signed() -> Outcome {
            kt_assert3s!(-1i64, >, 0); // @signed
            kt_pass!()
        }
        check(signed(), Verdict::Fail, "signed", "-1i64 > 0 (0xffffffffffffffff > 0x0)");
    }

    #[test]
    fn error_variants_report_error() {
        fn f(n: u64) -> Outcome {
            kt_eassert!(n != 1); // @e
            kt_eassert0!(n % 2); // @e0
            kt_eassert3s!(n as i64, <, 10); // @e3s
            kt_eassert3u!(n, !=, 6); // @e3u
            kt_eassert3p!(&n, !=, core::ptr::null::<u64>()); // @e3p
            kt_pass!() // @epass
        }
        check(f(1), Verdict::Error, "e", "n != 1 is false");
        check(f(3), Verdict::Error, "e0", "n % 2 == 0 (0x1 == 0x0)");
        check(f(20), Verdict::Error, "e3s", "n as i64 < 10 (0x14 < 0xa)");
        check(f(6), Verdict::Error, "e3u", "n != 6 (0x6 != 0x6)");
        check(f(4), Verdict::Pass, "epass", "");
    }

    #[test]
    fn results_and_values() {
        fn f(r: KResult<u32>, want: Errno) -> Outcome {
            kt_assert_err!(r, want); // @err
            kt_pass!() // @errpass
        }
        check(f(Err(Errno::EBUSY), Errno::EBUSY), Verdict::Pass, "errpass", "");
        let msg = "r: expected EBUSY(16), got EEXIST(17)";
        check(f(Err(Errno::EEXIST), Errno::EBUSY), Verdict::Fail, "err", msg);
        check(f(Ok(1), Errno::EBUSY), Verdict::Fail, "err", "r: expected EBUSY(16), got Ok");
        fn g(r: KResult<u32>) -> Outcome {
            let v = kt_ok!(r, "step {}", 2); // @ok
            kt_assert_eq!(Some(v), Some(5u32)); // @eq
            let w = kt_eok!(r);
            kt_assert_eq!(w, 5);
            kt_pass!() // @okpass
        }
        check(g(Ok(5)), Verdict::Pass, "okpass", "");
        check(g(Err(Errno::ENOENT)), Verdict::Fail, "ok", "r failed: ENOENT(2): step 2");
        check(g(Ok(4)), Verdict::Fail, "eq", "Some(v) == Some(5u32) (Some(4) != Some(5))");
        fn h() -> Outcome {
            let _: () = kt_eok!(Err(Errno::ENOMEM)); // @eok
            kt_pass!()
        }
        check(h(), Verdict::Error, "eok", "Err(Errno::ENOMEM) failed: ENOMEM(12)");
    }

    #[test]
    fn long_messages_are_cut_not_fatal() {
        fn f() -> Outcome {
            kt_fail!("{:x<1$}", "", 10 * MSG_LEN)
        }
        let o = f();
        assert_eq!(o.msg().len(), MSG_LEN - 1);
        assert!(o.msg().ends_with("..."));
        // A `%` is text, never a format directive.
        fn pct() -> Outcome {
            kt_fail!("100% %s %n")
        }
        assert_eq!(pct().msg(), "100% %s %n");
    }
}
