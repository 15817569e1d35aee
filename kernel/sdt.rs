//! DTrace SDT probes: the safe facade the registry fires them through.
//!
//! Each probe is a function here, `sdt::link_create(...)` and so on, that
//! portable code (the `#![forbid(unsafe_code)]` registry) calls at a state
//! change. What it does depends on the build:
//!
//! - **kernel** (`cfg(kmod)`): a call of the undefined C function
//!   `__dtrace_probe_<name>(uintptr_t, ...)`, which is what illumos'
//!   `DTRACE_PROBEn(name, ...)` macro expands to in kernel code. The
//!   object keeps the call as an undefined symbol; krtld, when it loads
//!   the module, recognises the `__dtrace_probe_` prefix, replaces every
//!   such call with NOPs and records the site, and the `sdt` provider
//!   offers the site as probe `sdt:<module>:<function>:<name>`, the name
//!   being the symbol's tail with each `__` turned into `-`. A disabled
//!   probe therefore costs the argument moves and a few NOPs, nothing
//!   else. Arguments are integers and pointers, each passed as one
//!   `uintptr_t` (`args[0]` ... in D).
//! - **host**: the same call records the probe's name and arguments in
//!   the calling thread's probe log, if that thread started a
//!   [`Recording`]; tests assert the sequence of state changes a scenario
//!   goes through. Without a recording a probe does nothing.
//!
//! The list of probes, with their arguments, is [`PROBES`];
//! `docs/dtrace.md` describes each and a test keeps the two in step.
//!
//! # Arguments
//!
//! Integers are widened to 64 bits (zone ids are never negative). A
//! string argument is a `char *` to a NUL-terminated copy on the firing
//! thread's stack, valid for the probe's action only (`stringof(args[n])`
//! in D); the host log keeps its text. The `link` argument of the link
//! probes is the address of the link record (`Link`, inside its
//! `dlszone_link_cache` buffer in the kernel), the same value in every
//! probe about that record, which `::whatis` in mdb maps to its buffer
//! (`docs/debugging.md`).

use core::ffi::CStr;

/// One argument of a probe, as a `uintptr_t`, and as the host log keeps
/// it.
pub trait ProbeArg {
    /// The value passed to `__dtrace_probe_*`.
    fn raw(&self) -> usize;
    /// The value in the host's probe log.
    #[cfg(not(kmod))]
    fn logged(&self) -> Value;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ProbeArg for $t {
            #[inline(always)]
            fn raw(&self) -> usize {
                *self as usize
            }
            #[cfg(not(kmod))]
            fn logged(&self) -> Value {
                Value::Int(*self as u64)
            }
        }
    )*};
}
int_arg!(u8, u32, u64, usize, i32);

impl ProbeArg for bool {
    #[inline(always)]
    fn raw(&self) -> usize {
        usize::from(*self)
    }
    #[cfg(not(kmod))]
    fn logged(&self) -> Value {
        Value::Int(u64::from(*self))
    }
}

impl ProbeArg for &CStr {
    #[inline(always)]
    fn raw(&self) -> usize {
        self.as_ptr() as usize
    }
    #[cfg(not(kmod))]
    fn logged(&self) -> Value {
        Value::Str(self.to_string_lossy().into_owned())
    }
}

/// A NUL-terminated copy of a short name (a link name), for a string
/// argument: 32 bytes on the firing thread's stack, nothing allocated.
/// Its last byte is always NUL, so the probe is handed its address as a
/// C string with no scan for the NUL (a disabled probe costs no more
/// than the copy); the host log finds the text only when it records.
pub struct NameArg([u8; 32]);

impl ProbeArg for &NameArg {
    #[inline(always)]
    fn raw(&self) -> usize {
        self.0.as_ptr() as usize
    }
    #[cfg(not(kmod))]
    fn logged(&self) -> Value {
        Value::Str(self.as_cstr().to_string_lossy().into_owned())
    }
}

impl NameArg {
    /// Copies `bytes` (cut at 31) and terminates it.
    #[inline(always)]
    pub fn new(bytes: &[u8]) -> NameArg {
        let mut b = [0u8; 32];
        let n = bytes.len().min(31);
        b[..n].copy_from_slice(&bytes[..n]);
        NameArg(b)
    }

    /// The empty string (a link with no name yet).
    pub const EMPTY: NameArg = NameArg([0; 32]);

    /// A name kept as four little-endian words of its bytes, zero padded
    /// (how a link record keeps its name): the words' bytes are the C
    /// string already. The last byte is forced to NUL.
    #[inline(always)]
    pub fn from_words(words: [u64; 4]) -> NameArg {
        let mut b = [0u8; 32];
        for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        b[31] = 0;
        NameArg(b)
    }

