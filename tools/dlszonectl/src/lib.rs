//! dlszonectl: the administration tool of `/dev/dlszone`.
//!
//! ```text
//! dlszonectl show-link [-z zone] [-p] [-o field[,...]] [link]
//! dlszonectl holders [-z zone] [-p] [-o field[,...]] link|linkid
//! dlszonectl recover [-f] [-t ms] [-u uniqid] zone
//! dlszonectl replay
//! ```
//!
//! The commands are written once, over [`Dev`]: a small trait that issues
//! one ioctl and names zones. [`illumos`] opens `/dev/dlszone` (built on
//! illumos only); [`host`] drives the host build of the driver over the
//! host build of `dls_mgmt.o`, so `make test` runs every command end to
//! end. Output follows dladm's conventions: columns in human mode, and
//! with `-p` (which needs `-o`) fields separated by `:`, a `:` or `\` in a
//! value escaped with `\` when more than one field is printed.
//!
//! Exit status: 0 success; 1 the operation failed (the message says
//! why); 2 usage error.

use std::fmt::Write as _;
use std::io::Write;

use dlszone_ioctl::{
    ALL_ZONES, DZ_HOLDERS_DETACHED, DZ_LIST_NOHOLDS, DZ_RECOVER_FORCE, DZ_RECOVER_MAX_TIMEOUT_MS,
    DZIOC_HOLDERS, DZIOC_LIST, DZIOC_RECOVER, DZIOC_REPLAY, DZIOC_VERSION, DzHolder, DzHolders,
    DzLink, DzList, DzRecover, DzReplay, GLOBAL_ZONEID, MAX_ZONEID, Wire, cstr, kind, linkf, state,
};

#[cfg(not(target_os = "illumos"))]
pub mod host;
#[cfg(target_os = "illumos")]
pub mod illumos;

/// Exit status: the operation failed.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad usage.
pub const EXIT_USAGE: i32 = 2;

/// An illumos errno value.
pub type Errno = i32;

/// The driver, as the commands see it.
pub trait Dev {
    /// Issues ioctl `cmd` with the argument structure `arg`, copied in and
    /// back out. `data`, if any, is a buffer whose address the structure
    /// carries as a `u64` at byte offset `.1` (the backend writes it
    /// there). The structure is read back on failure too (the driver
    /// writes it after `ENOSPC` and after a partial recovery).
    fn ioctl(
        &mut self,
        cmd: i32,
        arg: &mut [u8],
        data: Option<(&mut [u8], usize)>,
    ) -> Result<(), Errno>;

    /// A zone's name.
    fn zone_name(&self, id: i32) -> Option<String>;

    /// A zone's id.
    fn zone_id(&self, name: &str) -> Option<i32>;
}

/// illumos errno names and messages for what the driver answers.
pub fn strerror(e: Errno) -> &'static str {
    match e {
        1 => "permission denied (needs the sys_dl_config privilege)",
        2 => "no such link or zone",
        6 => "no such zone",
        9 => "dlmgmtd is not running",
        11 => "resource temporarily unavailable",
        12 => "not enough memory",
        13 => "only the global zone may do this",
        14 => "bad address",
        16 => "busy",
        22 => "invalid argument",
        28 => "buffer too small",
        48 => "operation not supported (driver version mismatch?)",
        145 => "timed out",
        149 => "a replay is already running",
        151 => "the zone was booted again since (stale uniqid)",
        _ => "error",
    }
}

// ---- the ioctls -----------------------------------------------------------------

const LIST_BUF_OFF: usize = 24;
const HOLDERS_BUF_OFF: usize = 24;
/// Tries of the size negotiation before giving up (the table keeps
/// growing).
const NEGOTIATE_TRIES: usize = 8;

