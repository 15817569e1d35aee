//! Loading an object as krtld does (`usr/src/uts/common/krtld/kobj.c`,
//! `usr/src/uts/intel/amd64/krtld/kobj_reloc.c`): check it, resolve its
//! symbols against the kernel and its dependencies, lay its allocated
//! sections out, relocate them and protect them.
//!
//! Everything that makes krtld fail the load fails it here, and a few
//! things krtld would accept but get wrong fail too; every problem found
//! is reported, not just the first:
//!
//! - not ELF64 little-endian, not `ET_REL`, not `EM_X86_64`; no text
//!   ("no text for module"); an `SHT_REL` section; TLS sections or
//!   symbols;
//! - a relocation type krtld would not apply correctly (see
//!   [`crate::reloc`]), named with its section, offset, function and
//!   symbol;
//! - an undefined symbol neither the kernel core nor a module the object
//!   depends on defines, in krtld's words (`undefined symbol 'x'`), every
//!   one listed; a dependency the emulated kernel does not have;
//! - a relocated value that does not fit its field.
//!
//! Dependencies come from the `DT_NEEDED` entries of a `.dynamic`
//! section (illumos `ld -N`), else from the `_depends_on` string, as in
//! krtld, unless the caller names them (an object linked into another
//! module).
//!
//! Undefined `__dtrace_probe_*` symbols are SDT probe sites: krtld turns
//! each call into NOPs (a tail call into NOPs and `ret`) and records the
//! site for the SDT provider; so does this loader, which also requires
//! that the site is a `call` or `jmp` (krtld would patch blindly).
//! Undefined weak symbols nobody defines leave their fields alone.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::elf::{self, Elf, Section, Symbol};
use crate::emu::{Bound, KernelImage, Provider, SDT_PREFIX, sdt};
use crate::lowmem::{LowMap, PAGE, Prot, round_up};
use crate::reloc::{self, Kind};

/// Why an object was not loaded: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The object's file name.
    pub object: String,
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "kload: {}: {p}", self.object)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// How to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The modules the object depends on, instead of what it declares
    /// (for an object linked into a module that declares them).
    pub depends: Option<Vec<String>>,
    /// Objects already loaded, each as part of a module: their global
    /// symbols satisfy the undefined symbols of an object that depends
    /// on that module, as krtld resolves a module's symbols against the
    /// modules of its `_depends_on` (after the kernel core).
    pub loaded: Vec<ModuleExports>,
}

/// The global symbols a loaded object contributes to a module.
#[derive(Clone, Debug, Default)]
pub struct ModuleExports {
    /// The module (`misc/dls`).
    pub module: String,
    /// The object's file name, for messages.
    pub object: String,
    /// Name → load address.
    pub symbols: BTreeMap<String, usize>,
}

impl ModuleExports {
    /// The global (and weak) defined symbols of `obj`, as part of module
    /// `module`.
    pub fn of(module: &str, obj: &Object) -> ModuleExports {
        ModuleExports {
            module: module.into(),
            object: obj.name.clone(),
            symbols: obj
                .symbols
                .iter()
                .filter(|s| s.bind != elf::STB_LOCAL)
                .map(|s| (s.name.clone(), s.addr))
                .collect(),
        }
    }
}

/// An SDT probe site krtld would record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The probe name (after `__dtrace_probe_`).
    pub name: String,
    /// Address of the patched instruction.
    pub addr: usize,
    /// Whether it was a tail call (patched to end in `ret`).
    pub tail_call: bool,
    /// Its stub, which records a firing (see [`crate::emu::sdt`]).
    pub stub: usize,
}

/// A defined symbol of a loaded object.
#[derive(Clone, Debug)]
pub struct Sym {
    /// Name.
    pub name: String,
    /// Load address.
    pub addr: usize,
    /// Size.
    pub size: u64,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// Whether it lies in an executable section.
    pub in_text: bool,
}

/// What the load did, for the report.
#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    /// Bytes of text, read-only data, data and bss (COMMON included).
    pub text: usize,
    /// Read-only data bytes.
    pub rodata: usize,
    /// Data bytes.
    pub data: usize,
    /// Bss bytes.
    pub bss: usize,
    /// Relocations applied, by type name.
    pub relocations: BTreeMap<String, usize>,
    /// Kernel symbols the object binds to.
    pub kernel_symbols: Vec<String>,
    /// Symbols bound to loaded objects of its dependencies, as
    /// `module: object`symbol`.
    pub module_symbols: Vec<String>,
    /// Time from reading the file to a protected, relocated image.
    pub time: Duration,
}

