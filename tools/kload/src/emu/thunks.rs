//! The retpoline thunks `__x86_indirect_thunk_<reg>`.
//!
//! A kernel built with retpolines (`-mindirect-branch=thunk-extern`, or
//! LLVM's external-thunk option) makes every indirect call or jump a
//! direct call or jump to `__x86_indirect_thunk_<reg>` with the target in
//! `<reg>`; illumos defines them in `usr/src/uts/intel/ml/retpoline.S`
//! (a speculation trap, or a plain `jmp *%reg` when the CPU needs none).
//! Here each is that plain jump: two or three bytes of code in the low
//! mapping, run in place on the kernel stack, clobbering nothing.

use super::{Def, KernelSymbol, Provider};

/// Register names in encoding order (`%rsp`, 4, has no thunk).
const REGS: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// `jmp *%<reg>` for register number `n`, then `int3`.
pub fn jmp_reg(n: usize) -> Vec<u8> {
    let modrm = 0xe0 | (n as u8 & 7); // mod=11, reg=/4 (jmp near), rm
    if n < 8 { vec![0xff, modrm, 0xcc] } else { vec![0x41, 0xff, modrm, 0xcc] }
}

/// One thunk per register but `%rsp`.
pub fn symbols() -> Vec<KernelSymbol> {
    REGS.iter()
        .enumerate()
        .filter(|(_, r)| **r != "rsp")
        .map(|(n, r)| KernelSymbol {
            name: format!("__x86_indirect_thunk_{r}"),
            provider: Provider::Core,
            def: Def::Code(jmp_reg(n)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(jmp_reg(0), [0xff, 0xe0, 0xcc]); // jmp *%rax
        assert_eq!(jmp_reg(7), [0xff, 0xe7, 0xcc]); // jmp *%rdi
        assert_eq!(jmp_reg(11), [0x41, 0xff, 0xe3, 0xcc]); // jmp *%r11
        assert_eq!(symbols().len(), 15);
        assert!(symbols().iter().all(|s| !s.name.ends_with("rsp")));
    }
}