    /// The C string.
    pub fn as_cstr(&self) -> &CStr {
        // The last byte is always NUL, so there is one to find.
        CStr::from_bytes_until_nul(&self.0).unwrap_or(c"")
    }
}

/// Declares the probes: for each, the facade function, the C symbol it
/// calls in the kernel, the probe name D sees, and its arguments.
macro_rules! probes {
    ($(
        $(#[$doc:meta])*
        fn $name:ident => $sym:ident = $probe:literal ( $($arg:ident : $ty:ty),* );
    )*) => {
        #[cfg(kmod)]
        #[allow(non_snake_case)]
        unsafe extern "C" {
            $( fn $sym($($arg: usize),*); )*
        }

        $(
            $(#[$doc])*
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            pub fn $name($($arg: $ty),*) {
                #[cfg(kmod)]
                {
                    // SAFETY: krtld resolves the call to NOPs at load (or,
                    // with the probe enabled, to DTrace's probe trap, which
                    // reads the argument registers and returns); every
                    // argument is a plain integer or a pointer DTrace only
                    // reads while the probe fires, during this call.
                    unsafe { $sym($(ProbeArg::raw(&$arg)),*) };
                }
                #[cfg(not(kmod))]
                {
                    log::fire($probe, || std::vec![$(ProbeArg::logged(&$arg)),*]);
                }
            }
        )*

        /// Every probe: its name in D, its C symbol, its arguments' names.
        pub const PROBES: &[Probe] = &[$(
            Probe {
                name: $probe,
                symbol: stringify!($sym),
                args: &[$(stringify!($arg)),*],
            },
        )*];
    };
}

/// One probe of [`PROBES`].
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The probe name, as D names it (`dlszone-link-create`).
    pub name: &'static str,
    /// The C symbol its sites call (`__dtrace_probe_dlszone__link__create`).
    pub symbol: &'static str,
    /// Its arguments, `args[0]` first.
    pub args: &'static [&'static str],
}

/// Kinds of hold in the hold probes' `kind` argument.
pub mod kind {
    /// The registry's existence hold.
    pub const EXISTENCE: u32 = 0;
    /// The loan hold of a lent link.
    pub const LOAN: u32 = 1;
    /// An open DLPI stream.
    pub const STREAM: u32 = 2;
    /// An open `/dev/net` node.
    pub const DEVNET: u32 = 3;
    /// A kernel consumer's hold by id or name.
    pub const NAMED: u32 = 4;
    /// A temporary hold (only in `dlszone-link-bad-release`).
    pub const TEMPORARY: u32 = 5;
    /// A C handle that holds nothing, so neither its link nor its kind is
    /// known (only in `dlszone-link-bad-release`, with link id 0).
    pub const HANDLE: u32 = 6;
}

/// Kinds of notice in the notice probes' `what` argument.
pub mod notice {
    /// `DLMGMT_CMD_SETZONEID`: the link moved to `zone`.
    pub const SETZONE: u32 = 1;
    /// A transient link went away with its zone `zone`.
    pub const LINKGONE: u32 = 2;
}

