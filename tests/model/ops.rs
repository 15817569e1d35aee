//! The operations a random sequence is made of, over a small universe:
//! four zone ids (the global zone included) plus bad ones, five MAC names
//! and five link ids plus bad ones, four link names plus bad ones. Small on
//! purpose, so names, ids and zones collide often.
//!
//! A generated [`Op`] names most of its targets symbolically ("the k-th
//! link the caller can see"); the harness resolves it against the model
//! into a concrete [`Call`] when the step runs. Sequences stay independent
//! of state, so proptest can shrink them freely.

use std::fmt;

use dlszone::errno::Errno;
use dlszone::registry::{DrainWait, HoldKind, LinkId, ZoneId};
use proptest::prelude::*;

/// Zone ids: the global zone, three others, two out of range, and one in
/// range that is seldom booted.
const ZONES: [i32; 7] = [0, 1, 2, 3, -1, 10_000, 9];
const LONG_MAC: &[u8] = &[b'm'; 256];
/// MAC names: five good ones, then bad ones.
const MACS: [&[u8]; 8] =
    [b"vnic0", b"vnic1", b"vnic2", b"vnic3", b"e1000g0", b"", b"bad mac", LONG_MAC];
/// Link names: four good ones, then bad ones (no final digit, empty,
/// leading digit, 32 bytes).
const NAMES: [&[u8]; 8] = [
    b"net0",
    b"net1",
    b"e1000g0",
    b"net2",
    b"net",
    b"",
    b"0net0",
    b"abcdefghijklmnopqrstuvwxyzabcde9",
];
/// Link ids: five, then `DATALINK_INVALID_LINKID`.
const IDS: [u32; 6] = [1, 2, 3, 4, 5, 0];
const KINDS: [HoldKind; 5] =
    [HoldKind::Stream, HoldKind::DevNet, HoldKind::Named, HoldKind::Existence, HoldKind::Loan];
const DAEMON_ERRORS: [Errno; 3] = [Errno::ENOMEM, Errno::EEXIST, Errno::EBADF];

/// A zone id argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Zone(pub(crate) i32);

/// A name argument (link or MAC name), printed as text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) &'static [u8]);

impl Zone {
    pub(crate) fn id(self) -> ZoneId {
        ZoneId(self.0)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "z{}", self.0)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() > 40 {
            write!(f, "<{} bytes>", self.0.len())
        } else {
            write!(f, "{:?}", String::from_utf8_lossy(self.0))
        }
    }
}

/// Which incarnation of a zone an operation names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum KeySel {
    /// The current one (or a made-up key if the id is not booted).
    Current,
    /// A key with the right id and the wrong `uniqid`.
    Stale,
}

/// One call, with concrete arguments, as the harness makes it.
#[derive(Clone, Debug)]
pub(crate) enum Call {
    Boot {
        zone: Zone,
    },
    Halt {
        zone: Zone,
        key: KeySel,
    },
    Recover {
        zone: Zone,
        key: KeySel,
        force: bool,
    },
    DestroyZone {
        zone: Zone,
        key: KeySel,
    },
    Create {
        zone: Zone,
        mac: Bytes,
        id: LinkId,
        name: Bytes,
        persistent: bool,
    },
    CreatePending {
        mac: Bytes,
    },
    DestroyPending {
        mac: Bytes,
    },
    Activate {
        mac: Bytes,
        id: LinkId,
        name: Bytes,
    },
    Destroy {
        caller: Zone,
        id: LinkId,
        wait: DrainWait,
    },
    Rename {
        caller: Zone,
        id: LinkId,
        name: Bytes,
    },
    Lend {
        caller: Zone,
        id: LinkId,
        to: Zone,
        transient: bool,
    },
    GiveBack {
        caller: Zone,
        id: LinkId,
    },
    SetZid {
        caller: Zone,
        id: LinkId,
        to: Zone,
        transient: bool,
    },
    Lookup {
        caller: Zone,
        zone: Zone,
        name: Bytes,
    },
    LookupMac {
        caller: Zone,
        mac: Bytes,
    },
    List {
        caller: Zone,
        zone: Option<Zone>,
    },
    Holders {
        caller: Zone,
        id: LinkId,
    },
    Hold {
        caller: Zone,
        id: LinkId,
        kind: HoldKind,
    },
    HoldByMac {
        caller: Zone,
        mac: Bytes,
        kind: HoldKind,
    },
    HoldByName {
        caller: Zone,
        zone: Zone,
        name: Bytes,
        kind: HoldKind,
    },
    HoldTmp {
        caller: Zone,
        id: LinkId,
    },
    /// The release of hold `handle` (a token: a release consumes it, so
    /// it cannot be released twice, nor as another kind or holder).
    Release {
        handle: usize,
    },
    Replay,
    DaemonUp(bool),
    FailNext(Errno),
    /// The upcall after the next `n` fails.
    FailAfter(u8, Errno),
}

