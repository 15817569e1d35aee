//! A fake dlmgmtd: the daemon's side of the door, for tests. It decodes
//! the requests the kernel sends with the door structures of
//! `dlszone::door::proto` and encodes its replies with them, so the
//! kernel's own encoding and decoding run against it.
//!
//! Two kernels serve it: the host build's fake kernel (`host.rs`), and
//! kload's emulated illumos kernel (`tools/kload/src/emu/door.rs`), behind
//! which the real `dls_mgmt.o` runs. kload compiles this same file
//! (`#[path]`), so it uses nothing of this crate: only `dlszone` and
//! `std`.
//!
//! Tests control it: add and rename link records (what `dladm` asks of
//! the daemon first), answer the next command with an errno, give the
//! next reply another size than the command's (a daemon of another
//! version), and read back what it was asked.

use core::ops::Bound;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::vec::Vec;

use dlszone::door::proto::{
    Cmd, DatalinkClass, DatalinkMedia, DlmgmtDoorGetlinkid, DlmgmtDoorGetname, DlmgmtDoorGetnext,
    DlmgmtDoorLinkpropInit, DlmgmtDoorSetzoneid, DlmgmtGetattrRetval, DlmgmtGetnameRetval,
    DlmgmtLinkidRetval, DlmgmtUpcallArgCreate, DlmgmtUpcallArgDestroy, DlmgmtUpcallArgGetattr,
    DlmgmtUpcallArgUpdate, FPHYINST, FPHYMAJ, LinkFlags, Wire, datatype,
};

/// One link as the fake dlmgmtd records it.
#[derive(Clone, Debug)]
pub struct DaemonLink {
    /// Name in its zone.
    pub name: Vec<u8>,
    /// `datalink_class_t`.
    pub class: u32,
    /// Media.
    pub media: u32,
    /// `DLMGMT_*` flags.
    pub flags: u32,
    /// The zone it is in.
    pub zone: i32,
    /// Physical device major and instance.
    pub phys: Option<(u64, u64)>,
}

/// The fake dlmgmtd.
#[derive(Default)]
pub struct Daemon {
    /// Running and serving its door.
    pub alive: bool,
    /// Its links by id.
    pub links: BTreeMap<u32, DaemonLink>,
    next_id: u32,
    /// Commands served, in order: (command, link id, zone).
    pub log: Vec<(i32, u32, i32)>,
    /// Errors to answer the next commands of a kind with (0: any).
    fail: VecDeque<(i32, u32)>,
    /// The size to give the next reply to a command (0: any).
    resize: VecDeque<(i32, usize)>,
}

