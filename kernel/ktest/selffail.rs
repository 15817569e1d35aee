//! Suite `selffail` (only with `--cfg dlszone_ktest_selffail`): bodies
//! that fail on purpose, to show that a failure reaches `ktest run` and
//! the host runner as a FAIL or ERROR line with its line and reason.

use crate::Outcome;
use crate::{kt_assert3u, kt_eok, kt_pass};

const TWO: u64 = 2;

pub(super) fn deliberate_fail() -> Outcome {
    let sum = TWO + TWO;
    kt_assert3u!(sum, ==, 5, "deliberate failure (dlszone_ktest_selffail)");
    kt_pass!()
}

pub(super) fn deliberate_error() -> Outcome {
    let setup: Result<(), dlszone::errno::Errno> = Err(dlszone::errno::Errno::ENOMEM);
    kt_eok!(setup, "deliberate error (dlszone_ktest_selffail)");
    kt_pass!()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

    /// The 1-based line of the first line of this file containing `text`.
    fn line_of(text: &str) -> u32 {
        let src = include_str!("selffail.rs");
        let n = src.lines().position(|l| l.contains(text)).expect("marker present");
        u32::try_from(n + 1).unwrap()
    }

    #[test]
    fn failures_carry_line_and_reason() {
        let o = deliberate_fail();
        assert_eq!(o.verdict(), Verdict::Fail);
        assert_eq!(o.line(), line_of("kt_assert3u!(sum"));
        assert_eq!(o.msg(), "sum == 5 (0x4 == 0x5): deliberate failure (dlszone_ktest_selffail)");
        let o = deliberate_error();
        assert_eq!(o.verdict(), Verdict::Error);
        assert_eq!(o.line(), line_of("kt_eok!(setup"));
        assert_eq!(o.msg(), "setup failed: ENOMEM(12): deliberate error (dlszone_ktest_selffail)");
    }
}