/// A loaded, relocated object.
pub struct Object {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its module name (the file name).
    pub name: String,
    map: LowMap,
    /// Its defined symbols (all bindings).
    pub symbols: Vec<Sym>,
    /// The modules it depends on.
    pub depends: Vec<String>,
    /// Its SDT probe sites.
    pub probes: Vec<Probe>,
    /// What the load did.
    pub stats: LoadStats,
    /// Bytes of text (and probe stubs) from the start of the mapping.
    text_end: usize,
}

impl Object {
    /// The object's address range.
    pub fn range(&self) -> (usize, usize) {
        (self.map.addr(), self.map.addr() + self.map.len())
    }

    /// A global (or weak) defined symbol, as `kobj_lookup` finds
    /// `_init`.
    pub fn global(&self, name: &str) -> Option<&Sym> {
        self.symbols.iter().find(|s| s.name == name && s.bind != elf::STB_LOCAL)
    }
}

impl Object {
    /// Enables (or disables again) every SDT probe site: an enabled site
    /// calls its stub, which records the firing ([`crate::emu::sdt`]); a
    /// disabled one is NOPs, as krtld left it.
    ///
    /// # Safety
    ///
    /// No kernel thread may be running the object's code during the call:
    /// its text is rewritten (five bytes per site, not atomically).
    pub unsafe fn set_probes(&self, enabled: bool) -> std::io::Result<()> {
        let (start, end) = (self.map.addr(), self.map.addr() + self.text_end);
        self.map.protect(0, self.text_end, Prot::ReadWrite)?;
        for p in &self.probes {
            assert!(p.addr >= start && p.addr + 5 <= end);
            let mut code = [0x90u8; 5];
            if enabled {
                code[0] = if p.tail_call { 0xe9 } else { 0xe8 };
                let rel = p.stub as i64 - (p.addr as i64 + 5);
                code[1..].copy_from_slice(&(rel as i32).to_le_bytes());
            } else if p.tail_call {
                code[4] = 0xc3;
            }
            // SAFETY: the site lies in our text (asserted), now writable;
            // the caller guarantees nothing executes it meanwhile.
            unsafe { (p.addr as *mut u8).copy_from_nonoverlapping(code.as_ptr(), 5) };
        }
        self.map.protect(0, self.text_end, Prot::ReadExec)
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        crate::symbols::unregister(self.map.addr());
    }
}

struct Layout {
    /// Offset of each allocated section in the mapping.
    offsets: Vec<Option<usize>>,
    /// Offset of the SDT probe stubs, at the end of the text.
    probe_stubs: usize,
    /// Offsets of COMMON symbols.
    commons: BTreeMap<usize, usize>,
    text_end: usize,
    rodata_end: usize,
    total: usize,
    stats: LoadStats,
}

fn layout(elf: &Elf, probe_sites: usize) -> Layout {
    let mut offsets = vec![None; elf.sections.len()];
    let mut at = 0usize;
    let mut stats = LoadStats::default();
    let groups: [&dyn Fn(&Section) -> bool; 4] = [
        &|s| s.is_exec(),
        &|s| !s.is_exec() && s.flags & elf::SHF_WRITE == 0 && s.kind != elf::SHT_NOBITS,
        &|s| !s.is_exec() && s.flags & elf::SHF_WRITE != 0 && s.kind != elf::SHT_NOBITS,
        &|s| s.kind == elf::SHT_NOBITS,
    ];
    let mut ends = [0usize; 4];
    let mut commons = BTreeMap::new();
    let mut probe_stubs = 0;
    for (g, pick) in groups.iter().enumerate() {
        let start = at;
        for s in elf.sections.iter().filter(|s| s.is_alloc() && pick(s)) {
            at = round_up(at, (s.align.max(1)) as usize);
            offsets[s.index] = Some(at);
            at += s.size as usize;
        }
        if g == 0 {
            at = round_up(at, 16);
            probe_stubs = at;
            at += probe_sites * sdt::STUB;
        }
        if g == 3 {
            for sym in elf.symbols.iter().filter(|s| s.shndx == elf::SHN_COMMON) {
                // st_value holds the alignment of a COMMON symbol.
                at = round_up(at, (sym.value.max(1)) as usize);
                commons.insert(sym.index, at);
                at += sym.size as usize;
            }
        }
        let size = at - start;
        match g {
            0 => stats.text = size,
            1 => stats.rodata = size,
            2 => stats.data = size,
            _ => stats.bss = size,
        }
        at = round_up(at, PAGE);
        ends[g] = at;
    }
    Layout {
        offsets,
        probe_stubs,
        commons,
        text_end: ends[0],
        rodata_end: ends[1],
        total: at.max(PAGE),
        stats,
    }
}

