//! What DTrace and kstat show of the known failures (docs/dtrace.md):
//! each scenario replays one of them against the registry, records the
//! SDT probes it fires (the host's per-thread probe log, `dlszone::sdt`)
//! and checks the exact sequence, then the statistics the `dlszone` kstat
//! would show.
//!
//! A probe is written `name(args)`, the link record's address left out
//! (it differs from run to run; a check below shows it is the same for
//! every probe about one record).

use std::sync::Arc;

use dlszone::errno::Errno;
use dlszone::registry::{Action, HoldKind, LinkId, Registry, Stats, ZoneId, ZoneKey};
use dlszone::sdt::{self, Fired, PROBES, Recording, Value};
use dlszone_ktest::fake::FakeDlmgmt;

mod common;
use common::checked;

const GZ: ZoneId = ZoneId::GLOBAL;
const Z1: ZoneKey = ZoneKey::new(1, 101);
const Z2: ZoneKey = ZoneKey::new(2, 102);

/// `name(args)` of each firing, without the `link` argument.
fn seq(fired: &[Fired]) -> Vec<String> {
    fired
        .iter()
        .map(|f| {
            let p = PROBES.iter().find(|p| p.name == f.probe).expect(f.probe);
            let args: Vec<String> = p
                .args
                .iter()
                .zip(&f.args)
                .filter(|(name, _)| **name != "link")
                .map(|(_, v)| match v {
                    Value::Int(i) => (*i as i64).to_string(),
                    Value::Str(s) => format!("{s:?}"),
                })
                .collect();
            format!("{}({})", f.probe.trim_start_matches("dlszone-"), args.join(","))
        })
        .collect()
}

/// Every probe about one link id names the same record.
fn one_record_per_link(fired: &[Fired]) {
    let mut seen = std::collections::BTreeMap::new();
    for f in fired {
        let p = PROBES.iter().find(|p| p.name == f.probe).unwrap();
        let (Some(id), Some(at)) =
            (p.args.iter().position(|a| *a == "linkid"), p.args.iter().position(|a| *a == "link"))
        else {
            continue;
        };
        let addr = *seen.entry(f.arg(id)).or_insert(f.arg(at));
        assert_eq!(addr, f.arg(at), "link {} changed record in {}", f.arg(id), f.probe);
    }
}

fn registry(d: &Arc<FakeDlmgmt>) -> Registry {
    let r = Registry::new();
    r.set_door(d.clone());
    r.zone_boot(Z1).unwrap();
    r.zone_boot(Z2).unwrap();
    r
}

fn stats(r: &Registry, want: Stats) {
    assert_eq!(r.stats(), want);
}

/// illumos 10001: a lent link returns under its reserved name while the
/// zone's own link of another name goes away with it; dlmgmtd agrees to
/// the return before it happens and hears of the other after.
#[test]
fn illumos_10001_return_and_teardown() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    let rec = Recording::start();
    checked(&r, r.create(GZ, b"vnic0", LinkId(1), b"net0", false)).unwrap();
    checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)).unwrap();
    checked(&r, r.create(Z1.id, b"vnic11", LinkId(11), b"net1", false)).unwrap();
    // The global zone cannot take the lent link's name: nothing happens.
    assert_eq!(r.create(GZ, b"vnic9", LinkId(9), b"net0", false), Err(Errno::EEXIST));
    assert!(checked(&r, r.zone_halt(Z1)).unwrap().is_clean());
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            r#"link-create(1,0,0,0,"net0")"#,
            "notice-delivered(1,1,1)",
            "link-lend(1,1,0)",
            r#"link-create(11,1,1,0,"net1")"#,
            "halt-start(1,101,2)",
            "notice-delivered(1,0,1)",
            "link-return(1,1,0)",
            "link-condemn(11,1)",
            "link-detach(11,1)",
            "notice-queued(11,1,2,1)",
            "link-free(11,1)",
            "halt-end(1,1,1,0)",
            "notice-delivered(11,1,2)",
        ]
    );
    stats(&r, Stats { links: 1, zones: 3, halts: 1, notices_delivered: 3, ..Stats::default() });
}