/// The links the caller may see, in zone `zone` ([`ALL_ZONES`]: all);
/// whether hold counts are included.
pub fn list_links(dev: &mut dyn Dev, zone: i32) -> Result<(Vec<DzLink>, bool), Errno> {
    let mut cap = 0u32;
    for _ in 0..NEGOTIATE_TRIES {
        let a = DzList {
            dzl_version: DZIOC_VERSION,
            dzl_zoneid: zone,
            dzl_capacity: cap,
            ..DzList::default()
        };
        let mut arg = vec![0u8; DzList::SIZE];
        a.encode(&mut arg);
        let mut data = vec![0u8; cap as usize * DzLink::SIZE];
        let r = dev.ioctl(DZIOC_LIST, &mut arg, (cap > 0).then_some((&mut data[..], LIST_BUF_OFF)));
        let out = DzList::decode(&arg);
        match r {
            Ok(()) if cap == 0 && out.dzl_total > 0 => cap = out.dzl_total + 4,
            Ok(()) => {
                let links = data
                    .chunks(DzLink::SIZE)
                    .take(out.dzl_count as usize)
                    .map(DzLink::decode)
                    .collect();
                return Ok((links, out.dzl_oflags & DZ_LIST_NOHOLDS == 0));
            }
            Err(28) => cap = out.dzl_total + 4,
            Err(e) => return Err(e),
        }
    }
    Err(11)
}

/// Who holds link `linkid` (detached links with that id too).
pub fn link_holders(dev: &mut dyn Dev, linkid: u32) -> Result<Vec<DzHolder>, Errno> {
    let mut cap = 0u32;
    for _ in 0..NEGOTIATE_TRIES {
        let a = DzHolders {
            dzh_version: DZIOC_VERSION,
            dzh_linkid: linkid,
            dzh_flags: DZ_HOLDERS_DETACHED,
            dzh_capacity: cap,
            ..DzHolders::default()
        };
        let mut arg = vec![0u8; DzHolders::SIZE];
        a.encode(&mut arg);
        let mut data = vec![0u8; cap as usize * DzHolder::SIZE];
        let r = dev.ioctl(
            DZIOC_HOLDERS,
            &mut arg,
            (cap > 0).then_some((&mut data[..], HOLDERS_BUF_OFF)),
        );
        let out = DzHolders::decode(&arg);
        match r {
            Ok(()) if cap == 0 && out.dzh_total > 0 => cap = out.dzh_total + 4,
            Ok(()) => {
                return Ok(data
                    .chunks(DzHolder::SIZE)
                    .take(out.dzh_count as usize)
                    .map(DzHolder::decode)
                    .collect());
            }
            Err(28) => cap = out.dzh_total + 4,
            Err(e) => return Err(e),
        }
    }
    Err(11)
}

/// Forced recovery of zone `zone`, incarnation `uniqid`.
pub fn recover_zone(
    dev: &mut dyn Dev,
    zone: i32,
    uniqid: u64,
    force: bool,
    timeout_ms: u32,
) -> (Result<(), Errno>, DzRecover) {
    let a = DzRecover {
        dzr_version: DZIOC_VERSION,
        dzr_zoneid: zone,
        dzr_uniqid: uniqid,
        dzr_flags: if force { DZ_RECOVER_FORCE } else { 0 },
        dzr_timeout_ms: timeout_ms,
        ..DzRecover::default()
    };
    let mut arg = vec![0u8; DzRecover::SIZE];
    a.encode(&mut arg);
    let r = dev.ioctl(DZIOC_RECOVER, &mut arg, None);
    (r, DzRecover::decode(&arg))
}

/// Replays the outbox.
pub fn replay_outbox(dev: &mut dyn Dev) -> (Result<(), Errno>, DzReplay) {
    let mut arg = vec![0u8; DzReplay::SIZE];
    DzReplay { dzp_version: DZIOC_VERSION, ..DzReplay::default() }.encode(&mut arg);
    let r = dev.ioctl(DZIOC_REPLAY, &mut arg, None);
    (r, DzReplay::decode(&arg))
}

// ---- output in dladm's conventions -------------------------------------------------

/// One output field: its name and its column width in human mode.
struct Field {
    name: &'static str,
    width: usize,
}

/// Selected fields and the mode.
struct Ofmt<'a> {
    fields: Vec<&'a Field>,
    parsable: bool,
}

