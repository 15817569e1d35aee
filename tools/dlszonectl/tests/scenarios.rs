//! dlszonectl end to end, on the host: each known-failure scenario is
//! built on the fake kernel (the host build of dls_mgmt.o, driven through
//! its C interface), and the tool's commands run against the host build of
//! drv/dlszone, as root in the global zone, root in a zone, or an
//! unprivileged user. The transcript must match
//! tests/golden/<scenario>.txt; DLSZONE_BLESS=1 rewrites the files.

#![cfg(not(target_os = "illumos"))]

use std::fmt::Write as _;
use std::path::PathBuf;

use dlszone_drv::fixture::Kernel;
use dlszone_drv::host::{Driver, HostCred};
use dlszonectl::host::HostDev;

const ZONES: &[(i32, &str)] = &[(0, "global"), (5, "z5"), (7, "z7")];
const GZ: HostCred = HostCred::global();
const GZ_USER: HostCred = HostCred::unprivileged(0);

struct Transcript<'a> {
    drv: &'a Driver,
    text: String,
}

impl<'a> Transcript<'a> {
    fn new(drv: &'a Driver) -> Self {
        Transcript { drv, text: String::new() }
    }

    /// What happened in the system, as a comment line.
    fn note(&mut self, s: &str) {
        let _ = writeln!(self.text, "# {s}");
    }

    /// Runs `dlszonectl args` as `who`, recording prompt, output and
    /// exit status.
    fn run(&mut self, who: HostCred, args: &str) -> i32 {
        let zone = ZONES.iter().find(|(i, _)| *i == who.zone).map_or("?", |(_, n)| n);
        let prompt = if who.dl_config { '#' } else { '$' };
        let _ = writeln!(self.text, "{zone}{prompt} dlszonectl {args}");
        let argv: Vec<String> = args.split_whitespace().map(String::from).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let rc = match HostDev::open(self.drv, who, ZONES) {
            Ok(mut dev) => dlszonectl::run(&argv, &mut dev, &mut out, &mut err),
            Err(e) => panic!("open: {e}"),
        };
        self.text.push_str(&String::from_utf8_lossy(&out));
        for l in String::from_utf8_lossy(&err).lines() {
            let _ = writeln!(self.text, "(stderr) {l}");
        }
        if rc != 0 {
            let _ = writeln!(self.text, "[exit {rc}]");
        }
        self.text.push('\n');
        rc
    }

    fn check(self, name: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
        if std::env::var_os("DLSZONE_BLESS").is_some() {
            std::fs::write(&path, &self.text).expect("write golden");
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != self.text {
            let _ = std::fs::write(path.with_extension("txt.new"), &self.text);
            panic!(
                "{name}: output differs from the golden file (new output in {}.new; \
                 DLSZONE_BLESS=1 accepts it):\n{}",
                path.display(),
                self.text
            );
        }
    }
}

/// illumos 10001: a lent link's global-zone name stays reserved, and the
/// halt returns it without a collision.
#[test]
fn illumos_10001() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    k.zone_boot(5, 105);
    let id = k.link("vnic1001", "net0", 0, true).expect("net0");
    assert_eq!(k.lend(id, 5), 0);
    t.note("net0 (vnic1001, persistent) is lent to zone z5");
    t.run(GZ, "show-link");
    t.run(GZ, "show-link -o link,id,zone,owner,reserved,macname");
    let r = k.link("vnic1002", "net0", 0, false);
    t.note(&format!(
        "creating another net0 in the global zone: {r:?} (17 = EEXIST: the name is reserved)"
    ));
    t.run(GZ, "holders net0");
    t.run(HostCred::privileged(5), "show-link");
    k.zone_halt(5);
    t.note("zone z5 halts: net0 returns under its reserved name");
    t.run(GZ, "show-link -p -o link,zone,owner,transient,state,reserved");
    k.zone_destroy(5);
    t.check("illumos_10001.txt");
}