/// illumos 15167: a link the zone made itself is condemned at halt and
/// never reaches the global zone; a global-zone snoop keeps its record in
/// limbo until the snoop closes.
#[test]
fn illumos_15167_zone_link_condemned_never_returned() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    let rec = Recording::start();
    checked(&r, r.create(Z1.id, b"vnic1", LinkId(2), b"net0", false)).unwrap();
    let in_zone = checked(&r, r.hold(Z1.id, LinkId(2), HoldKind::Stream)).unwrap();
    let snoop = checked(&r, r.hold(GZ, LinkId(2), HoldKind::Stream)).unwrap();
    // The global zone can neither take it back (nothing to do) nor lend it.
    checked(&r, r.give_back(GZ, LinkId(2))).unwrap();
    assert_eq!(r.lend(GZ, LinkId(2), Z2.id, false), Err(Errno::EPERM));
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.outcome(LinkId(2)).unwrap().action, Action::Condemned { freed: false });
    stats(
        &r,
        Stats { links: 0, zones: 3, limbo: 1, halts: 1, notices_delivered: 1, ..Stats::default() },
    );
    checked(&r, r.rele(in_zone)).unwrap();
    checked(&r, r.rele(snoop)).unwrap();
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            r#"link-create(2,1,1,0,"net0")"#,
            "link-hold(2,2,1)",
            "link-hold(2,2,0)",
            "halt-start(1,101,1)",
            "link-condemn(2,1)",
            "link-detach(2,1)",
            "notice-queued(2,1,2,1)",
            "halt-end(1,0,1,0)",
            "notice-delivered(2,1,2)",
            "link-rele(2,2,1)",
            "link-rele(2,2,0)",
            "link-free(2,1)",
        ]
    );
    stats(&r, Stats { zones: 3, halts: 1, notices_delivered: 1, ..Stats::default() });
}

/// SmartOS OS-8627: global-zone holders of a zone's link across a forced
/// halt. The halt condemns the link; the free comes only with the second
/// global-zone release; forced recovery reclaims the dead zone's own hold,
/// whose release is then late (ESTALE), never a bad one.
#[test]
fn os_8627_free_only_after_the_last_gz_release() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    checked(&r, r.create(Z1.id, b"vnic10", LinkId(10), b"net0", false)).unwrap();
    let ip = checked(&r, r.hold(Z1.id, LinkId(10), HoldKind::Stream)).unwrap();
    let snoop1 = checked(&r, r.hold_by_mac(GZ, b"vnic10", HoldKind::Stream)).unwrap();
    let snoop2 = checked(&r, r.hold_by_mac(GZ, b"vnic10", HoldKind::Stream)).unwrap();
    let rec = Recording::start();
    checked(&r, r.zone_halt(Z1)).unwrap();
    checked(&r, r.rele(snoop1)).unwrap();
    let rep = checked(&r, r.zone_recover(Z1, true, 10)).unwrap();
    assert!(rep.is_clean());
    assert_eq!(checked(&r, r.rele(ip)), Err(Errno::ESTALE));
    stats(
        &r,
        Stats {
            zones: 3,
            limbo: 1,
            late_releases: 1,
            notices_delivered: 1,
            halts: 1,
            recoveries: 1,
            recoveries_forced: 1,
            holds_reclaimed: 1,
            ..Stats::default()
        },
    );
    checked(&r, r.rele(snoop2)).unwrap();
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            "halt-start(1,101,1)",
            "link-condemn(10,1)",
            "link-detach(10,1)",
            "notice-queued(10,1,2,1)",
            "halt-end(1,0,1,0)",
            "notice-delivered(10,1,2)",
            "link-rele(10,2,0)",
            "recover-start(1,1,0)",
            "recover-end(1,1,1,0)",
            "link-bad-release(10,2,1,151)",
            "link-rele(10,2,0)",
            "link-free(10,1)",
        ]
    );
    checked(&r, r.zone_destroy(Z1)).unwrap();
    stats(
        &r,
        Stats {
            zones: 2,
            late_releases: 1,
            notices_delivered: 1,
            halts: 1,
            recoveries: 1,
            recoveries_forced: 1,
            holds_reclaimed: 1,
            ..Stats::default()
        },
    );
}