/// Why `-o`/`-p` were refused.
#[derive(Debug)]
enum OfmtError {
    Usage(String),
}

impl<'a> Ofmt<'a> {
    /// Selects fields as dladm does: `-p` needs `-o`, and `-o all` is not
    /// allowed with it; unknown names are a warning in human mode and an
    /// error in parsable mode.
    fn new(
        all: &'a [Field],
        default: &[&str],
        o: Option<&str>,
        parsable: bool,
        err: &mut dyn Write,
    ) -> Result<Ofmt<'a>, OfmtError> {
        let names: Vec<String> = match o {
            None if parsable => {
                return Err(OfmtError::Usage("-p requires -o".into()));
            }
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(s) if s.eq_ignore_ascii_case("all") => {
                if parsable {
                    return Err(OfmtError::Usage(
                        "output field `all' invalid in parsable mode".into(),
                    ));
                }
                all.iter().map(|f| f.name.to_string()).collect()
            }
            Some(s) => s.split(',').map(|s| s.to_string()).collect(),
        };
        let mut fields = vec![];
        let mut bad = vec![];
        for n in &names {
            match all.iter().find(|f| f.name.eq_ignore_ascii_case(n)) {
                Some(f) => fields.push(f),
                None => bad.push(n.clone()),
            }
        }
        if !bad.is_empty() {
            let list: String = bad.iter().map(|b| format!(" `{b}'")).collect();
            let plural = if bad.len() > 1 { "s" } else { "" };
            if parsable {
                return Err(OfmtError::Usage(format!("unknown output field{plural}:{list}")));
            }
            let _ = writeln!(err, "dlszonectl: ignoring unknown output field{plural}:{list}");
        }
        if fields.is_empty() {
            return Err(OfmtError::Usage("no valid output fields".into()));
        }
        Ok(Ofmt { fields, parsable })
    }

    /// One line: the header (human mode) or a row.
    fn line(&self, values: &[String]) -> String {
        let mut s = String::new();
        let n = self.fields.len();
        let mut overflow = 0usize;
        for (i, (f, v)) in self.fields.iter().zip(values).enumerate() {
            let last = i + 1 == n;
            if self.parsable {
                if n == 1 {
                    s.push_str(v);
                } else {
                    for c in v.chars() {
                        if c == ':' || c == '\\' {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                if !last {
                    s.push(':');
                }
                continue;
            }
            let v = if v.is_empty() { "--" } else { v.as_str() };
            if last {
                s.push_str(v);
                continue;
            }
            let mut width = f.width;
            if v.len() + overflow >= width {
                overflow = overflow + v.len() + 1 - width;
                let _ = write!(s, "{v} ");
                continue;
            }
            if overflow > 0 {
                let c = overflow.min(width - v.len());
                overflow -= c;
                width -= c;
            }
            let _ = write!(s, "{v:<width$}");
        }
        s
    }

    /// The header line, in human mode.
    fn header(&self) -> Option<String> {
        (!self.parsable).then(|| {
            let names: Vec<String> = self.fields.iter().map(|f| f.name.to_string()).collect();
            self.line(&names)
        })
    }

    /// A row from a value getter.
    fn row(&self, get: impl Fn(&str) -> String) -> String {
        let values: Vec<String> = self.fields.iter().map(|f| get(f.name)).collect();
        self.line(&values)
    }
}

const LINK_FIELDS: &[Field] = &[
    Field { name: "LINK", width: 12 },
    Field { name: "ID", width: 6 },
    Field { name: "ZONE", width: 10 },
    Field { name: "OWNER", width: 10 },
    Field { name: "TRANSIENT", width: 10 },
    Field { name: "STATE", width: 10 },
    Field { name: "MACNAME", width: 12 },
    Field { name: "RESERVED", width: 10 },
    Field { name: "HOLDS", width: 20 },
    Field { name: "EXISTENCE", width: 10 },
    Field { name: "LOAN", width: 5 },
    Field { name: "STREAM", width: 7 },
    Field { name: "DEVNET", width: 7 },
    Field { name: "NAMED", width: 6 },
    Field { name: "TEMPORARY", width: 10 },
];
const LINK_DEFAULT: &[&str] = &["LINK", "ZONE", "OWNER", "TRANSIENT", "STATE", "HOLDS"];

const HOLDER_FIELDS: &[Field] = &[
    Field { name: "LINKID", width: 8 },
    Field { name: "STATE", width: 10 },
    Field { name: "KIND", width: 11 },
    Field { name: "ZONE", width: 10 },
    Field { name: "UNIQID", width: 8 },
    Field { name: "COUNT", width: 6 },
];
const HOLDER_DEFAULT: &[&str] = &["LINKID", "STATE", "KIND", "ZONE", "COUNT"];

const KIND_NAMES: [&str; kind::COUNT] =
    ["existence", "loan", "stream", "devnet", "named", "temporary"];

fn kind_name(k: u32) -> &'static str {
    (k as usize).checked_sub(1).and_then(|i| KIND_NAMES.get(i)).copied().unwrap_or("?")
}

fn state_name(s: u32) -> &'static str {
    match s {
        state::ACTIVE => "active",
        state::CONDEMNED => "condemned",
        state::DETACHED => "detached",
        state::INITIALIZING => "initializing",
        _ => "?",
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(cstr(b)).into_owned()
}

fn zone_label(dev: &dyn Dev, id: i32) -> String {
    dev.zone_name(id).unwrap_or_else(|| id.to_string())
}

fn link_value(dev: &dyn Dev, l: &DzLink, holds: bool, field: &str) -> String {
    let count = |k: u32| -> String {
        if holds { l.dzk_holds[k as usize - 1].to_string() } else { "?".into() }
    };
    match field {
        "LINK" => text(&l.dzk_name),
        "ID" => l.dzk_linkid.to_string(),
        "ZONE" => zone_label(dev, l.dzk_zone),
        "OWNER" => zone_label(dev, l.dzk_owner),
        "TRANSIENT" => (if l.dzk_flags & linkf::TRANSIENT != 0 { "yes" } else { "no" }).into(),
        "STATE" => state_name(l.dzk_state).into(),
        "MACNAME" => text(&l.dzk_mac),
        "RESERVED" => text(&l.dzk_reserved),
        "HOLDS" => {
            if !holds {
                return "?".into();
            }
            // Holds beyond the registry's own (existence, loan).
            let v: Vec<String> = [kind::STREAM, kind::DEVNET, kind::NAMED, kind::TEMPORARY]
                .iter()
                .filter(|&&k| l.dzk_holds[k as usize - 1] > 0)
                .map(|&k| format!("{}={}", kind_name(k), l.dzk_holds[k as usize - 1]))
                .collect();
            v.join(",")
        }
        "EXISTENCE" => count(kind::EXISTENCE),
        "LOAN" => count(kind::LOAN),
        "STREAM" => count(kind::STREAM),
        "DEVNET" => count(kind::DEVNET),
        "NAMED" => count(kind::NAMED),
        "TEMPORARY" => count(kind::TEMPORARY),
        _ => String::new(),
    }
}

fn holder_value(dev: &dyn Dev, h: &DzHolder, field: &str) -> String {
    match field {
        "LINKID" => h.dzhe_linkid.to_string(),
        "STATE" => state_name(h.dzhe_state).into(),
        "KIND" => kind_name(h.dzhe_kind).into(),
        "ZONE" if h.dzhe_zoneid < 0 => String::new(),
        "ZONE" => zone_label(dev, h.dzhe_zoneid),
        "UNIQID" => h.dzhe_uniqid.to_string(),
        "COUNT" => h.dzhe_count.to_string(),
        _ => String::new(),
    }
}

// ---- the commands -------------------------------------------------------------------

/// Command-line options.
#[derive(Default)]
struct Opts {
    zone: Option<String>,
    parsable: bool,
    fields: Option<String>,
    force: bool,
    timeout: Option<String>,
    uniqid: Option<String>,
    operands: Vec<String>,
}

const USAGE: &str = "usage:
    dlszonectl show-link [-z zone] [-p] [-o field[,...]] [link]
    dlszonectl holders [-z zone] [-p] [-o field[,...]] link|linkid
    dlszonectl recover [-f] [-t ms] [-u uniqid] zone
    dlszonectl replay";

struct Io<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Io<'_> {
    fn fail(&mut self, msg: std::fmt::Arguments<'_>) -> i32 {
        let _ = writeln!(self.err, "dlszonectl: {msg}");
        EXIT_FAILURE
    }

    fn usage(&mut self, msg: &str) -> i32 {
        if !msg.is_empty() {
            let _ = writeln!(self.err, "dlszonectl: {msg}");
        }
        let _ = writeln!(self.err, "{USAGE}");
        EXIT_USAGE
    }
}