/// illumos 15167: a zone's own link is transient and goes away with the
/// zone; a stream opened inside keeps its memory until it closes.
#[test]
fn illumos_15167() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    k.zone_boot(7, 107);
    let id = k.link("vnic7000", "z7net0", 7, false).expect("z7net0");
    let stream = k.hold(id, 7).expect("hold");
    t.note("z7net0 was created inside zone z7; a consumer in z7 holds it (dls_devnet_hold)");
    t.run(GZ, "show-link -z z7 -o link,id,zone,owner,transient,state,holds");
    t.run(GZ, "holders -z z7 z7net0");
    t.run(HostCred::privileged(7), "show-link -o link,zone,owner,transient,holds");
    t.run(HostCred::privileged(7), "show-link -z global");
    t.run(HostCred::privileged(7), "holders z7net0");
    k.zone_halt(7);
    t.note("zone z7 halts: z7net0 is torn down, never returned to the global zone");
    t.run(GZ, "show-link -z z7");
    t.run(GZ, &format!("holders {id}"));
    assert_eq!(k.release(stream), 0);
    t.note("the consumer lets go: the last hold goes and the link is freed");
    t.run(GZ, &format!("holders {id}"));
    k.zone_destroy(7);
    t.check("illumos_15167.txt");
}

/// SmartOS OS-8627: a global-zone holder (snoop -z) of a zone's link keeps
/// a valid handle through the zone's teardown.
#[test]
fn os_8627() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    k.zone_boot(5, 105);
    let id = k.link("vnic5000", "z5net0", 5, false).expect("z5net0");
    let snoop = k.hold(id, 0).expect("hold");
    t.note("snoop -z z5 in the global zone holds z5net0");
    t.run(GZ, "show-link -o link,zone,owner,transient,state,named");
    k.zone_halt(5);
    t.note("zone z5 halts while snoop still runs");
    t.run(GZ, "show-link");
    t.run(GZ, &format!("holders -p -o linkid,state,kind,zone,count {id}"));
    assert_eq!(k.release(snoop), 0);
    t.note("snoop exits: its release is safe and frees the link");
    t.run(GZ, &format!("holders {id}"));
    k.zone_destroy(5);
    t.check("os_8627.txt");
}

/// Zone z5 (uniqid 105) borrows net0 (and, with `own`, makes z5net0),
/// a consumer inside it holds net0, dlmgmtd dies, and the zone halts: the
/// halt cannot return net0, and z5 is stuck in down. net0's id.
fn stuck_z5(k: &Kernel, own: bool) -> u32 {
    k.zone_boot(5, 105);
    let id = k.link("vnic1001", "net0", 0, true).expect("net0");
    assert_eq!(k.lend(id, 5), 0);
    if own {
        k.link("vnic5000", "z5net0", 5, false).expect("z5net0");
    }
    k.hold(id, 5).expect("hold");
    k.kill_dlmgmtd();
    k.zone_halt(5);
    id
}

/// A zone stuck in down ("datalinks remain in zone after shutdown"):
/// dlmgmtd was not running at the halt. `recover` unsticks it.
#[test]
fn stuck_down_zone_recovered() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    let id = stuck_z5(&k, true);
    t.note("dlmgmtd died; zone z5 halted while a consumer inside it still held net0");
    t.note("the halt could not return net0: zone z5 is down with datalinks remaining");
    t.run(GZ, "show-link -o link,zone,owner,transient,state,holds");
    t.run(GZ, "holders net0");
    t.run(GZ_USER, "recover z5");
    t.run(GZ, "recover z5");
    t.run(GZ, "recover -f -t 2000 z5");
    t.run(GZ, "show-link -o link,zone,owner,state,holds");
    t.run(GZ, "recover z5");
    // The forced recovery queued notices and asked for a replay on a
    // task-queue thread: let it finish (it fails, dlmgmtd is dead), or
    // the replay below may find it still running (EALREADY).
    k.settle();
    t.run(GZ, "replay");
    assert_eq!(k.restart_dlmgmtd(), 0);
    t.note("dlmgmtd restarts and registers its door, which replays the queued notices");
    t.run(GZ, "replay");
    assert_eq!(k.dlmgmtd_zone(id), 0);
    t.check("stuck_down.txt");
}