/// A zone argument as generated: resolved against the model when run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ZoneArg {
    /// The global zone.
    Global,
    /// The k-th (modulo) non-global zone the registry knows, in any state.
    Known(u8),
    /// The k-th (modulo) halted zone, or as `Known` if none is.
    Halted(u8),
    /// A fixed id from the universe: maybe not booted, maybe invalid.
    Raw(Zone),
}

/// A link argument as generated.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LinkArg {
    /// The k-th (modulo) active link.
    Any(u8),
    /// The k-th (modulo) active link the caller can see.
    Visible(u8),
    /// A fixed id: maybe unused, maybe `DATALINK_INVALID_LINKID`.
    Raw(LinkId),
}

/// A MAC name argument as generated.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MacArg {
    /// The MAC name of the k-th (modulo) tabled link, pending ones included.
    Tabled(u8),
    /// A fixed MAC name, maybe invalid.
    Raw(Bytes),
}

/// One step of a generated sequence. Arguments that name zones, links and
/// MAC names mostly pick among those that exist when the step runs, so a
/// sequence spends its steps on live state rather than on `ENOENT`; the
/// rest are fixed values, good or bad.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Boot { zone: ZoneArg },
    Halt { zone: ZoneArg, key: KeySel },
    Recover { zone: ZoneArg, key: KeySel, force: bool },
    DestroyZone { zone: ZoneArg, key: KeySel },
    Create { zone: ZoneArg, mac: MacArg, id: LinkArg, name: Bytes, persistent: bool },
    CreatePending { mac: MacArg },
    DestroyPending { mac: MacArg },
    Activate { mac: MacArg, id: LinkArg, name: Bytes },
    Destroy { caller: ZoneArg, id: LinkArg, wait: DrainWait },
    Rename { caller: ZoneArg, id: LinkArg, name: Bytes },
    Lend { caller: ZoneArg, id: LinkArg, to: ZoneArg, transient: bool },
    GiveBack { caller: ZoneArg, id: LinkArg },
    SetZid { caller: ZoneArg, id: LinkArg, to: ZoneArg, transient: bool },
    Lookup { caller: ZoneArg, zone: ZoneArg, name: Bytes },
    LookupMac { caller: ZoneArg, mac: MacArg },
    List { caller: ZoneArg, zone: Option<ZoneArg> },
    Holders { caller: ZoneArg, id: LinkArg },
    Hold { caller: ZoneArg, id: LinkArg, kind: HoldKind },
    HoldByMac { caller: ZoneArg, mac: MacArg, kind: HoldKind },
    HoldByName { caller: ZoneArg, zone: ZoneArg, name: Bytes, kind: HoldKind },
    HoldTmp { caller: ZoneArg, id: LinkArg },
    Release { handle: usize },
    Replay,
    DaemonUp(bool),
    FailNext(Errno),
    FailAfter(u8, Errno),
}

fn raw_zone() -> impl Strategy<Value = Zone> {
    (0..ZONES.len()).prop_map(|i| Zone(ZONES[i]))
}

/// A caller: any zone, the global one most often.
fn caller() -> impl Strategy<Value = ZoneArg> {
    prop_oneof![
        5 => Just(ZoneArg::Global),
        4 => any::<u8>().prop_map(ZoneArg::Known),
        1 => raw_zone().prop_map(ZoneArg::Raw),
    ]
}

/// A caller for global-zone-only operations: nearly always the global zone.
fn gz_caller() -> impl Strategy<Value = ZoneArg> {
    prop_oneof![
        15 => Just(ZoneArg::Global),
        1 => any::<u8>().prop_map(ZoneArg::Known),
        1 => raw_zone().prop_map(ZoneArg::Raw),
    ]
}