/// Parses `args` (after the subcommand) with getopt's rules: options
/// before operands, an option's value attached or next, `--` ends them.
fn parse(args: &[String], allowed: &str) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            o.operands.extend(args[i + 1..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a.len() < 2 {
            o.operands.extend(args[i..].iter().cloned());
            break;
        }
        for (pos, c) in a[1..].char_indices() {
            if !allowed.contains(c) {
                return Err(format!("illegal option -- {c}"));
            }
            let takes = matches!(c, 'z' | 'o' | 't' | 'u');
            if takes {
                let rest = &a[1 + pos + c.len_utf8()..];
                let v = if !rest.is_empty() {
                    rest.to_string()
                } else {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("option requires an argument -- {c}"))?
                };
                match c {
                    'z' => o.zone = Some(v),
                    'o' => o.fields = Some(v),
                    't' => o.timeout = Some(v),
                    _ => o.uniqid = Some(v),
                }
                break;
            }
            match c {
                'p' => o.parsable = true,
                'f' => o.force = true,
                _ => {}
            }
        }
        i += 1;
    }
    Ok(o)
}

/// A zone named by name or id: its id, or the message.
fn zone_arg(dev: &dyn Dev, z: &str) -> Result<i32, String> {
    if let Some(id) = dev.zone_id(z) {
        return Ok(id);
    }
    match z.parse::<i32>() {
        Ok(id) if (0..=MAX_ZONEID).contains(&id) => Ok(id),
        _ => Err(format!("zone {z}: no such zone")),
    }
}

