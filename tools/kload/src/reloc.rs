//! amd64 relocation types: which ones krtld applies to a kernel object,
//! and the arithmetic it applies.
//!
//! krtld (`usr/src/uts/intel/amd64/krtld/kobj_reloc.c`, `do_relocate`)
//! computes S + A, subtracts P for PC-relative types, and *adds* the
//! result to whatever the field already holds (`do_reloc_krtld`), with a
//! sign-extension check on the 32-bit fields. It rejects TLS types and
//! types past the table, fails "unsupported size" for GOT/PLT/dynamic
//! types, and silently mis-applies `GOTPCREL*` (it adds no P and builds no
//! GOT). The loader accepts exactly the types krtld gets right for
//! kernel-model code, the set `tools/kobj-gates` allows, and refuses the
//! rest by name, with the reason.

/// `R_X86_64_NONE`.
pub const R_NONE: u32 = 0;
/// `R_X86_64_64`: S + A, 8 bytes.
pub const R_64: u32 = 1;
/// `R_X86_64_PC32`: S + A - P, 4 bytes, sign-extended.
pub const R_PC32: u32 = 2;
/// `R_X86_64_PLT32`: as PC32 for krtld (it builds no PLT).
pub const R_PLT32: u32 = 4;
/// `R_X86_64_32S`: S + A, 4 bytes, sign-extended.
pub const R_32S: u32 = 11;
/// `R_X86_64_PC64`: S + A - P, 8 bytes.
pub const R_PC64: u32 = 24;

/// The psABI's name of a relocation type.
pub fn name(t: u32) -> String {
    const NAMES: [&str; 46] = [
        "NONE",
        "64",
        "PC32",
        "GOT32",
        "PLT32",
        "COPY",
        "GLOB_DAT",
        "JUMP_SLOT",
        "RELATIVE",
        "GOTPCREL",
        "32",
        "32S",
        "16",
        "PC16",
        "8",
        "PC8",
        "DTPMOD64",
        "DTPOFF64",
        "TPOFF64",
        "TLSGD",
        "TLSLD",
        "DTPOFF32",
        "GOTTPOFF",
        "TPOFF32",
        "PC64",
        "GOTOFF64",
        "GOTPC32",
        "GOT64",
        "GOTPCREL64",
        "GOTPC64",
        "GOTPLT64",
        "PLTOFF64",
        "SIZE32",
        "SIZE64",
        "GOTPC32_TLSDESC",
        "TLSDESC_CALL",
        "TLSDESC",
        "IRELATIVE",
        "RELATIVE64",
        "39",
        "40",
        "GOTPCRELX",
        "REX_GOTPCRELX",
        "CODE_4_GOTPCRELX",
        "CODE_4_GOTTPOFF",
        "CODE_4_GOTPC32_TLSDESC",
    ];
    match NAMES.get(t as usize) {
        Some(n) => format!("R_X86_64_{n}"),
        None => format!("R_X86_64_UNKNOWN_{t}"),
    }
}

/// What the loader does with a relocation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `NONE`: nothing.
    None,
    /// `64`: S + A into 8 bytes.
    Abs64,
    /// `32S`: S + A into 4 bytes, must sign-extend.
    Abs32S,
    /// `PC32`, `PLT32`: S + A - P into 4 bytes, must sign-extend.
    Pc32,
    /// `PC64`: S + A - P into 8 bytes.
    Pc64,
}

impl Kind {
    /// Bytes the relocated field has.
    pub const fn width(self) -> usize {
        match self {
            Kind::None => 0,
            Kind::Abs32S | Kind::Pc32 => 4,
            Kind::Abs64 | Kind::Pc64 => 8,
        }
    }

    /// Whether P is subtracted.
    pub const fn pc_relative(self) -> bool {
        matches!(self, Kind::Pc32 | Kind::Pc64)
    }
}

/// The [`Kind`] of a type krtld applies correctly, or why it is refused.
pub fn classify(t: u32) -> Result<Kind, &'static str> {
    match t {
        R_NONE => Ok(Kind::None),
        R_64 => Ok(Kind::Abs64),
        R_PC32 | R_PLT32 => Ok(Kind::Pc32),
        R_32S => Ok(Kind::Abs32S),
        R_PC64 => Ok(Kind::Pc64),
        _ => Err(refusal(t)),
    }
}