/// A zone to boot, halt, recover, destroy or lend to: a non-global one
/// most often, sometimes the global zone or a bad id.
fn target_zone() -> impl Strategy<Value = ZoneArg> {
    prop_oneof![
        10 => any::<u8>().prop_map(ZoneArg::Known),
        2 => prop_oneof![Just(1), Just(2), Just(3)].prop_map(|z| ZoneArg::Raw(Zone(z))),
        1 => Just(ZoneArg::Global),
        1 => raw_zone().prop_map(ZoneArg::Raw),
    ]
}

/// A zone to recover or destroy: a halted one most often.
fn halted_zone() -> impl Strategy<Value = ZoneArg> {
    prop_oneof![4 => any::<u8>().prop_map(ZoneArg::Halted), 1 => target_zone()]
}

fn raw_mac() -> impl Strategy<Value = Bytes> {
    prop_oneof![15 => 0..5usize, 1 => 5..MACS.len()].prop_map(|i| Bytes(MACS[i]))
}

/// A MAC name to create with: fixed names, so they collide.
fn new_mac() -> impl Strategy<Value = MacArg> {
    prop_oneof![10 => raw_mac().prop_map(MacArg::Raw), 1 => any::<u8>().prop_map(MacArg::Tabled)]
}

/// A MAC name to look up or hold by.
fn some_mac() -> impl Strategy<Value = MacArg> {
    prop_oneof![4 => any::<u8>().prop_map(MacArg::Tabled), 1 => raw_mac().prop_map(MacArg::Raw)]
}

fn name() -> impl Strategy<Value = Bytes> {
    prop_oneof![15 => 0..4usize, 1 => 4..NAMES.len()].prop_map(|i| Bytes(NAMES[i]))
}

fn raw_id() -> impl Strategy<Value = LinkId> {
    prop_oneof![20 => 0..5usize, 1 => Just(5usize)].prop_map(|i| LinkId(IDS[i]))
}

/// A link id for a new link: fixed ids, so they collide.
fn new_id() -> impl Strategy<Value = LinkArg> {
    prop_oneof![10 => raw_id().prop_map(LinkArg::Raw), 1 => any::<u8>().prop_map(LinkArg::Any)]
}

/// A link to act on: one that exists, most often one the caller sees.
fn link() -> impl Strategy<Value = LinkArg> {
    prop_oneof![
        6 => any::<u8>().prop_map(LinkArg::Visible),
        2 => any::<u8>().prop_map(LinkArg::Any),
        1 => raw_id().prop_map(LinkArg::Raw),
    ]
}

/// Mostly the kinds callers may take, sometimes the registry's own.
fn kind() -> impl Strategy<Value = HoldKind> {
    prop_oneof![10 => 0..3usize, 1 => 3..5usize].prop_map(|i| KINDS[i])
}

fn key() -> impl Strategy<Value = KeySel> {
    prop_oneof![10 => Just(KeySel::Current), 1 => Just(KeySel::Stale)]
}

fn wait() -> impl Strategy<Value = DrainWait> {
    prop_oneof![Just(DrainWait::NoWait), Just(DrainWait::Wait), Just(DrainWait::WaitSig)]
}

fn daemon_error() -> impl Strategy<Value = Errno> {
    (0..DAEMON_ERRORS.len()).prop_map(|i| DAEMON_ERRORS[i])
}