/// Runs one command line (`args[0]` is the subcommand); the exit status.
pub fn run(args: &[String], dev: &mut dyn Dev, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut io = Io { out, err };
    let Some(cmd) = args.first() else { return io.usage("") };
    let rest = &args[1..];
    let opts = match cmd.as_str() {
        "show-link" => parse(rest, "zpo"),
        "holders" => parse(rest, "zpo"),
        "recover" => parse(rest, "ftu"),
        "replay" => parse(rest, ""),
        "help" | "-h" | "-?" => {
            let _ = writeln!(io.out, "{USAGE}");
            return 0;
        }
        other => return io.usage(&format!("unknown subcommand '{other}'")),
    };
    let opts = match opts {
        Ok(o) => o,
        Err(m) => return io.usage(&m),
    };
    match cmd.as_str() {
        "show-link" => show_link(&mut io, dev, opts),
        "holders" => holders(&mut io, dev, opts),
        "recover" => recover(&mut io, dev, opts),
        _ => replay(&mut io, dev, opts),
    }
}

fn zone_scope(io: &mut Io<'_>, dev: &dyn Dev, opts: &Opts) -> Result<i32, i32> {
    match &opts.zone {
        None => Ok(ALL_ZONES),
        Some(z) => zone_arg(dev, z).map_err(|m| io.fail(format_args!("{m}"))),
    }
}