/// A zone stuck in down: dlmgmtd is gone when the zone halts, so its lent
/// link cannot be returned; recovery returns it without dlmgmtd and
/// queues the notice, which the replay delivers once dlmgmtd is back.
#[test]
fn stuck_down_zone_recovers_and_replays() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    checked(&r, r.create(GZ, b"vnic0", LinkId(1), b"net0", false)).unwrap();
    checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)).unwrap();
    d.set_up(false);
    let rec = Recording::start();
    let halt = checked(&r, r.zone_halt(Z1)).unwrap();
    assert_eq!(halt.remaining, 1);
    stats(
        &r,
        Stats {
            links: 1,
            zones: 3,
            notices_delivered: 1,
            notices_failed: 1,
            halts: 1,
            halts_left_links: 1,
            ..Stats::default()
        },
    );
    let rep = checked(&r, r.zone_recover(Z1, false, 10)).unwrap();
    assert!(rep.is_clean());
    assert_eq!(r.stats().outbox_depth, 1);
    assert_eq!(checked(&r, r.replay_outbox()), Err(Errno::EBADF));
    d.set_up(true);
    assert_eq!(checked(&r, r.replay_outbox()), Ok(1));
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            "halt-start(1,101,1)",
            "notice-failed(1,0,1,9)",
            "halt-end(1,0,0,1)",
            "recover-start(1,0,1)",
            "link-return(1,1,0)",
            "notice-queued(1,0,1,1)",
            "recover-end(1,0,0,0)",
            "notice-failed(1,0,1,9)",
            "notice-delivered(1,0,1)",
        ]
    );
    stats(
        &r,
        Stats {
            links: 1,
            zones: 3,
            notices_delivered: 2,
            notices_failed: 2,
            halts: 1,
            halts_left_links: 1,
            recoveries: 1,
            ..Stats::default()
        },
    );
}

/// dlmgmtd restarts: while it is down a halt tears down the zone's own
/// link and cannot tell it; the notice waits in the outbox (its depth
/// shows it) until the new daemon's door is set and the outbox replayed.
#[test]
fn dlmgmtd_restart_replays_what_it_missed() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    checked(&r, r.create(Z2.id, b"vnic20", LinkId(20), b"net0", false)).unwrap();
    r.unset_door();
    let rec = Recording::start();
    assert!(checked(&r, r.zone_halt(Z2)).unwrap().is_clean());
    assert_eq!(r.stats().outbox_depth, 1);
    let restarted = FakeDlmgmt::shared();
    r.set_door(restarted.clone());
    assert_eq!(checked(&r, r.replay_outbox()), Ok(1));
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            "halt-start(2,102,1)",
            "link-condemn(20,2)",
            "link-detach(20,2)",
            "notice-queued(20,2,2,1)",
            "link-free(20,2)",
            "halt-end(2,0,1,0)",
            "notice-failed(20,2,2,9)",
            "notice-delivered(20,2,2)",
        ]
    );
    stats(
        &r,
        Stats { zones: 3, notices_delivered: 1, notices_failed: 1, halts: 1, ..Stats::default() },
    );
}