probes! {
    /// A link record was created: `linkid` 0 and `name` empty for a
    /// physical link waiting for its id (`create_pending`).
    fn link_create => __dtrace_probe_dlszone__link__create = "dlszone-link-create"
        (linkid: u32, zone: i32, transient: bool, persistent: bool, name: &NameArg, link: usize);
    /// A pending link got its id and name.
    fn link_activate => __dtrace_probe_dlszone__link__activate = "dlszone-link-activate"
        (linkid: u32, name: &NameArg, link: usize);
    /// A link was renamed inside `zone`.
    fn link_rename => __dtrace_probe_dlszone__link__rename = "dlszone-link-rename"
        (linkid: u32, zone: i32, oldname: &NameArg, newname: &NameArg, link: usize);
    /// The global zone lent a link to `zone` (dlmgmtd agreed).
    fn link_lend => __dtrace_probe_dlszone__link__lend = "dlszone-link-lend"
        (linkid: u32, zone: i32, transient: bool, link: usize);
    /// A lent link came back from zone `from` to its owner `to`.
    fn link_return => __dtrace_probe_dlszone__link__return = "dlszone-link-return"
        (linkid: u32, from: i32, to: i32, link: usize);
    /// A link was condemned: no new hold succeeds.
    fn link_condemn => __dtrace_probe_dlszone__link__condemn = "dlszone-link-condemn"
        (linkid: u32, zone: i32, link: usize);
    /// A link left every table (by name, id, MAC name); held ones wait in
    /// limbo.
    fn link_detach => __dtrace_probe_dlszone__link__detach = "dlszone-link-detach"
        (linkid: u32, zone: i32, link: usize);
    /// The last hold of a detached link went: the record is dead.
    fn link_free => __dtrace_probe_dlszone__link__free = "dlszone-link-free"
        (linkid: u32, zone: i32, link: usize);
    /// A long hold was taken by a holder in zone `holder`.
    fn link_hold => __dtrace_probe_dlszone__link__hold = "dlszone-link-hold"
        (linkid: u32, kind: u32, holder: i32, link: usize);
    /// A long hold was given back.
    fn link_rele => __dtrace_probe_dlszone__link__rele = "dlszone-link-rele"
        (linkid: u32, kind: u32, holder: i32, link: usize);
    /// A release matched no hold: `errno` is ENOENT (a bug in the caller)
    /// or ESTALE (forced recovery had already reclaimed it).
    fn link_bad_release => __dtrace_probe_dlszone__link__bad__release =
        "dlszone-link-bad-release"
        (linkid: u32, kind: u32, holder: i32, errno: i32, link: usize);
    /// A zone booted (its exclusive-IP stack came up).
    fn zone_boot => __dtrace_probe_dlszone__zone__boot = "dlszone-zone-boot"
        (zone: i32, uniqid: u64);
    /// A halted, empty zone was forgotten.
    fn zone_destroy => __dtrace_probe_dlszone__zone__destroy = "dlszone-zone-destroy"
        (zone: i32, uniqid: u64);
    /// A zone halt starts with `links` links in the zone.
    fn halt_start => __dtrace_probe_dlszone__halt__start = "dlszone-halt-start"
        (zone: i32, uniqid: u64, links: u64);
    /// A zone halt ended: links returned to their owner, condemned, and
    /// left in the zone (non-zero: the zone is stuck in down).
    fn halt_end => __dtrace_probe_dlszone__halt__end = "dlszone-halt-end"
        (zone: i32, returned: u64, condemned: u64, left: u64);
    /// A recovery of a down zone starts.
    fn recover_start => __dtrace_probe_dlszone__recover__start = "dlszone-recover-start"
        (zone: i32, forced: bool, links: u64);
    /// A recovery ended: long holds of the dead zone it reclaimed, and
    /// links still in the zone.
    fn recover_end => __dtrace_probe_dlszone__recover__end = "dlszone-recover-end"
        (zone: i32, forced: bool, reclaimed: u64, left: u64);
    /// A notice for dlmgmtd was queued in the outbox (sequence `seq`).
    fn notice_queued => __dtrace_probe_dlszone__notice__queued = "dlszone-notice-queued"
        (linkid: u32, zone: i32, what: u32, seq: u64);
    /// dlmgmtd took a notice (queued or asked directly by a move).
    fn notice_delivered => __dtrace_probe_dlszone__notice__delivered =
        "dlszone-notice-delivered"
        (linkid: u32, zone: i32, what: u32);
    /// A notice could not be delivered (`errno`, EBADF with no dlmgmtd).
    fn notice_failed => __dtrace_probe_dlszone__notice__failed = "dlszone-notice-failed"
        (linkid: u32, zone: i32, what: u32, errno: i32);
}

/// One recorded argument (host builds).
#[cfg(not(kmod))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer or a pointer.
    Int(u64),
    /// The text of a string argument.
    Str(std::string::String),
}

#[cfg(not(kmod))]
pub use log::{Fired, Recording};

/// Whether a probe fired now can have an observer, so that a caller may
/// skip building arguments nobody reads. In the kernel, always: a probe
/// site is DTrace's to enable at any time, and costs its argument set-up
/// and NOPs. On the host, only while the calling thread records (the
/// check every probe makes first anyway).
#[inline(always)]
pub fn enabled() -> bool {
    #[cfg(kmod)]
    {
        true
    }
    #[cfg(not(kmod))]
    {
        log::on()
    }
}

/// The host's per-thread probe log.
#[cfg(not(kmod))]
mod log {
    use core::cell::{Cell, RefCell};
    use std::vec::Vec;

    use super::Value;