/// The `_depends_on` list, if the object has that symbol (krtld's
/// fallback when there is no `.dynamic`): its value must lie in an
/// allocated section and its last byte (`st_size - 1`) must be NUL.
fn depends_on(elf: &Elf) -> Result<Option<Vec<String>>, String> {
    let Some(sym) = elf.symbols.iter().find(|s| s.name == "_depends_on" && !s.is_undef()) else {
        return Ok(None);
    };
    let sec = elf
        .sections
        .get(usize::from(sym.shndx))
        .filter(|s| s.is_alloc())
        .ok_or("_depends_on is not in a loaded section")?;
    let bytes = elf.bytes(sec).ok_or("_depends_on is in a section with no contents")?;
    let (start, end) = (sym.value as usize, (sym.value + sym.size) as usize);
    let value = bytes.get(start..end).filter(|v| !v.is_empty()).ok_or("_depends_on is empty")?;
    if value[value.len() - 1] != 0 {
        return Err("_depends_on: its last byte (st_size - 1) is not NUL".into());
    }
    let text = String::from_utf8_lossy(&value[..value.len() - 1]);
    Ok(Some(text.split([' ', '\t']).filter(|t| !t.is_empty()).map(String::from).collect()))
}

fn module_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into())
}

/// Loads the object at `path` against the emulated kernel `image`.
pub fn load(path: &Path, image: &KernelImage, opts: &LoadOptions) -> Result<Object, LoadError> {
    let t0 = Instant::now();
    let name = module_name(path);
    let fail = |problems: Vec<String>| LoadError { object: name.clone(), problems };
    let data = std::fs::read(path).map_err(|e| fail(vec![format!("cannot read: {e}")]))?;
    let elf = Elf::parse(data).map_err(|e| fail(vec![e.0]))?;
    let mut problems = Vec::new();
    if elf.e_type != elf::ET_REL {
        problems.push(format!(
            "e_type is {}, not ET_REL (1): krtld loads relocatable objects only",
            elf.e_type
        ));
    }
    if elf.e_machine != elf::EM_X86_64 {
        problems.push(format!("e_machine is {}, not EM_X86_64 (62)", elf.e_machine));
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    check_sections(&elf, &mut problems);

    // Dependencies, then symbols.
    let depends = match &opts.depends {
        Some(d) => d.clone(),
        None => match elf.needed() {
            Ok(Some(n)) => n,
            Ok(None) => depends_on(&elf)
                .unwrap_or_else(|e| {
                    problems.push(e);
                    None
                })
                .unwrap_or_default(),
            Err(e) => {
                problems.push(e.0);
                Vec::new()
            }
        },
    };
    let known = image.modules();
    for d in &depends {
        if !known.contains(d.as_str()) {
            problems.push(format!(
                "dependency {d}: no such module in the emulated kernel (it has {})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let (bound, from_loaded) = bind_symbols(&elf, image, &depends, &opts.loaded, &mut problems);
    check_relocation_types(&elf, &mut problems);
    if !problems.is_empty() {
        return Err(fail(problems));
    }

    // Lay out, copy, relocate, protect.
    let lay = layout(&elf, probe_sites(&elf));
    let mut map = LowMap::new(lay.total).map_err(|e| fail(vec![format!("cannot map: {e}")]))?;
    let base = map.addr();
    {
        // SAFETY: the mapping is new and still writable; nothing runs from
        // it yet.
        let image_bytes = unsafe { map.bytes_mut() };
        for s in &elf.sections {
            if let (Some(off), Some(b)) = (lay.offsets[s.index], elf.bytes(s)) {
                if s.kind != elf::SHT_NOBITS {
                    image_bytes[off..off + b.len()].copy_from_slice(b);
                }
            }
        }
    }
    let addrs = symbol_addresses(&elf, &lay, base, &bound, &mut problems);
    let mut stats = lay.stats.clone();
    let probes = {
        // SAFETY: still writable and unused, as above.
        let image_bytes = unsafe { map.bytes_mut() };
        relocate(&elf, &lay, base, image_bytes, &addrs, &mut stats, &mut problems)
    };
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    let protect = [
        (0, lay.text_end, Prot::ReadExec),
        (lay.text_end, lay.rodata_end - lay.text_end, Prot::Read),
    ];
    for (off, len, prot) in protect {
        map.protect(off, len, prot).map_err(|e| fail(vec![format!("mprotect: {e}")]))?;
    }

    let symbols: Vec<Sym> = elf
        .symbols
        .iter()
        .filter(|s| {
            !s.name.is_empty()
                && matches!(s.kind, elf::STT_FUNC | elf::STT_OBJECT | 0)
                && !s.is_undef()
                && s.shndx != elf::SHN_ABS
        })
        .filter_map(|s| {
            addrs[s.index].map(|addr| Sym {
                name: s.name.clone(),
                addr,
                size: s.size,
                kind: s.kind,
                bind: s.bind,
                in_text: elf.sections.get(usize::from(s.shndx)).is_some_and(|x| x.is_exec()),
            })
        })
        .collect();
    crate::symbols::register(
        base,
        base + map.len(),
        &name,
        symbols.iter().map(|s| (s.addr, s.size as usize, s.name.clone())).collect(),
    );
    let mut kernel_symbols: Vec<String> = bound
        .iter()
        .filter(|(i, _)| !from_loaded.contains_key(*i))
        .map(|(_, (n, _))| n.clone())
        .collect();
    kernel_symbols.sort();
    kernel_symbols.dedup();
    stats.kernel_symbols = kernel_symbols;
    let mut module_symbols: Vec<String> = from_loaded.into_values().collect();
    module_symbols.sort();
    module_symbols.dedup();
    stats.module_symbols = module_symbols;
    stats.time = t0.elapsed();
    let text_end = lay.text_end;
    Ok(Object { path: path.into(), name, map, symbols, depends, probes, stats, text_end })
}

/// How many relocations of loaded sections name an SDT probe.
fn probe_sites(elf: &Elf) -> usize {
    elf.sections
        .iter()
        .filter(|rs| rs.kind == elf::SHT_RELA)
        .filter(|rs| elf.sections.get(rs.info as usize).is_some_and(|t| t.is_alloc()))
        .filter_map(|rs| elf.relas(rs).ok())
        .flatten()
        .filter(|r| {
            elf.symbols
                .get(r.sym as usize)
                .is_some_and(|s| s.is_undef() && s.name.starts_with(SDT_PREFIX))
        })
        .count()
}

fn check_sections(elf: &Elf, problems: &mut Vec<String>) {
    for s in &elf.sections {
        if s.kind == elf::SHT_REL {
            problems.push(format!("{} is SHT_REL: krtld can't process type SHT_REL", s.name));
        }
        if s.is_alloc() && s.flags & elf::SHF_TLS != 0 {
            problems
                .push(format!("section {} is thread-local: krtld does not support TLS", s.name));
        }
    }
    let text: u64 =
        elf.sections.iter().filter(|s| s.is_alloc() && s.is_exec()).map(|s| s.size).sum();
    if text == 0 {
        problems.push("no text for module".into());
    }
    if elf.symtab.is_none() {
        problems.push("no symbol table".into());
    }
}

/// Resolves every undefined global symbol: symbol index → (name,
/// binding), against the kernel image, then the loaded objects of the
/// modules the object depends on; and, for those bound to a loaded
/// object, symbol index → `module: object`symbol`.
fn bind_symbols(
    elf: &Elf,
    image: &KernelImage,
    depends: &[String],
    loaded: &[ModuleExports],
    problems: &mut Vec<String>,
) -> (BTreeMap<usize, (String, Bound)>, BTreeMap<usize, String>) {
    let mut bound = BTreeMap::new();
    let mut from_loaded = BTreeMap::new();
    let mut missing = Vec::new();
    for s in elf.symbols.iter().skip(1) {
        if s.kind == elf::STT_TLS {
            problems.push(format!("TLS symbol not supported '{}'", s.name));
            continue;
        }
        if !s.is_undef() || s.kind == elf::STT_FILE {
            continue;
        }
        if s.bind == elf::STB_LOCAL {
            if !s.name.is_empty() {
                problems.push(format!("local undefined symbol '{}' cannot be bound", s.name));
            }
            continue;
        }
        if s.name.starts_with(SDT_PREFIX) {
            continue;
        }
        match image.lookup(&s.name) {
            Some(b) => match b.provider {
                Provider::Module(m) if !depends.iter().any(|d| d == m) => problems.push(format!(
                    "undefined symbol '{}': defined by {m}, which the object does not depend on \
                     (depends on: {})",
                    s.name,
                    if depends.is_empty() { "nothing".into() } else { depends.join(" ") }
                )),
                _ => {
                    bound.insert(s.index, (s.name.clone(), *b));
                }
            },
            None => match loaded.iter().find(|m| m.symbols.contains_key(&s.name)) {
                Some(m) if !depends.contains(&m.module) => problems.push(format!(
                    "undefined symbol '{}': defined by {} ({}), which the object does not \
                     depend on (depends on: {})",
                    s.name,
                    m.module,
                    m.object,
                    if depends.is_empty() { "nothing".into() } else { depends.join(" ") }
                )),
                Some(m) => {
                    let addr = m.symbols[&s.name];
                    // Provider::Core: the dependency was checked here.
                    let b = Bound {
                        addr,
                        provider: Provider::Core,
                        is_code: s.kind != elf::STT_OBJECT,
                    };
                    bound.insert(s.index, (s.name.clone(), b));
                    from_loaded.insert(s.index, format!("{}: {}`{}", m.module, m.object, s.name));
                }
                None if s.bind == elf::STB_WEAK => {}
                None => missing.push(s.name.clone()),
            },
        }
    }
    for m in &missing {
        problems.push(format!("undefined symbol '{m}'"));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "{} undefined symbol(s) the emulated kernel lacks (tools/kload/src/emu/ lists what it \
             has)",
            missing.len()
        ));
    }
    (bound, from_loaded)
}

fn check_relocation_types(elf: &Elf, problems: &mut Vec<String>) {
    for rs in elf.sections.iter().filter(|s| s.kind == elf::SHT_RELA) {
        let Some(target) = elf.sections.get(rs.info as usize) else {
            problems.push(format!("{} applies to missing section {}", rs.name, rs.info));
            continue;
        };
        if !target.is_alloc() {
            continue; // krtld skips relocations of sections it does not load
        }
        if Some(rs.link as usize) != elf.symtab {
            problems.push(format!("{}: reloc for non-default symtab", rs.name));
            continue;
        }
        let relas = match elf.relas(rs) {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.0);
                continue;
            }
        };
        for r in relas {
            let label = elf.symbol_label(r.sym as usize);
            if r.sym as usize >= elf.symbols.len() {
                problems.push(format!("{}: bad symbol index {}", rs.name, r.sym));
                continue;
            }
            if let Err(why) = reloc::classify(r.kind) {
                problems.push(format!(
                    "{} against {label} at {}: {why}",
                    reloc::name(r.kind),
                    elf.location(target.index, r.offset)
                ));
            }
        }
    }
}

/// Load addresses of every symbol (`None`: not in a loaded section, or
/// an undefined weak symbol nobody defines).
fn symbol_addresses(
    elf: &Elf,
    lay: &Layout,
    base: usize,
    bound: &BTreeMap<usize, (String, Bound)>,
    problems: &mut Vec<String>,
) -> Vec<Option<usize>> {
    elf.symbols
        .iter()
        .map(|s: &Symbol| match s.shndx {
            elf::SHN_UNDEF => bound.get(&s.index).map(|(_, b)| b.addr),
            elf::SHN_ABS => Some(s.value as usize),
            elf::SHN_COMMON => lay.commons.get(&s.index).map(|off| base + off),
            i if i < elf::SHN_LORESERVE => lay
                .offsets
                .get(usize::from(i))
                .copied()
                .flatten()
                .map(|off| base + off + s.value as usize),
            other => {
                problems
                    .push(format!("symbol {} has unsupported section index {other:#x}", s.name));
                None
            }
        })
        .collect()
}

fn relocate(
    elf: &Elf,
    lay: &Layout,
    base: usize,
    image: &mut [u8],
    addrs: &[Option<usize>],
    stats: &mut LoadStats,
    problems: &mut Vec<String>,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for rs in elf.sections.iter().filter(|s| s.kind == elf::SHT_RELA) {
        let target = &elf.sections[rs.info as usize];
        let Some(toff) = lay.offsets[target.index] else { continue };
        let Ok(relas) = elf.relas(rs) else { continue };
        for r in relas {
            let Ok(kind) = reloc::classify(r.kind) else { continue };
            if kind == Kind::None {
                continue;
            }
            let sym = &elf.symbols[r.sym as usize];
            let label = elf.symbol_label(r.sym as usize);
            let at = || elf.location(target.index, r.offset);
            let width = kind.width() as u64;
            if r.offset + width > target.size {
                problems.push(format!(
                    "{} at {} lies outside {}",
                    reloc::name(r.kind),
                    at(),
                    target.name
                ));
                continue;
            }
            let off = toff + r.offset as usize;
            let p = (base + off) as u64;
            if sym.is_undef() && sym.name.starts_with(SDT_PREFIX) {
                match patch_probe(image, off, kind) {
                    Ok(tail_call) => {
                        let name = &sym.name[SDT_PREFIX.len()..];
                        let at = lay.probe_stubs + probes.len() * sdt::STUB;
                        image[at..at + sdt::STUB].copy_from_slice(&sdt::stub(sdt::register(name)));
                        probes.push(Probe {
                            name: name.into(),
                            addr: base + off - 1,
                            tail_call,
                            stub: base + at,
                        });
                    }
                    Err(why) => problems.push(format!(
                        "{} against {label} at {}: {why}",
                        reloc::name(r.kind),
                        at()
                    )),
                }
                continue;
            }
            let Some(s) = addrs[r.sym as usize] else {
                if sym.is_undef() && sym.bind == elf::STB_WEAK {
                    continue; // krtld leaves an unresolved weak reference alone
                }
                problems.push(format!(
                    "{} against {label} at {}: the symbol is not in a loaded section",
                    reloc::name(r.kind),
                    at()
                ));
                continue;
            };
            let field = &mut image[off..off + width as usize];
            if let Err(o) = reloc::apply(kind, field, s as u64, r.addend, p) {
                problems.push(format!(
                    "{} against {label} at {}: value {:#x} does not fit",
                    reloc::name(r.kind),
                    at(),
                    o.value
                ));
                continue;
            }
            *stats.relocations.entry(reloc::name(r.kind)).or_default() += 1;
        }
    }
    probes
}

/// Turns the call (or tail call) whose rel32 field is at `off` into NOPs
/// (NOPs and `ret`), as krtld's `sdt_reloc_resolve`; returns whether it
/// was a tail call.
fn patch_probe(image: &mut [u8], off: usize, kind: Kind) -> Result<bool, &'static str> {
    const CALL: u8 = 0xe8;
    const JMP: u8 = 0xe9;
    const NOP: u8 = 0x90;
    const RET: u8 = 0xc3;
    if kind != Kind::Pc32 || off == 0 {
        return Err("an SDT probe site must be the rel32 of a call or jmp (krtld patches 5 bytes)");
    }
    let tail = match image[off - 1] {
        CALL => false,
        JMP => true,
        _ => return Err("an SDT probe site must be a call or jmp instruction"),
    };
    image[off - 1..off + 3].fill(NOP);
    image[off + 3] = if tail { RET } else { NOP };
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_become_nops_and_tail_calls_return() {
        let mut code = [0xe8, 1, 2, 3, 4, 0xe9, 5, 6, 7, 8, 0x55, 0, 0, 0, 0];
        assert_eq!(patch_probe(&mut code, 1, Kind::Pc32), Ok(false));
        assert_eq!(&code[..5], &[0x90; 5]);
        assert_eq!(patch_probe(&mut code, 6, Kind::Pc32), Ok(true));
        assert_eq!(&code[5..10], &[0x90, 0x90, 0x90, 0x90, 0xc3]);
        assert!(patch_probe(&mut code, 11, Kind::Pc32).is_err());
        assert!(patch_probe(&mut code, 1, Kind::Abs64).is_err());
    }
}