/// One operation, weighted towards those that build up state.
pub(crate) fn op() -> impl Strategy<Value = Op> {
    let transient = || prop::bool::weighted(0.3);
    prop_oneof![
        6 => target_zone().prop_map(|zone| Op::Boot { zone }),
        5 => (target_zone(), key()).prop_map(|(zone, key)| Op::Halt { zone, key }),
        8 => (halted_zone(), key(), prop::bool::weighted(0.7))
            .prop_map(|(zone, key, force)| Op::Recover { zone, key, force }),
        2 => (halted_zone(), key()).prop_map(|(zone, key)| Op::DestroyZone { zone, key }),
        10 => (caller(), new_mac(), new_id(), name(), prop::bool::weighted(0.2)).prop_map(
            |(zone, mac, id, name, persistent)| Op::Create { zone, mac, id, name, persistent }
        ),
        2 => new_mac().prop_map(|mac| Op::CreatePending { mac }),
        1 => some_mac().prop_map(|mac| Op::DestroyPending { mac }),
        2 => (some_mac(), new_id(), name()).prop_map(|(mac, id, name)| Op::Activate { mac, id, name }),
        5 => (caller(), link(), wait()).prop_map(|(caller, id, wait)| Op::Destroy { caller, id, wait }),
        4 => (caller(), link(), name()).prop_map(|(caller, id, name)| Op::Rename { caller, id, name }),
        9 => (gz_caller(), link(), target_zone(), transient())
            .prop_map(|(caller, id, to, transient)| Op::Lend { caller, id, to, transient }),
        4 => (gz_caller(), link()).prop_map(|(caller, id)| Op::GiveBack { caller, id }),
        3 => (gz_caller(), link(), prop_oneof![Just(ZoneArg::Global), target_zone()], transient())
            .prop_map(|(caller, id, to, transient)| Op::SetZid { caller, id, to, transient }),
        3 => (caller(), target_zone(), name())
            .prop_map(|(caller, zone, name)| Op::Lookup { caller, zone, name }),
        2 => (caller(), some_mac()).prop_map(|(caller, mac)| Op::LookupMac { caller, mac }),
        2 => (caller(), prop::option::of(target_zone()))
            .prop_map(|(caller, zone)| Op::List { caller, zone }),
        2 => (gz_caller(), link()).prop_map(|(caller, id)| Op::Holders { caller, id }),
        8 => (caller(), link(), kind()).prop_map(|(caller, id, kind)| Op::Hold { caller, id, kind }),
        2 => (caller(), some_mac(), kind())
            .prop_map(|(caller, mac, kind)| Op::HoldByMac { caller, mac, kind }),
        3 => (caller(), target_zone(), name(), kind())
            .prop_map(|(caller, zone, name, kind)| Op::HoldByName { caller, zone, name, kind }),
        5 => (caller(), link()).prop_map(|(caller, id)| Op::HoldTmp { caller, id }),
        10 => (0..64usize).prop_map(|handle| Op::Release { handle }),
        4 => Just(Op::Replay),
        4 => prop::bool::weighted(0.6).prop_map(Op::DaemonUp),
        2 => daemon_error().prop_map(Op::FailNext),
        2 => (0..4u8, daemon_error()).prop_map(|(n, e)| Op::FailAfter(n, e)),
    ]
}

/// A step that builds state: boots, good creates, lends and holds.
fn setup_op() -> impl Strategy<Value = Op> {
    let good_mac = (0..5usize).prop_map(|i| MacArg::Raw(Bytes(MACS[i])));
    let good_id = (0..5usize).prop_map(|i| LinkArg::Raw(LinkId(IDS[i])));
    let good_name = (0..4usize).prop_map(|i| Bytes(NAMES[i]));
    let creator = prop_oneof![Just(ZoneArg::Global), any::<u8>().prop_map(ZoneArg::Known)];
    let booted = || any::<u8>().prop_map(ZoneArg::Known);
    let good_kind = (0..3usize).prop_map(|i| KINDS[i]);
    prop_oneof![
        3 => booted().prop_map(|zone| Op::Boot { zone }),
        6 => (creator.clone(), good_mac, good_id, good_name, prop::bool::weighted(0.2)).prop_map(
            |(zone, mac, id, name, persistent)| Op::Create { zone, mac, id, name, persistent }
        ),
        3 => (any::<u8>(), booted(), prop::bool::weighted(0.3)).prop_map(|(k, to, transient)| {
            Op::Lend { caller: ZoneArg::Global, id: LinkArg::Visible(k), to, transient }
        }),
        2 => (creator, any::<u8>(), good_kind)
            .prop_map(|(caller, k, kind)| Op::Hold { caller, id: LinkArg::Visible(k), kind }),
    ]
}

/// A sequence of at most `max_len` operations: a few that build state,
/// then at least one of anything.
pub(crate) fn sequence(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let setup = max_len / 4;
    (prop::collection::vec(setup_op(), 0..=setup), prop::collection::vec(op(), 1..=max_len - setup))
        .prop_map(|(mut a, b)| {
            a.extend(b);
            a
        })
}