/// Pending physical links, activation, rename and zone life: the probes
/// outside teardown.
#[test]
fn pending_activation_rename_and_zone_life() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    let rec = Recording::start();
    checked(&r, r.create_pending(b"e1000g0")).unwrap();
    checked(&r, r.activate(b"e1000g0", LinkId(3), b"e1000g0")).unwrap();
    checked(&r, r.rename(GZ, LinkId(3), b"net9")).unwrap();
    checked(&r, r.create_pending(b"e1000g1")).unwrap();
    checked(&r, r.destroy_pending(b"e1000g1")).unwrap();
    checked(&r, r.zone_halt(Z2)).unwrap();
    checked(&r, r.zone_destroy(Z2)).unwrap();
    checked(&r, r.zone_boot(Z2)).unwrap();
    let fired = rec.take();
    assert_eq!(
        seq(&fired),
        [
            r#"link-create(0,0,0,1,"")"#,
            r#"link-activate(3,"e1000g0")"#,
            r#"link-rename(3,0,"e1000g0","net9")"#,
            r#"link-create(0,0,0,1,"")"#,
            "link-detach(0,0)",
            "link-free(0,0)",
            "halt-start(2,102,0)",
            "halt-end(2,0,0,0)",
            "zone-destroy(2,102)",
            "zone-boot(2,102)",
        ]
    );
    stats(&r, Stats { links: 1, zones: 3, halts: 1, ..Stats::default() });
    // Every probe the registry declares is in the facade's table once.
    assert_eq!(PROBES.len(), 20);
    let _ = sdt::kind::TEMPORARY;
}

/// A zone id reused: the old incarnation's own link, held by a global-zone
/// snoop, is condemned at its halt and freed only at the snoop's release,
/// after the new incarnation booted; `zone-boot`, `halt-start` and
/// `zone-destroy` carry the uniqid, so DTrace tells the two apart.
#[test]
fn zone_id_reuse_names_each_incarnation() {
    let d = FakeDlmgmt::shared();
    let r = Registry::new();
    r.set_door(d.clone());
    let (old, new) = (ZoneKey::new(1, 101), ZoneKey::new(1, 202));
    let rec = Recording::start();
    checked(&r, r.zone_boot(old)).unwrap();
    checked(&r, r.create(GZ, b"e1000g0", LinkId(1), b"net0", true)).unwrap();
    checked(&r, r.lend(GZ, LinkId(1), old.id, false)).unwrap();
    checked(&r, r.create(old.id, b"vnic10", LinkId(2), b"net1", false)).unwrap();
    let snoop = checked(&r, r.hold(GZ, LinkId(2), HoldKind::Stream)).unwrap();
    assert!(checked(&r, r.zone_halt(old)).unwrap().is_clean());
    checked(&r, r.zone_destroy(old)).unwrap();
    checked(&r, r.zone_boot(new)).unwrap();
    checked(&r, r.lend(GZ, LinkId(1), new.id, false)).unwrap();
    checked(&r, r.create(new.id, b"vnic10", LinkId(3), b"net1", false)).unwrap();
    checked(&r, r.rele(snoop)).unwrap();
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            "zone-boot(1,101)",
            r#"link-create(1,0,0,1,"net0")"#,
            "notice-delivered(1,1,1)",
            "link-lend(1,1,0)",
            r#"link-create(2,1,1,0,"net1")"#,
            "link-hold(2,2,0)",
            "halt-start(1,101,2)",
            "notice-delivered(1,0,1)",
            "link-return(1,1,0)",
            "link-condemn(2,1)",
            "link-detach(2,1)",
            "notice-queued(2,1,2,1)",
            "halt-end(1,1,1,0)",
            "notice-delivered(2,1,2)",
            "zone-destroy(1,101)",
            "zone-boot(1,202)",
            "notice-delivered(1,1,1)",
            "link-lend(1,1,0)",
            r#"link-create(3,1,1,0,"net1")"#,
            "link-rele(2,2,0)",
            "link-free(2,1)",
        ]
    );
    stats(&r, Stats { links: 2, zones: 2, halts: 1, notices_delivered: 4, ..Stats::default() });
}