    /// One firing.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Fired {
        /// The probe name (`dlszone-link-create`).
        pub probe: &'static str,
        /// Its arguments.
        pub args: Vec<Value>,
    }

    impl Fired {
        /// Integer argument `i` (0 for a string or a missing one).
        pub fn arg(&self, i: usize) -> u64 {
            match self.args.get(i) {
                Some(Value::Int(v)) => *v,
                _ => 0,
            }
        }

        /// String argument `i` ("" for an integer or a missing one).
        pub fn str_arg(&self, i: usize) -> &str {
            match self.args.get(i) {
                Some(Value::Str(s)) => s,
                _ => "",
            }
        }
    }

    std::thread_local! {
        /// Whether this thread records. Checked first: it needs no
        /// destructor, so testing it never allocates (the first use of a
        /// thread-local that has one registers it, which may).
        static ON: Cell<bool> = const { Cell::new(false) };
        static LOG: RefCell<Option<Vec<Fired>>> = const { RefCell::new(None) };
    }

    /// Records `probe`, if this thread is recording. The log's own
    /// allocations are test instrumentation, not the registry's: they are
    /// kept out of the no-allocation check (`registry::noalloc`).
    ///
    /// Only the check is inline: a probe fired while nothing records costs
    /// one thread-local load, as a disabled probe in the kernel costs its
    /// NOPs.
    #[inline(always)]
    pub(super) fn fire(probe: &'static str, args: impl FnOnce() -> Vec<Value>) {
        if on() {
            record(probe, args);
        }
    }

    /// Whether this thread records.
    #[inline(always)]
    pub(super) fn on() -> bool {
        ON.try_with(Cell::get).unwrap_or(false)
    }

    /// [`fire`] while this thread records.
    #[cold]
    #[inline(never)]
    fn record(probe: &'static str, args: impl FnOnce() -> Vec<Value>) {
        crate::registry::noalloc::exempt(|| {
            let _ = LOG.try_with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    if let Some(v) = l.as_mut() {
                        v.push(Fired { probe, args: args() });
                    }
                }
            });
        });
    }

    /// This thread's probe log while it lives: every probe the thread
    /// fires is recorded, in order. One recording per thread at a time;
    /// starting another restarts the log.
    #[must_use = "the log is kept only while the recording lives"]
    pub struct Recording {
        _not_send: core::marker::PhantomData<*const ()>,
    }

    impl Recording {
        /// Starts recording this thread's probes.
        pub fn start() -> Recording {
            LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
            ON.with(|on| on.set(true));
            Recording { _not_send: core::marker::PhantomData }
        }

        /// Takes what was recorded so far (recording goes on).
        pub fn take(&self) -> Vec<Fired> {
            LOG.with(|l| l.borrow_mut().as_mut().map(core::mem::take).unwrap_or_default())
        }

        /// Takes the names of the probes fired so far, in order.
        pub fn names(&self) -> Vec<&'static str> {
            self.take().into_iter().map(|f| f.probe).collect()
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            let _ = ON.try_with(|on| on.set(false));
            let _ = LOG.try_with(|l| l.borrow_mut().take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn names_follow_the_sdt_convention() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PROBES {
            let tail = p.symbol.strip_prefix("__dtrace_probe_").expect(p.symbol);
            assert_eq!(tail.replace("__", "-"), p.name, "{}", p.symbol);
            assert!(p.name.starts_with("dlszone-"), "{}", p.name);
            assert!(p.args.len() <= 8, "{}: DTrace passes at most 8 SDT arguments", p.name);
            assert!(seen.insert(p.name), "{} twice", p.name);
        }
    }

    #[test]
    fn the_log_records_only_while_recording() {
        zone_boot(3, 7);
        let rec = Recording::start();
        zone_boot(5, 9);
        let name = NameArg::new(b"net0");
        link_rename(7, 5, &name, &NameArg::EMPTY, 0x10);
        let fired = rec.take();
        assert_eq!(fired.len(), 2);
        assert_eq!(fired[0].probe, "dlszone-zone-boot");
        assert_eq!((fired[0].arg(0), fired[0].arg(1)), (5, 9));
        assert_eq!(fired[1].str_arg(2), "net0");
        assert_eq!(fired[1].str_arg(3), "");
        assert_eq!(fired[1].arg(4), 0x10);
        drop(rec);
        zone_boot(1, 1);
        assert!(Recording::start().take().is_empty());
    }

    #[test]
    fn name_args_are_cut_and_terminated() {
        let long = [b'a'; 40];
        let n = NameArg::new(&long);
        assert_eq!(n.as_cstr().to_bytes().len(), 31);
        assert_eq!(String::from_utf8_lossy(NameArg::new(b"x1").as_cstr().to_bytes()), "x1");
        for name in [&b"net12"[..], b"x123456789012345678901234567890"] {
            let words = crate::registry::LinkName::new(name).unwrap().to_words();
            assert_eq!(NameArg::from_words(words).as_cstr().to_bytes(), name);
        }
        assert_eq!(NameArg::from_words([0; 4]).as_cstr().to_bytes(), b"");
    }
}