/// A zone id reused: the destroy of the stuck incarnation reclaims what
/// its halt left, and a recovery that names the old incarnation never
/// touches the new one.
#[test]
fn zone_id_reuse() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    let id = stuck_z5(&k, false);
    t.note("dlmgmtd died; zone z5 (uniqid 105) halted with net0 held inside: it is stuck in down");
    t.run(GZ, "show-link -o link,id,zone,owner,state,holds");
    k.zone_destroy(5);
    k.settle();
    t.note("zone z5 is destroyed: the destroy reclaims net0 (a forced recovery)");
    t.run(GZ, "show-link -o link,id,zone,owner,state,holds");
    assert_eq!(k.restart_dlmgmtd(), 0);
    assert_eq!(k.dlmgmtd_zone(id), 0);
    k.zone_boot(5, 205);
    let _own = k.link("vnic5000", "z5net0", 5, false).expect("z5net0");
    t.note("dlmgmtd restarts; zone id 5 boots again (uniqid 205) and creates z5net0");
    t.run(GZ, "show-link -o link,id,zone,owner,state");
    t.run(GZ, "recover -f -u 105 z5");
    t.run(GZ, "recover z5");
    t.run(GZ, "show-link -o link,id,zone,owner,state");
    k.zone_halt(5);
    k.zone_destroy(5);
    t.check("zone_id_reuse.txt");
}

/// dlmgmtd restarts while a zone's teardown notices wait for it.
#[test]
fn dlmgmtd_restart() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    k.zone_boot(7, 107);
    let _gz = k.link("vnic100", "net1", 0, true).expect("net1");
    let own = k.link("vnic7000", "z7net0", 7, false).expect("z7net0");
    k.kill_dlmgmtd();
    k.zone_halt(7);
    t.note("dlmgmtd died; zone z7 halted: z7net0 went with it, dlmgmtd was not told");
    t.run(GZ, "show-link -o link,id,zone,owner,state");
    t.run(GZ, "replay");
    t.run(GZ_USER, "replay");
    t.run(HostCred::privileged(7), "replay");
    assert_eq!(k.dlmgmtd_zone(own), 7, "dlmgmtd still has the link");
    assert_eq!(k.restart_dlmgmtd(), 0);
    t.note("dlmgmtd restarts; its door registration replays the outbox");
    t.run(GZ, "replay");
    assert_eq!(k.dlmgmtd_zone(own), -2, "dlmgmtd heard the link is gone");
    t.run(GZ, "show-link -p -o link,zone,state");
    k.zone_destroy(7);
    t.check("dlmgmtd_restart.txt");
}

/// Usage errors and option handling.
#[test]
fn usage_and_options() {
    let k = Kernel::boot();
    let drv = Driver::new();
    let mut t = Transcript::new(&drv);
    k.zone_boot(5, 105);
    let _ = k.link("vnic1001", "net0", 0, true).expect("net0");
    t.run(GZ, "show-link -p");
    t.run(GZ, "show-link -p -o all");
    t.run(GZ, "show-link -o link,bogus");
    t.run(GZ, "show-link -p -o link,bogus");
    t.run(GZ, "show-link -o all");
    t.run(GZ, "show-link -z nosuchzone");
    t.run(GZ, "show-link net9");
    t.run(GZ, "holders");
    t.run(GZ, "recover");
    t.run(GZ, "recover global");
    t.run(GZ, "recover -t 99999999 z5");
    t.run(GZ, "recover z5");
    t.run(GZ, "frobnicate");
    t.run(GZ, "show-link -x");
    t.check("usage.txt");
}