fn refusal(t: u32) -> &'static str {
    let n = name(t);
    let n = n.trim_start_matches("R_X86_64_");
    if n == "32" {
        "zero-extended 32-bit absolute (small code model): kernel addresses do not fit"
    } else if n.contains("TLS") || n.contains("DTP") || n.contains("TPOFF") {
        "krtld rejects TLS relocations (\"invalid relocation type\")"
    } else if n.contains("GOT") {
        "krtld builds no GOT: GOTPCREL* is silently mis-relocated, the others fail"
    } else if n.contains("PLTOFF") {
        "krtld builds no PLT"
    } else if n == "COPY" || n == "JUMP_SLOT" || n == "GLOB_DAT" || n.starts_with("RELATIVE") {
        "dynamic-linking relocation, not valid in a kernel module"
    } else if n == "IRELATIVE" {
        "IFUNC relocation, unsupported by krtld"
    } else if n.starts_with("SIZE") {
        "krtld computes SIZE relocations wrongly (S + A instead of Z + A)"
    } else {
        "not a relocation krtld applies correctly to kernel-model code"
    }
}

/// A relocated value that does not fit its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// The value that was to be stored (sign-extended to 64 bits).
    pub value: i64,
}

/// Applies one relocation of `kind` to `field` (exactly
/// `kind.width()` bytes): S + A, minus P if PC-relative, added to what the
/// field holds, as krtld does. The field is unchanged on overflow.
pub fn apply(kind: Kind, field: &mut [u8], s: u64, a: i64, p: u64) -> Result<(), Overflow> {
    let mut v = s.wrapping_add(a as u64);
    if kind.pc_relative() {
        v = v.wrapping_sub(p);
    }
    match kind.width() {
        0 => Ok(()),
        4 => {
            let old = i32::from_le_bytes([field[0], field[1], field[2], field[3]]);
            let v = (v as i64).wrapping_add(i64::from(old));
            let Ok(narrow) = i32::try_from(v) else {
                return Err(Overflow { value: v });
            };
            field.copy_from_slice(&narrow.to_le_bytes());
            Ok(())
        }
        _ => {
            let mut old = [0u8; 8];
            old.copy_from_slice(field);
            let v = v.wrapping_add(u64::from_le_bytes(old));
            field.copy_from_slice(&v.to_le_bytes());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(R_PLT32), "R_X86_64_PLT32");
        assert_eq!(name(9), "R_X86_64_GOTPCREL");
        assert_eq!(name(42), "R_X86_64_REX_GOTPCRELX");
        assert_eq!(name(200), "R_X86_64_UNKNOWN_200");
    }

    #[test]
    fn only_the_kernel_model_set_is_accepted() {
        for t in 0..60 {
            let ok = matches!(t, 0 | 1 | 2 | 4 | 11 | 24);
            assert_eq!(classify(t).is_ok(), ok, "{}", name(t));
        }
        assert!(classify(10).unwrap_err().contains("zero-extended"));
        assert!(classify(9).unwrap_err().contains("GOT"));
        assert!(classify(19).unwrap_err().contains("TLS"));
        assert!(classify(32).unwrap_err().contains("SIZE"));
        assert!(classify(37).unwrap_err().contains("IFUNC"));
    }

    #[test]
    fn pc32_is_s_plus_a_minus_p_added_to_the_field() {
        let mut f = [0u8; 4];
        apply(Kind::Pc32, &mut f, 0x1000, -4, 0x2000).unwrap();
        assert_eq!(i32::from_le_bytes(f), 0x1000 - 4 - 0x2000);
        // krtld adds to what is there.
        let mut f = 10i32.to_le_bytes();
        apply(Kind::Pc32, &mut f, 0x100, 0, 0x80).unwrap();
        assert_eq!(i32::from_le_bytes(f), 0x80 + 10);
    }

    #[test]
    fn thirty_two_bit_fields_must_sign_extend() {
        let mut f = [0u8; 4];
        assert_eq!(apply(Kind::Abs32S, &mut f, 0x7fff_ffff, 0, 0), Ok(()));
        assert_eq!(
            apply(Kind::Abs32S, &mut [0u8; 4], 0x8000_0000, 0, 0),
            Err(Overflow { value: 0x8000_0000 })
        );
        // Kernel addresses sign-extend; a low user address does too.
        let mut f = [0u8; 4];
        apply(Kind::Abs32S, &mut f, 0xffff_ffff_8000_0000, 0, 0).unwrap();
        assert_eq!(f, [0, 0, 0, 0x80]);
        // A far host function is out of PC32 range from a low mapping.
        let e = apply(Kind::Pc32, &mut [0u8; 4], 0x7f00_0000_0000, -4, 0x4000_0000);
        assert!(e.is_err());
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn sixty_four_bit_fields() {
        let mut f = [0u8; 8];
        apply(Kind::Abs64, &mut f, 0xffff_ffff_c000_0000, 8, 0).unwrap();
        assert_eq!(u64::from_le_bytes(f), 0xffff_ffff_c000_0008);
        let mut f = [0u8; 8];
        apply(Kind::Pc64, &mut f, 0x1000, 0, 0x3000).unwrap();
        assert_eq!(i64::from_le_bytes(f), -0x2000);
    }
}