fn show_link(io: &mut Io<'_>, dev: &mut dyn Dev, opts: Opts) -> i32 {
    if opts.operands.len() > 1 {
        return io.usage("too many operands");
    }
    let of =
        match Ofmt::new(LINK_FIELDS, LINK_DEFAULT, opts.fields.as_deref(), opts.parsable, io.err) {
            Ok(o) => o,
            Err(OfmtError::Usage(m)) => return io.usage(&m),
        };
    let zone = match zone_scope(io, dev, &opts) {
        Ok(z) => z,
        Err(rc) => return rc,
    };
    let (links, holds) = match list_links(dev, zone) {
        Ok(l) => l,
        Err(2) if zone != ALL_ZONES => {
            let z = opts.zone.unwrap_or_default();
            return io.fail(format_args!("zone {z}: no such zone"));
        }
        Err(e) => return io.fail(format_args!("show-link: {}", strerror(e))),
    };
    let links: Vec<&DzLink> = match opts.operands.first() {
        None => links.iter().collect(),
        Some(n) => {
            let v: Vec<&DzLink> =
                links.iter().filter(|l| cstr(&l.dzk_name) == n.as_bytes()).collect();
            if v.is_empty() {
                return io.fail(format_args!("link {n}: no such link"));
            }
            v
        }
    };
    // As ofmt: the header comes with the first row; no rows, no header.
    if let (Some(h), false) = (of.header(), links.is_empty()) {
        let _ = writeln!(io.out, "{h}");
    }
    for l in links {
        let row = of.row(|f| link_value(dev, l, holds, f));
        let _ = writeln!(io.out, "{row}");
    }
    0
}

fn holders(io: &mut Io<'_>, dev: &mut dyn Dev, opts: Opts) -> i32 {
    let [link] = opts.operands.as_slice() else {
        return io.usage("holders needs one link");
    };
    let of = match Ofmt::new(
        HOLDER_FIELDS,
        HOLDER_DEFAULT,
        opts.fields.as_deref(),
        opts.parsable,
        io.err,
    ) {
        Ok(o) => o,
        Err(OfmtError::Usage(m)) => return io.usage(&m),
    };
    // A link id (names never start with a digit: detached links have no
    // name any more), or a name in the caller's zone or the -z zone.
    let linkid = if link.starts_with(|c: char| c.is_ascii_digit()) {
        match link.parse::<u32>() {
            Ok(id) if id > 0 => id,
            _ => return io.fail(format_args!("link {link}: invalid link id")),
        }
    } else {
        let zone = match zone_scope(io, dev, &opts) {
            Ok(ALL_ZONES) if opts.zone.is_none() => ALL_ZONES,
            Ok(z) => z,
            Err(rc) => return rc,
        };
        let links = match list_links(dev, zone) {
            Ok((l, _)) => l,
            Err(e) => return io.fail(format_args!("holders: {}", strerror(e))),
        };
        // Without -z: the caller's own zone's namespace (the global zone
        // lists every zone, so prefer its own links).
        let hits: Vec<&DzLink> =
            links.iter().filter(|l| cstr(&l.dzk_name) == link.as_bytes()).collect();
        let pick = if zone == ALL_ZONES && hits.len() > 1 {
            hits.iter().find(|l| l.dzk_zone == GLOBAL_ZONEID).copied()
        } else {
            hits.first().copied()
        };
        match pick {
            Some(l) => l.dzk_linkid,
            None => return io.fail(format_args!("link {link}: no such link")),
        }
    };
    let recs = match link_holders(dev, linkid) {
        Ok(r) => r,
        Err(2) => return io.fail(format_args!("link {link}: no such link")),
        Err(e) => return io.fail(format_args!("holders {link}: {}", strerror(e))),
    };
    if let (Some(h), false) = (of.header(), recs.is_empty()) {
        let _ = writeln!(io.out, "{h}");
    }
    for r in &recs {
        let row = of.row(|f| holder_value(dev, r, f));
        let _ = writeln!(io.out, "{row}");
    }
    0
}