/// SmartOS: a temporary global-zone VNIC lent transiently, renamed inside
/// the zone, and torn down (not returned) at the halt, which frees its
/// temporary name; a plain loan renamed the same way comes back under its
/// temporary name.
#[test]
fn smartos_temporary_name_flow() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    let rec = Recording::start();
    for (z, id, transient) in [(Z1, LinkId(11), true), (Z2, LinkId(12), false)] {
        let tmp = format!("tmp{}0", 4000 + z.id.0);
        checked(&r, r.create(GZ, format!("vnic{}", id.0).as_bytes(), id, tmp.as_bytes(), false))
            .unwrap();
        checked(&r, r.lend(GZ, id, z.id, transient)).unwrap();
        checked(&r, r.rename(GZ, id, b"net0")).unwrap();
    }
    assert!(checked(&r, r.zone_halt(Z1)).unwrap().is_clean());
    assert!(checked(&r, r.zone_halt(Z2)).unwrap().is_clean());
    let fired = rec.take();
    one_record_per_link(&fired);
    assert_eq!(
        seq(&fired),
        [
            r#"link-create(11,0,0,0,"tmp40010")"#,
            "notice-delivered(11,1,1)",
            "link-lend(11,1,1)",
            r#"link-rename(11,1,"tmp40010","net0")"#,
            r#"link-create(12,0,0,0,"tmp40020")"#,
            "notice-delivered(12,2,1)",
            "link-lend(12,2,0)",
            r#"link-rename(12,2,"tmp40020","net0")"#,
            "halt-start(1,101,1)",
            "link-condemn(11,1)",
            "link-detach(11,1)",
            "notice-queued(11,1,2,1)",
            "link-free(11,1)",
            "halt-end(1,0,1,0)",
            "notice-delivered(11,1,2)",
            "halt-start(2,102,1)",
            "notice-delivered(12,0,1)",
            "link-return(12,2,0)",
            "halt-end(2,1,0,0)",
        ]
    );
    stats(&r, Stats { links: 1, zones: 3, halts: 2, notices_delivered: 4, ..Stats::default() });
}

/// IPD 3's vnic0 persistence case: while vnic0 is lent, a second vnic0 in
/// the global zone is refused, and fires nothing; a second VNIC under
/// another name is created as usual.
#[test]
fn ipd3_second_vnic0_refused_silently() {
    let d = FakeDlmgmt::shared();
    let r = registry(&d);
    checked(&r, r.create(GZ, b"vnic1000", LinkId(1), b"vnic0", true)).unwrap();
    checked(&r, r.lend(GZ, LinkId(1), Z1.id, false)).unwrap();
    let rec = Recording::start();
    assert_eq!(r.create(GZ, b"vnic1001", LinkId(2), b"vnic0", true), Err(Errno::EEXIST));
    assert!(rec.take().is_empty(), "a refused create fires no probe");
    checked(&r, r.create(GZ, b"vnic1001", LinkId(2), b"vnic1", true)).unwrap();
    let fired = rec.take();
    assert_eq!(seq(&fired), [r#"link-create(2,0,0,1,"vnic1")"#]);
    stats(&r, Stats { links: 2, zones: 3, notices_delivered: 1, ..Stats::default() });
}

/// `docs/dtrace.md` lists every probe, with its arguments in order, and
/// nothing else; so does the man page's list.
#[test]
fn the_docs_list_every_probe_with_its_arguments() {
    let doc = include_str!("../docs/dtrace.md");
    let rows: Vec<Vec<&str>> = doc
        .lines()
        .filter(|l| l.starts_with("| `dlszone-"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), PROBES.len(), "one row per probe");
    for p in PROBES {
        let row = rows
            .iter()
            .find(|r| r[0] == format!("`{}`", p.name))
            .unwrap_or_else(|| panic!("docs/dtrace.md does not list {}", p.name));
        let args: Vec<&str> = row[1..7].iter().copied().filter(|a| !a.is_empty()).collect();
        assert_eq!(args, p.args, "arguments of {} in docs/dtrace.md", p.name);
    }
    let man = include_str!("../docs/man/dlszone.7");
    for p in PROBES {
        assert!(man.contains(p.name), "docs/man/dlszone.7 does not list {}", p.name);
    }
    for n in Stats::NAMES {
        let n = n.to_str().unwrap();
        assert!(man.contains(&format!(".It Sy {n}")), "docs/man/dlszone.7 lacks kstat {n}");
    }
}