/// The command word of a request (its first four bytes), or 0.
pub fn command(req: &[u8]) -> i32 {
    req.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

impl Daemon {
    /// A daemon that is running, with no links.
    pub fn running() -> Daemon {
        Daemon { alive: true, ..Daemon::default() }
    }

    fn visible(&self, l: &DaemonLink, caller: i32) -> bool {
        caller == 0 || l.zone == caller
    }

    fn take_failure(&mut self, cmd: i32) -> Option<u32> {
        let i = self.fail.iter().position(|(c, _)| *c == cmd || *c == 0)?;
        self.fail.remove(i).map(|(_, e)| e)
    }

    fn take_resize(&mut self, cmd: i32) -> Option<usize> {
        let i = self.resize.iter().position(|(c, _)| *c == cmd || *c == 0)?;
        self.resize.remove(i).map(|(_, n)| n)
    }

    /// Answers the next command `cmd` (0: any) with `errno`.
    pub fn fail_next(&mut self, cmd: i32, errno: u32) {
        self.fail.push_back((cmd, errno));
    }

    /// Makes the next reply to command `cmd` (0: any) exactly `size`
    /// bytes: the command's reply cut short, or followed by zeroes.
    pub fn resize_next(&mut self, cmd: i32, size: usize) {
        self.resize.push_back((cmd, size));
    }

    /// Adds a link record (what `dladm create-*` asks dlmgmtd for first).
    pub fn add(
        &mut self,
        name: &[u8],
        class: u32,
        flags: u32,
        zone: i32,
        phys: Option<(u64, u64)>,
    ) -> u32 {
        self.next_id = self.next_id.max(1000) + 1;
        let id = self.next_id;
        self.links
            .insert(id, DaemonLink { name: name.to_vec(), class, media: 4, flags, zone, phys });
        id
    }

    /// The id of the physical link of device (`major`, `instance`), if the
    /// daemon has one.
    pub fn phys_link(&self, major: u64, instance: u64) -> Option<u32> {
        self.links.iter().find_map(|(id, l)| {
            (l.class == DatalinkClass::PHYS.0 && l.phys == Some((major, instance))).then_some(*id)
        })
    }

    /// A digest of the link records (id, name, class, media, flags, zone,
    /// device) and whether the daemon runs: equal digests, equal records.
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(&[u8::from(self.alive)]);
        for (id, l) in &self.links {
            eat(&id.to_ne_bytes());
            eat(&l.name);
            eat(&[0]);
            eat(&l.class.to_ne_bytes());
            eat(&l.media.to_ne_bytes());
            eat(&l.flags.to_ne_bytes());
            eat(&l.zone.to_ne_bytes());
            let (maj, inst) = l.phys.unwrap_or((0, 0));
            eat(&maj.to_ne_bytes());
            eat(&inst.to_ne_bytes());
        }
        h
    }

    /// Serves one door call from a thread of zone `caller` (the zone of
    /// the door call's credential), with `zones` the zones that exist;
    /// the reply, whole (the door layer decides where it goes).
    pub fn serve(&mut self, caller: i32, req: &[u8], zones: &BTreeSet<i32>) -> Vec<u8> {
        let cmd = command(req);
        let mut reply = self.answer(caller, cmd, req, zones);
        if let Some(n) = self.take_resize(cmd) {
            reply.resize(n, 0);
        }
        reply
    }

    fn answer(&mut self, caller: i32, cmd: i32, req: &[u8], zones: &BTreeSet<i32>) -> Vec<u8> {
        let err = |size: usize, e: u32| {
            let mut b = std::vec![0u8; size];
            b[..4].copy_from_slice(&e.to_ne_bytes());
            b
        };
        let failure = self.take_failure(cmd);
        macro_rules! fail_or {
            ($size:expr) => {
                if let Some(e) = failure {
                    self.log.push((cmd, 0, caller));
                    return err($size, e);
                }
            };
        }
        let linkid_reply = |e: u32, id: u32, l: Option<&DaemonLink>| {
            let r = DlmgmtLinkidRetval {
                lr_err: e,
                lr_linkid: id,
                lr_flags: l.map_or(0, |l| l.flags),
                lr_class: l.map_or(0, |l| l.class),
                lr_media: l.map_or(0, |l| l.media),
                lr_padding: 0,
            };
            r.to_bytes().unwrap_or([0; 24]).to_vec()
        };
        match Cmd(cmd) {
            Cmd::DLS_CREATE => {
                fail_or!(24);
                let Ok(a) = DlmgmtUpcallArgCreate::decode(req) else { return err(24, 22) };
                self.log.push((cmd, 0, caller));
                if self.links.values().any(|l| l.name == a.devname() && l.zone == caller) {
                    return linkid_reply(17, 0, None);
                }
                let flags =
                    LinkFlags::ACTIVE.0 | if a.ld_persist != 0 { LinkFlags::PERSIST.0 } else { 0 };
                let phys =
                    (a.ld_class == DatalinkClass::PHYS.0).then_some((a.ld_phymaj, a.ld_phyinst));
                let id = self.add(a.devname(), a.ld_class, flags, caller, phys);
                if let Some(l) = self.links.get_mut(&id) {
                    l.media = a.ld_media;
                }
                linkid_reply(0, id, None)
            }
            Cmd::DLS_UPDATE => {
                fail_or!(24);
                let Ok(a) = DlmgmtUpcallArgUpdate::decode(req) else { return err(24, 22) };
                self.log.push((cmd, 0, caller));
                let found = self
                    .links
                    .iter()
                    .find(|(_, l)| l.name == a.devname())
                    .map(|(i, l)| (*i, l.clone()));
                match found {
                    Some((id, l)) if l.media == a.ld_media => linkid_reply(0, id, Some(&l)),
                    Some((id, l)) => linkid_reply(17, id, Some(&l)),
                    None => linkid_reply(2, 0, None),
                }
            }
            Cmd::DLS_DESTROY => {
                fail_or!(4);
                let Ok(a) = DlmgmtUpcallArgDestroy::decode(req) else { return err(4, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let ok = self.links.get(&a.ld_linkid).is_some_and(|l| self.visible(l, caller));
                if ok {
                    self.links.remove(&a.ld_linkid);
                }
                err(4, if ok { 0 } else { 2 })
            }
            Cmd::DLS_GETATTR => {
                fail_or!(1040);
                let Ok(a) = DlmgmtUpcallArgGetattr::decode(req) else { return err(1040, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let l = self.links.get(&a.ld_linkid).filter(|l| self.visible(l, caller));
                let v = match (l.and_then(|l| l.phys), a.attr()) {
                    (Some((maj, _)), x) if x == FPHYMAJ => Some(maj),
                    (Some((_, inst)), x) if x == FPHYINST => Some(inst),
                    _ => None,
                };
                let Some(v) = v else { return err(1040, 2) };
                let mut r = DlmgmtGetattrRetval {
                    lr_err: 0,
                    lr_type: datatype::UINT64,
                    lr_attrsz: 8,
                    lr_padding: 0,
                    lr_attrval: [0; 1024],
                };
                r.lr_attrval[..8].copy_from_slice(&v.to_ne_bytes());
                r.to_bytes().unwrap_or([0; 1040]).to_vec()
            }
            Cmd::GETNAME => {
                fail_or!(48);
                let Ok(a) = DlmgmtDoorGetname::decode(req) else { return err(48, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let Some(l) = self.links.get(&a.ld_linkid).filter(|l| self.visible(l, caller))
                else {
                    return err(48, 2);
                };
                let mut name = [0u8; 32];
                name[..l.name.len().min(31)].copy_from_slice(&l.name[..l.name.len().min(31)]);
                let r = DlmgmtGetnameRetval {
                    lr_err: 0,
                    lr_link: name,
                    lr_class: l.class,
                    lr_media: l.media,
                    lr_flags: l.flags,
                };
                r.to_bytes().unwrap_or([0; 48]).to_vec()
            }
            Cmd::GETLINKID => {
                fail_or!(24);
                let Ok(a) = DlmgmtDoorGetlinkid::decode(req) else { return err(24, 22) };
                self.log.push((cmd, 0, caller));
                let zone = if caller == 0 && a.ld_zoneid != -1 { a.ld_zoneid } else { caller };
                let hit = self.links.iter().find(|(_, l)| l.name == a.link() && l.zone == zone);
                match hit {
                    Some((id, l)) => linkid_reply(0, *id, Some(l)),
                    None => linkid_reply(2, 0, None),
                }
            }
            Cmd::GETNEXT => {
                fail_or!(24);
                let Ok(a) = DlmgmtDoorGetnext::decode(req) else { return err(24, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                let media = DatalinkMedia(a.ld_dmedia);
                // Every id after the one given (none after the largest).
                let after = (Bound::Excluded(a.ld_linkid), Bound::Unbounded);
                let hit = self.links.range(after).find(|(_, l)| {
                    self.visible(l, caller)
                        && l.class & a.ld_class != 0
                        && media.accepts(l.media)
                        && l.flags & a.ld_flags != 0
                });
                match hit {
                    Some((id, l)) => linkid_reply(0, *id, Some(l)),
                    None => linkid_reply(2, 0, None),
                }
            }
            Cmd::LINKPROP_INIT => {
                fail_or!(4);
                let Ok(a) = DlmgmtDoorLinkpropInit::decode(req) else { return err(4, 22) };
                self.log.push((cmd, a.ld_linkid, caller));
                err(4, if self.links.contains_key(&a.ld_linkid) { 0 } else { 2 })
            }
            Cmd::SETZONEID => {
                fail_or!(4);
                let Ok(a) = DlmgmtDoorSetzoneid::decode(req) else { return err(4, 22) };
                self.log.push((cmd, a.ld_linkid, a.ld_zoneid));
                if caller != 0 {
                    return err(4, 13);
                }
                if a.ld_zoneid != 0 && !zones.contains(&a.ld_zoneid) {
                    return err(4, 6);
                }
                match self.links.get_mut(&a.ld_linkid) {
                    Some(l) => {
                        l.zone = a.ld_zoneid;
                        err(4, 0)
                    }
                    None => err(4, 2),
                }
            }
            _ => err(4, 22),
        }
    }
}