fn recover(io: &mut Io<'_>, dev: &mut dyn Dev, opts: Opts) -> i32 {
    let [z] = opts.operands.as_slice() else {
        return io.usage("recover needs one zone");
    };
    let timeout = match opts.timeout.as_deref().map(str::parse::<u32>) {
        None => 5000,
        Some(Ok(t)) if t <= DZ_RECOVER_MAX_TIMEOUT_MS => t,
        Some(_) => {
            return io.usage(&format!("-t takes 0 to {DZ_RECOVER_MAX_TIMEOUT_MS} milliseconds"));
        }
    };
    let zone = match zone_arg(dev, z) {
        Ok(0) => return io.fail(format_args!("the global zone cannot be recovered")),
        Ok(id) => id,
        Err(m) => return io.fail(format_args!("{m}")),
    };
    // The incarnation: given, or the one the zone's links are in. Links
    // of two incarnations (a destroyed zone's left behind, its id booted
    // again) leave the choice to the caller: never guess.
    let uniqid = match opts.uniqid.as_deref().map(str::parse::<u64>) {
        Some(Ok(u)) => u,
        Some(Err(_)) => return io.usage("-u takes the zone's incarnation (uniqid)"),
        None => match list_links(dev, zone) {
            Ok((links, _)) => {
                let mut seen: Vec<u64> = links
                    .iter()
                    .filter(|l| l.dzk_zone == zone)
                    .map(|l| l.dzk_zone_uniqid)
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                match seen.as_slice() {
                    [] => {
                        let _ = writeln!(io.out, "zone {z}: no datalinks: nothing to recover");
                        return 0;
                    }
                    [u] => *u,
                    many => {
                        let list: Vec<String> = many.iter().map(u64::to_string).collect();
                        return io.fail(format_args!(
                            "zone {z}: its links are in {} incarnations (uniqid {}): name one with -u",
                            many.len(),
                            list.join(", ")
                        ));
                    }
                }
            }
            Err(2) => return io.fail(format_args!("zone {z}: no such zone")),
            Err(e) => return io.fail(format_args!("recover {z}: {}", strerror(e))),
        },
    };
    let (r, res) = recover_zone(dev, zone, uniqid, opts.force, timeout);
    let summary = format!(
        "zone {z}: {} returned, {} condemned, {} left, {} holds reclaimed, {} delayed, {} notices queued",
        res.dzr_returned,
        res.dzr_condemned,
        res.dzr_left,
        res.dzr_holds_reclaimed,
        res.dzr_delayed,
        res.dzr_notices
    );
    match r {
        Ok(()) => {
            let _ = writeln!(io.out, "{summary}");
            0
        }
        Err(16) if res.dzr_left > 0 => {
            let _ = writeln!(io.out, "{summary}");
            io.fail(format_args!(
                "zone {z}: {} link(s) remain; holds from inside the zone block their return (-f reclaims them)",
                res.dzr_left
            ))
        }
        Err(16) => io.fail(format_args!("zone {z}: the zone is still running")),
        Err(145) => io.fail(format_args!(
            "zone {z}: timed out after {timeout} ms waiting for the zone (a halt or move is stuck); run it again"
        )),
        Err(2) => io.fail(format_args!("zone {z}: no such zone")),
        Err(e) => io.fail(format_args!("recover {z}: {}", strerror(e))),
    }
}

