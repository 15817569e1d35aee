//! Just enough of ELF64 (little-endian) to load a relocatable kernel
//! object: the header, the section headers, the symbol table, RELA
//! entries and a `.dynamic` section's `DT_NEEDED` strings.
//!
//! Everything is read with bounds checks from a byte buffer; a malformed
//! file gives an error naming what is wrong, never a panic.

use std::fmt;

/// `e_type` of a relocatable object.
pub const ET_REL: u16 = 1;
/// `e_machine` of amd64.
pub const EM_X86_64: u16 = 62;

/// Section types.
pub const SHT_SYMTAB: u32 = 2;
/// Relocations with addends.
pub const SHT_RELA: u32 = 4;
/// Dynamic linking information (`DT_NEEDED` from illumos `ld -N`).
pub const SHT_DYNAMIC: u32 = 6;
/// Occupies no file space (`.bss`).
pub const SHT_NOBITS: u32 = 8;
/// Relocations without addends (krtld refuses them).
pub const SHT_REL: u32 = 9;

/// Section flags.
pub const SHF_WRITE: u64 = 0x1;
/// Occupies memory when loaded.
pub const SHF_ALLOC: u64 = 0x2;
/// Holds instructions.
pub const SHF_EXECINSTR: u64 = 0x4;
/// Thread-local storage.
pub const SHF_TLS: u64 = 0x400;

/// Undefined section index.
pub const SHN_UNDEF: u16 = 0;
/// First reserved section index.
pub const SHN_LORESERVE: u16 = 0xff00;
/// Absolute symbol.
pub const SHN_ABS: u16 = 0xfff1;
/// Common symbol (allocated by the loader).
pub const SHN_COMMON: u16 = 0xfff2;

/// Symbol bindings.
pub const STB_LOCAL: u8 = 0;
/// Global binding.
pub const STB_GLOBAL: u8 = 1;
/// Weak binding.
pub const STB_WEAK: u8 = 2;

/// Symbol types.
pub const STT_OBJECT: u8 = 1;
/// A function.
pub const STT_FUNC: u8 = 2;
/// A section symbol.
pub const STT_SECTION: u8 = 3;
/// A source file name.
pub const STT_FILE: u8 = 4;
/// A thread-local datum.
pub const STT_TLS: u8 = 6;

/// A malformed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadElf(pub String);

impl fmt::Display for BadElf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T, BadElf> {
    Err(BadElf(msg.into()))
}

/// One section header.
#[derive(Debug, Clone)]
pub struct Section {
    /// Index in the section header table.
    pub index: usize,
    /// Name from the section name table.
    pub name: String,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info`.
    pub info: u32,
    /// `sh_addralign` (0 and 1 both mean none).
    pub align: u64,
    /// `sh_entsize`.
    pub entsize: u64,
}

impl Section {
    /// Whether the section is loaded into memory.
    pub fn is_alloc(&self) -> bool {
        self.flags & SHF_ALLOC != 0
    }

    /// Whether it holds instructions.
    pub fn is_exec(&self) -> bool {
        self.flags & SHF_EXECINSTR != 0
    }
}

/// One symbol table entry.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// Index in the symbol table.
    pub index: usize,
    /// Name (empty for section symbols and the null symbol).
    pub name: String,
    /// `STB_*`.
    pub bind: u8,
    /// `STT_*`.
    pub kind: u8,
    /// `st_shndx`.
    pub shndx: u16,
    /// `st_value` (an offset in its section, for a relocatable object).
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

impl Symbol {
    /// Whether the symbol is undefined.
    pub fn is_undef(&self) -> bool {
        self.shndx == SHN_UNDEF
    }
}

/// One RELA entry.
#[derive(Debug, Clone, Copy)]
pub struct Rela {
    /// Offset of the field in the section it applies to.
    pub offset: u64,
    /// Symbol table index.
    pub sym: u32,
    /// Relocation type (`R_X86_64_*`).
    pub kind: u32,
    /// Addend.
    pub addend: i64,
}

/// A parsed ELF64 little-endian file.
pub struct Elf {
    data: Vec<u8>,
    /// `e_type`.
    pub e_type: u16,
    /// `e_machine`.
    pub e_machine: u16,
    /// Section headers, index 0 included.
    pub sections: Vec<Section>,
    /// The symbol table's index among the sections, if there is one.
    pub symtab: Option<usize>,
    /// Symbols of the symbol table, index 0 included.
    pub symbols: Vec<Symbol>,
}

fn u16_at(d: &[u8], off: usize) -> Result<u16, BadElf> {
    d.get(off..off + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| BadElf(format!("truncated at byte {off}")))
}

fn u32_at(d: &[u8], off: usize) -> Result<u32, BadElf> {
    d.get(off..off + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| BadElf(format!("truncated at byte {off}")))
}

fn u64_at(d: &[u8], off: usize) -> Result<u64, BadElf> {
    d.get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| BadElf(format!("truncated at byte {off}")))
}

fn usize_of(v: u64, what: &str) -> Result<usize, BadElf> {
    usize::try_from(v).or_else(|_| bad(format!("{what} {v:#x} is out of range")))
}

impl Elf {
    /// Parses `data`, which must be ELF64 little-endian; other header
    /// fields (type, machine) are left for the caller to judge.
    pub fn parse(data: Vec<u8>) -> Result<Elf, BadElf> {
        let d = &data;
        if d.len() < 64 || &d[..4] != b"\x7fELF" {
            return bad("not an ELF file");
        }
        if d[4] != 2 {
            return bad(format!("not ELF64 (EI_CLASS {})", d[4]));
        }
        if d[5] != 1 {
            return bad(format!("not little-endian (EI_DATA {})", d[5]));
        }
        let e_type = u16_at(d, 16)?;
        let e_machine = u16_at(d, 18)?;
        let shoff = usize_of(u64_at(d, 40)?, "e_shoff")?;
        let shentsize = usize::from(u16_at(d, 58)?);
        let shnum = usize::from(u16_at(d, 60)?);
        let shstrndx = usize::from(u16_at(d, 62)?);
        if shoff == 0 || shnum == 0 {
            return bad("no section header table");
        }
        if shentsize != 64 {
            return bad(format!("e_shentsize is {shentsize}, not 64"));
        }
        let mut sections = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let h = shoff + i * 64;
            if h + 64 > d.len() {
                return bad("section header table is truncated");
            }
            sections.push(Section {
                index: i,
                name: String::new(),
                kind: u32_at(d, h + 4)?,
                flags: u64_at(d, h + 8)?,
                offset: u64_at(d, h + 24)?,
                size: u64_at(d, h + 32)?,
                link: u32_at(d, h + 40)?,
                info: u32_at(d, h + 44)?,
                align: u64_at(d, h + 48)?,
                entsize: u64_at(d, h + 56)?,
            });
            let name_off = u32_at(d, h)?;
            sections[i].name = format!("#{name_off}"); // replaced below
        }
        if shstrndx >= shnum {
            return bad(format!("e_shstrndx {shstrndx} is out of range"));
        }
        let mut elf = Elf { data, e_type, e_machine, sections, symtab: None, symbols: Vec::new() };
        for i in 0..shnum {
            let h = shoff + i * 64;
            let name_off = u32_at(&elf.data, h)?;
            elf.sections[i].name = elf.string(shstrndx, name_off)?;
        }
        for s in &elf.sections {
            if s.kind != SHT_NOBITS {
                let end = s.offset.checked_add(s.size);
                if end.is_none_or(|e| e > elf.data.len() as u64) {
                    return bad(format!("section {} lies outside the file", s.name));
                }
            }
        }
        let symtabs: Vec<usize> =
            elf.sections.iter().filter(|s| s.kind == SHT_SYMTAB).map(|s| s.index).collect();
        if symtabs.len() > 1 {
            return bad("more than one symbol table");
        }
        elf.symtab = symtabs.first().copied();
        if let Some(st) = elf.symtab {
            elf.symbols = elf.read_symbols(st)?;
        }
        Ok(elf)
    }

    /// A NUL-terminated string at `off` in string table section `sec`.
    pub fn string(&self, sec: usize, off: u32) -> Result<String, BadElf> {
        let Some(s) = self.sections.get(sec) else {
            return bad(format!("string table section {sec} does not exist"));
        };
        let bytes = self.bytes(s).unwrap_or(&[]);
        let off = off as usize;
        let Some(tail) = bytes.get(off..) else {
            return bad(format!("string offset {off} is outside {}", s.name));
        };
        let Some(end) = tail.iter().position(|&b| b == 0) else {
            return bad(format!("unterminated string in {}", s.name));
        };
        Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
    }

    fn read_symbols(&self, st: usize) -> Result<Vec<Symbol>, BadElf> {
        let s = &self.sections[st];
        if s.entsize != 24 {
            return bad(format!("{} has sh_entsize {}, not 24", s.name, s.entsize));
        }
        let strtab = s.link as usize;
        let base = usize_of(s.offset, "symbol table offset")?;
        let count = usize_of(s.size / 24, "symbol count")?;
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let e = base + i * 24;
            let name_off = u32_at(&self.data, e)?;
            let info = self.data[e + 4];
            out.push(Symbol {
                index: i,
                name: if name_off == 0 { String::new() } else { self.string(strtab, name_off)? },
                bind: info >> 4,
                kind: info & 0xf,
                shndx: u16_at(&self.data, e + 6)?,
                value: u64_at(&self.data, e + 8)?,
                size: u64_at(&self.data, e + 16)?,
            });
        }
        Ok(out)
    }

    /// The file bytes of a section (`None` for `SHT_NOBITS`).
    pub fn bytes(&self, s: &Section) -> Option<&[u8]> {
        if s.kind == SHT_NOBITS {
            return None;
        }
        // Bounds were checked in `parse`.
        self.data.get(s.offset as usize..(s.offset + s.size) as usize)
    }

    /// The entries of a `SHT_RELA` section.
    pub fn relas(&self, s: &Section) -> Result<Vec<Rela>, BadElf> {
        if s.entsize != 24 {
            return bad(format!("{} has sh_entsize {}, not 24", s.name, s.entsize));
        }
        let bytes = self.bytes(s).unwrap_or(&[]);
        let mut out = Vec::with_capacity(bytes.len() / 24);
        for e in bytes.chunks_exact(24) {
            let info = u64_at(e, 8)?;
            out.push(Rela {
                offset: u64_at(e, 0)?,
                sym: (info >> 32) as u32,
                kind: info as u32,
                addend: u64_at(e, 16)? as i64,
            });
        }
        Ok(out)
    }

    /// The `DT_NEEDED` strings of a `SHT_DYNAMIC` section, if there is one
    /// (what illumos `ld -r -N dir/name` records; krtld prefers it to
    /// `_depends_on`).
    pub fn needed(&self) -> Result<Option<Vec<String>>, BadElf> {
        let Some(dy) = self.sections.iter().find(|s| s.kind == SHT_DYNAMIC) else {
            return Ok(None);
        };
        let bytes = self.bytes(dy).unwrap_or(&[]);
        let mut out = Vec::new();
        for e in bytes.chunks_exact(16) {
            let tag = u64_at(e, 0)?;
            let val = u64_at(e, 8)?;
            match tag {
                0 => break,
                1 => {
                    let off = u32::try_from(val).or_else(|_| bad("DT_NEEDED offset too large"))?;
                    out.push(self.string(dy.link as usize, off)?);
                }
                _ => {}
            }
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }

    /// How a relocation or message names symbol `idx`: its name, or its
    /// section's name for a section symbol.
    pub fn symbol_label(&self, idx: usize) -> String {
        match self.symbols.get(idx) {
            None => format!("symbol #{idx}"),
            Some(s) if s.kind == STT_SECTION => self
                .sections
                .get(usize::from(s.shndx))
                .map(|sec| sec.name.clone())
                .unwrap_or_else(|| format!("section symbol #{idx}")),
            Some(s) if s.name.is_empty() => format!("symbol #{idx}"),
            Some(s) => s.name.clone(),
        }
    }

    /// The function symbol covering `offset` in section `sec`, if any.
    pub fn function_at(&self, sec: usize, offset: u64) -> Option<&Symbol> {
        self.symbols
            .iter()
            .filter(|s| s.kind == STT_FUNC && usize::from(s.shndx) == sec && s.value <= offset)
            .filter(|s| offset < s.value + s.size.max(1))
            .max_by_key(|s| s.value)
    }

    /// `section+0xoff (in function)` for messages.
    pub fn location(&self, sec: usize, offset: u64) -> String {
        let name = self.sections.get(sec).map_or("?", |s| s.name.as_str());
        match self.function_at(sec, offset) {
            Some(f) => format!("{name}+{offset:#x} (in {})", crate::symbols::pretty(&f.name)),
            None => format!("{name}+{offset:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_elf64_le() {
        assert_eq!(Elf::parse(b"hello".to_vec()).err(), Some(BadElf("not an ELF file".into())));
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        assert!(Elf::parse(h.clone()).err().unwrap().0.contains("not ELF64"));
        h[4] = 2;
        h[5] = 2;
        assert!(Elf::parse(h.clone()).err().unwrap().0.contains("little-endian"));
        h[5] = 1;
        assert!(Elf::parse(h).err().unwrap().0.contains("no section header table"));
    }

    #[test]
    fn truncated_headers_are_errors() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[40..48].copy_from_slice(&64u64.to_le_bytes()); // e_shoff
        h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        h[60..62].copy_from_slice(&3u16.to_le_bytes()); // e_shnum
        assert!(Elf::parse(h).err().unwrap().0.contains("truncated"));
    }
}