fn replay(io: &mut Io<'_>, dev: &mut dyn Dev, opts: Opts) -> i32 {
    if !opts.operands.is_empty() {
        return io.usage("replay takes no operands");
    }
    let (r, res) = replay_outbox(dev);
    match r {
        Ok(()) => {
            let _ = writeln!(
                io.out,
                "{} notices delivered, {} pending",
                res.dzp_delivered, res.dzp_pending
            );
            0
        }
        Err(9) => io.fail(format_args!(
            "replay: dlmgmtd is not running: {} notices delivered, {} pending",
            res.dzp_delivered, res.dzp_pending
        )),
        Err(e) => io.fail(format_args!("replay: {}", strerror(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsable_escaping_follows_ofmt() {
        let mut sink = Vec::new();
        let of = Ofmt::new(LINK_FIELDS, LINK_DEFAULT, Some("link,holds"), true, &mut sink)
            .expect("fields");
        assert_eq!(of.line(&["a:b".into(), "c\\d".into()]), "a\\:b:c\\\\d");
        let one = Ofmt::new(LINK_FIELDS, LINK_DEFAULT, Some("link"), true, &mut sink).expect("one");
        assert_eq!(one.line(&["a:b".into()]), "a:b", "one field: no escaping");
        assert!(Ofmt::new(LINK_FIELDS, LINK_DEFAULT, None, true, &mut sink).is_err());
        assert!(Ofmt::new(LINK_FIELDS, LINK_DEFAULT, Some("all"), true, &mut sink).is_err());
        assert!(Ofmt::new(LINK_FIELDS, LINK_DEFAULT, Some("bogus"), true, &mut sink).is_err());
    }

    #[test]
    fn human_columns_absorb_overflow() {
        let mut sink = Vec::new();
        let of = Ofmt::new(LINK_FIELDS, LINK_DEFAULT, Some("link,id,zone"), false, &mut sink)
            .expect("fields");
        assert_eq!(of.line(&["net0".into(), "1001".into(), "z5".into()]), "net0        1001  z5");
        assert_eq!(
            of.line(&["averyveryverylongname".into(), "1".into(), "".into()]),
            "averyveryverylongname 1 --"
        );
    }

    /// A driver whose zone 5 holds links of incarnations 105 and 205,
    /// and which counts recovery requests.
    struct TwoIncarnations {
        recovers: usize,
    }

    impl Dev for TwoIncarnations {
        fn ioctl(
            &mut self,
            cmd: i32,
            arg: &mut [u8],
            data: Option<(&mut [u8], usize)>,
        ) -> Result<(), Errno> {
            let links = [(1001u32, 105u64), (1002, 205)];
            match cmd {
                DZIOC_LIST => {
                    let mut l = DzList::decode(arg);
                    l.dzl_total = links.len() as u32;
                    if let Some((buf, _)) = data {
                        for (i, (id, u)) in links.iter().enumerate() {
                            let k = DzLink {
                                dzk_linkid: *id,
                                dzk_zone: 5,
                                dzk_zone_uniqid: *u,
                                ..DzLink::default()
                            };
                            k.encode(&mut buf[i * DzLink::SIZE..(i + 1) * DzLink::SIZE]);
                        }
                        l.dzl_count = links.len() as u32;
                    }
                    l.encode(arg);
                    Ok(())
                }
                DZIOC_RECOVER => {
                    self.recovers += 1;
                    Ok(())
                }
                _ => Err(22),
            }
        }

        fn zone_name(&self, id: i32) -> Option<String> {
            (id == 5).then(|| "z5".to_string())
        }

        fn zone_id(&self, name: &str) -> Option<i32> {
            (name == "z5").then_some(5)
        }
    }

    #[test]
    fn recover_never_guesses_between_incarnations() {
        let mut dev = TwoIncarnations { recovers: 0 };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let args: Vec<String> = ["recover", "z5"].iter().map(|s| s.to_string()).collect();
        assert_eq!(run(&args, &mut dev, &mut out, &mut err), EXIT_FAILURE);
        assert_eq!(dev.recovers, 0, "no recovery without a choice");
        let msg = String::from_utf8_lossy(&err);
        assert!(msg.contains("2 incarnations (uniqid 105, 205): name one with -u"), "{msg}");
        let args: Vec<String> =
            ["recover", "-u", "105", "z5"].iter().map(|s| s.to_string()).collect();
        assert_eq!(run(&args, &mut dev, &mut out, &mut err), 0);
        assert_eq!(dev.recovers, 1);
    }

    #[test]
    fn options_parse_like_getopt() {
        let a: Vec<String> =
            ["-pozone,link", "-z", "z5", "net0"].iter().map(|s| s.to_string()).collect();
        let o = parse(&a, "zpo").expect("parse");
        assert!(o.parsable);
        assert_eq!(o.fields.as_deref(), Some("zone,link"));
        assert_eq!(o.zone.as_deref(), Some("z5"));
        assert_eq!(o.operands, vec!["net0".to_string()]);
        assert!(parse(&["-x".to_string()], "zpo").is_err());
        assert!(parse(&["-z".to_string()], "zpo").is_err());
    }
}
