//! The upcall rules against a scripted door: one test per rule, and the
//! per-command wrappers' gate semantics.

use core::cell::RefCell;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::door::proto::{DlmgmtLinkidRetval, MAXLINKATTRVALLEN, datatype};

/// What the fake door does on one call.
#[derive(Clone, Debug)]
enum Step {
    /// Replies with these bytes (copied into the caller's buffer if they
    /// fit; `Delivered::Relocated` if they do not).
    Reply(Vec<u8>),
    /// Fails with this errno.
    Fail(i32),
    /// Fails with this errno, and the door is revoked from now on.
    FailRevoke(i32),
}

#[derive(Default)]
struct State {
    /// Door generations: `hold()` hands out the current one, if any and
    /// not revoked.
    door: Option<u32>,
    revoked: Vec<u32>,
    /// Door to register when the current one is revoked (a restarted
    /// dlmgmtd).
    next_door: Option<u32>,
    /// Register door n + 1 whenever door n is revoked.
    respawn: bool,
    script: Vec<Step>,
    calls: Vec<(u32, Vec<u8>)>,
    holds: u32,
    releases: u32,
    delays: Vec<u64>,
    events: Vec<UpcallEvent>,
}

struct Fake(RefCell<State>);

impl Fake {
    fn new(script: Vec<Step>) -> Fake {
        Fake(RefCell::new(State { door: Some(1), script, ..State::default() }))
    }

    fn no_door() -> Fake {
        Fake(RefCell::new(State::default()))
    }

    fn st(&self) -> std::cell::Ref<'_, State> {
        self.0.borrow()
    }

    /// Every hold was released.
    fn balanced(&self) -> bool {
        let s = self.st();
        s.holds == s.releases
    }
}

impl DoorPort for Fake {
    type Door = u32;

    fn hold(&self) -> Option<u32> {
        let mut s = self.0.borrow_mut();
        let d = s.door?;
        if s.revoked.contains(&d) {
            return None;
        }
        s.holds += 1;
        Some(d)
    }

    fn release(&self, _door: u32) {
        self.0.borrow_mut().releases += 1;
    }

    fn call(&self, door: &u32, req: &[u8], reply: &mut [u8]) -> Result<Delivered, RawErrno> {
        let mut s = self.0.borrow_mut();
        s.calls.push((*door, req.to_vec()));
        let step = if s.script.is_empty() { Step::Fail(9) } else { s.script.remove(0) };
        match step {
            Step::Reply(bytes) => match reply.get_mut(..bytes.len()) {
                Some(dst) => {
                    dst.copy_from_slice(&bytes);
                    Ok(Delivered::InPlace(bytes.len()))
                }
                None => Ok(Delivered::Relocated),
            },
            Step::Fail(e) => Err(RawErrno::new(e.into()).unwrap()),
            Step::FailRevoke(e) => {
                s.revoked.push(*door);
                if let Some(n) = s.next_door.take() {
                    s.door = Some(n);
                } else if s.respawn {
                    s.door = Some(*door + 1);
                }
                Err(RawErrno::new(e.into()).unwrap())
            }
        }
    }

    fn revoked(&self, door: &u32) -> bool {
        self.st().revoked.contains(door)
    }

    fn delay(&self, usec: u64) {
        self.0.borrow_mut().delays.push(usec);
    }

    fn event(&self, ev: UpcallEvent) {
        self.0.borrow_mut().events.push(ev);
    }
}

fn ok4() -> Step {
    Step::Reply(0u32.to_ne_bytes().to_vec())
}

fn err4(e: u32) -> Step {
    Step::Reply(e.to_ne_bytes().to_vec())
}

fn raw(e: Errno) -> RawErrno {
    RawErrno::from(e)
}

fn call4(f: &Fake) -> UpcallResult<()> {
    let mut reply = [0u8; 4];
    upcall(f, &[9, 0, 0, 0], &mut reply)
}

// ---- the rules ----------------------------------------------------------------

#[test]
fn success_returns_lr_err_zero() {
    let f = Fake::new(vec![ok4()]);
    assert_eq!(call4(&f), Ok(()));
    assert_eq!(f.st().calls.len(), 1);
    assert_eq!(f.st().calls[0].1, vec![9, 0, 0, 0], "the request goes out as given");
    assert!(f.st().delays.is_empty());
    assert!(f.balanced());
}

#[test]
fn no_door_is_ebadf_without_a_call() {
    let f = Fake::no_door();
    assert_eq!(call4(&f), Err(raw(Errno::EBADF)));
    assert!(f.st().calls.is_empty());
    assert_eq!(f.st().holds, 0);
}

#[test]
fn revoked_door_at_hold_is_ebadf() {
    let f = Fake::new(vec![ok4()]);
    f.0.borrow_mut().revoked.push(1);
    assert_eq!(call4(&f), Err(raw(Errno::EBADF)));
    assert!(f.st().calls.is_empty());
}

#[test]
fn eintr_returns_at_once() {
    let f = Fake::new(vec![Step::Fail(4), ok4()]);
    assert_eq!(call4(&f), Err(raw(Errno::EINTR)));
    assert_eq!(f.st().calls.len(), 1);
    assert!(f.st().delays.is_empty());
    assert!(f.st().events.is_empty(), "gate logs nothing for EINTR");
    assert!(f.balanced());
}

#[test]
fn eagain_is_retried_with_a_two_second_delay() {
    let f = Fake::new(vec![Step::Fail(11), Step::Fail(11), ok4()]);
    assert_eq!(call4(&f), Ok(()));
    assert_eq!(f.st().calls.len(), 3);
    assert_eq!(f.st().delays, vec![2_000_000, 2_000_000]);
    assert!(f.st().calls.iter().all(|(d, _)| *d == 1), "the same door each time");
    assert_eq!(f.st().holds, 1);
    assert!(f.balanced());
}

#[test]
fn eagain_gives_up_after_three_attempts() {
    let f = Fake::new(vec![Step::Fail(11), Step::Fail(11), Step::Fail(11), ok4()]);
    assert_eq!(call4(&f), Err(raw(Errno::EAGAIN)));
    assert_eq!(f.st().calls.len(), 3, "MAXRETRYNUM attempts in all");
    assert_eq!(f.st().delays.len(), 2, "no delay after the last attempt");
    assert_eq!(f.st().events, vec![UpcallEvent::Fatal(raw(Errno::EAGAIN))]);
    assert!(f.balanced());
}

#[test]
fn revoked_door_is_retried_on_a_newly_registered_door() {
    let f = Fake::new(vec![Step::FailRevoke(9), ok4()]);
    f.0.borrow_mut().next_door = Some(2);
    assert_eq!(call4(&f), Ok(()));
    let calls: Vec<u32> = f.st().calls.iter().map(|c| c.0).collect();
    assert_eq!(calls, vec![1, 2], "second attempt on dlmgmtd's new door");
    assert_eq!(f.st().events, vec![UpcallEvent::Revoked]);
    assert_eq!(f.st().holds, 2);
    assert!(f.balanced());
}

#[test]
fn revoked_door_without_a_new_one_is_ebadf() {
    let f = Fake::new(vec![Step::FailRevoke(9)]);
    assert_eq!(call4(&f), Err(raw(Errno::EBADF)));
    assert_eq!(f.st().calls.len(), 1);
    assert_eq!(f.st().events, vec![UpcallEvent::Revoked]);
    assert!(f.balanced());
}

#[test]
fn revoked_every_time_gives_up_after_three_attempts_with_the_door_error() {
    // A daemon restarting in a loop: each revocation comes with a new door.
    let f = Fake::new(vec![Step::FailRevoke(9), Step::FailRevoke(9), Step::FailRevoke(9), ok4()]);
    f.0.borrow_mut().respawn = true;
    assert_eq!(call4(&f), Err(raw(Errno::EBADF)));
    let doors: Vec<u32> = f.st().calls.iter().map(|c| c.0).collect();
    assert_eq!(doors, vec![1, 2, 3]);
    assert_eq!(
        f.st().events,
        vec![
            UpcallEvent::Revoked,
            UpcallEvent::Revoked,
            UpcallEvent::Revoked,
            UpcallEvent::Fatal(raw(Errno::EBADF))
        ]
    );
    assert!(f.balanced());
}

#[test]
fn attempts_carry_over_a_door_change() {
    // Revoked on the first attempt, then EAGAIN twice on the new door:
    // the third attempt is the last, so the second EAGAIN is final.
    let f = Fake::new(vec![Step::FailRevoke(9), Step::Fail(11), Step::Fail(11), ok4()]);
    f.0.borrow_mut().next_door = Some(2);
    assert_eq!(call4(&f), Err(raw(Errno::EAGAIN)));
    assert_eq!(f.st().calls.len(), 3);
    assert_eq!(f.st().delays.len(), 1);
    assert!(f.balanced());
}

#[test]
fn other_door_errors_are_returned_unchanged() {
    // E2BIG (7) from the door layer, door not revoked.
    let f = Fake::new(vec![Step::Fail(7), ok4()]);
    assert_eq!(call4(&f).map_err(RawErrno::get), Err(7));
    assert_eq!(f.st().calls.len(), 1);
    assert_eq!(f.st().events, vec![UpcallEvent::Fatal(RawErrno::new(7).unwrap())]);
    assert!(f.balanced());
}

#[test]
fn lr_err_is_the_result() {
    for e in [2u32, 17, 30, 151] {
        let f = Fake::new(vec![err4(e)]);
        assert_eq!(call4(&f).map_err(RawErrno::get), Err(e as i32));
        assert!(f.balanced());
    }
}

#[test]
fn lr_err_out_of_range_is_einval() {
    for e in [152u32, 0x8000_0000, u32::MAX] {
        let f = Fake::new(vec![err4(e)]);
        assert_eq!(call4(&f), Err(raw(Errno::EINVAL)), "{e}");
    }
}

#[test]
fn reply_of_the_wrong_size_is_einval_and_a_relocated_one_enospc() {
    let f = Fake::new(vec![Step::Reply(vec![0, 0])]);
    assert_eq!(call4(&f), Err(raw(Errno::EINVAL)));
    let f = Fake::new(vec![Step::Reply(vec![0; 8])]);
    assert_eq!(call4(&f), Err(raw(Errno::ENOSPC)), "larger than the buffer");
    let f = Fake::new(vec![Step::Reply(vec![])]);
    assert_eq!(call4(&f), Err(raw(Errno::EINVAL)));
    assert!(f.balanced());
}

// ---- the wrappers ---------------------------------------------------------------

fn linkid_reply(err: u32, linkid: u32, class: u32, media: u32, flags: u32) -> Step {
    let r = DlmgmtLinkidRetval {
        lr_err: err,
        lr_linkid: linkid,
        lr_flags: flags,
        lr_class: class,
        lr_media: media,
        lr_padding: 0,
    };
    Step::Reply(r.to_bytes().unwrap().to_vec())
}

fn getname_reply(err: u32, name: &[u8], class: u32) -> Step {
    let mut b = vec![0u8; 48];
    b[..4].copy_from_slice(&err.to_ne_bytes());
    b[4..4 + name.len()].copy_from_slice(name);
    b[36..40].copy_from_slice(&class.to_ne_bytes());
    b[40..44].copy_from_slice(&4u32.to_ne_bytes());
    b[44..48].copy_from_slice(&5u32.to_ne_bytes());
    Step::Reply(b)
}

fn getattr_reply(err: u32, value: &[u8]) -> Step {
    let mut b = vec![0u8; 16 + MAXLINKATTRVALLEN];
    b[..4].copy_from_slice(&err.to_ne_bytes());
    b[4..8].copy_from_slice(&datatype::UINT64.to_ne_bytes());
    b[8..12].copy_from_slice(&(value.len() as u32).to_ne_bytes());
    b[16..16 + value.len()].copy_from_slice(value);
    Step::Reply(b)
}

#[test]
fn create_sends_the_request_and_returns_the_link_id() {
    let f = Fake::new(vec![linkid_reply(0, 1001, 0xdead, 0, 0)]);
    let id = create(&f, b"vnic1001", 0, 0, DatalinkClass::VNIC, 4, false);
    assert_eq!(id, Ok(1001), "CREATE does not set lr_class: it is not judged");
    let req = &f.st().calls[0].1;
    assert_eq!(req.len(), 288);
    assert_eq!(i32::from_ne_bytes(req[..4].try_into().unwrap()), 1);
    let f = Fake::new(vec![linkid_reply(0, 0, 8, 0, 0)]);
    assert_eq!(create(&f, b"v0", 0, 0, DatalinkClass::VNIC, 4, false), Err(raw(Errno::EINVAL)));
    let f = Fake::new(vec![linkid_reply(17, 0, 0, 0, 0)]);
    assert_eq!(create(&f, b"v0", 0, 0, DatalinkClass::VNIC, 4, false), Err(raw(Errno::EEXIST)));
    // Gate: a device name that does not fit is EINVAL, with no upcall.
    let f = Fake::new(vec![]);
    let long = [b'x'; 256];
    assert_eq!(create(&f, &long, 0, 0, DatalinkClass::PHYS, 4, true), Err(raw(Errno::EINVAL)));
    assert!(f.st().calls.is_empty());
}

#[test]
fn update_reports_the_conflicting_link_on_eexist() {
    let f = Fake::new(vec![linkid_reply(0, 7, 0, 4, 0)]);
    assert_eq!(update(&f, b"bge0", 4, false), Ok(7));
    let f = Fake::new(vec![linkid_reply(17, 7, 0, 9, 0)]);
    let e = update(&f, b"bge0", 4, false).unwrap_err();
    assert_eq!(e, UpdateError::Conflict(UpdateConflict { linkid: 7, media: 9 }));
    assert_eq!(e.errno(), raw(Errno::EEXIST));
    let f = Fake::new(vec![linkid_reply(2, 7, 0, 9, 0)]);
    assert_eq!(update(&f, b"bge0", 4, false), Err(UpdateError::Other(raw(Errno::ENOENT))));
    let f = Fake::no_door();
    assert_eq!(update(&f, b"bge0", 4, false).map_err(UpdateError::errno), Err(raw(Errno::EBADF)));
}

#[test]
fn get_linkinfo_checks_the_name() {
    let f = Fake::new(vec![getname_reply(0, b"net0", 1)]);
    let li = get_linkinfo(&f, 3).unwrap();
    assert_eq!(li.name(), b"net0");
    assert_eq!(&li.name_field()[..5], b"net0\0");
    assert_eq!((li.class, li.media, li.flags), (DatalinkClass::PHYS, 4, LinkFlags(5)));
    let f = Fake::new(vec![getname_reply(0, &[b'n'; 32], 1)]);
    assert_eq!(get_linkinfo(&f, 3), Err(raw(Errno::EINVAL)), "unterminated");
    let f = Fake::new(vec![getname_reply(0, b"n", 1)]);
    assert_eq!(get_linkinfo(&f, 3), Err(raw(Errno::EINVAL)), "one character");
    let f = Fake::new(vec![getname_reply(0, b"net0", 0x3)]);
    assert_eq!(get_linkinfo(&f, 3), Err(raw(Errno::EINVAL)), "bad class");
    let f = Fake::new(vec![getname_reply(2, &[0xff; 32], 0xffff)]);
    assert_eq!(get_linkinfo(&f, 3), Err(raw(Errno::ENOENT)), "body of a failure not judged");
    let f = Fake::new(vec![]);
    assert_eq!(get_linkinfo(&f, 0), Err(raw(Errno::EINVAL)));
}

#[test]
fn get_linkid_refuses_impossible_names_without_an_upcall() {
    let f = Fake::new(vec![linkid_reply(0, 5, 8, 4, 1)]);
    assert_eq!(get_linkid(&f, b"vnic0", None), Ok(5));
    let req = &f.st().calls[0].1;
    assert_eq!(req.len(), 40);
    assert_eq!(i32::from_ne_bytes(req[36..40].try_into().unwrap()), -1);
    let f = Fake::new(vec![linkid_reply(0, 5, 8, 4, 1)]);
    assert_eq!(get_linkid(&f, b"vnic0", Some(3)), Ok(5));
    assert_eq!(i32::from_ne_bytes(f.st().calls[0].1[36..40].try_into().unwrap()), 3);
    let f = Fake::new(vec![]);
    assert_eq!(get_linkid(&f, &[b'a'; 32], None), Err(raw(Errno::ENOENT)));
    assert_eq!(get_linkid(&f, b"", None), Err(raw(Errno::ENOENT)));
    assert_eq!(get_linkid(&f, b"a\0b", None), Err(raw(Errno::ENOENT)));
    assert_eq!(get_linkid(&f, b"net0", Some(10_000)), Err(raw(Errno::EINVAL)));
    assert!(f.st().calls.is_empty());
    let f = Fake::new(vec![linkid_reply(0, 5, 0, 4, 1)]);
    assert_eq!(get_linkid(&f, b"net0", None), Err(raw(Errno::EINVAL)), "class unset");
    let f = Fake::no_door();
    assert_eq!(get_linkid(&f, b"net0", None), Err(raw(Errno::EBADF)));
}

#[test]
fn get_next_ends_on_any_failure_and_on_a_reply_that_does_not_advance() {
    let all = (DatalinkClass::ALL, DatalinkMedia::ANY, LinkFlags::ACTIVE);
    let f = Fake::new(vec![linkid_reply(0, 4, 1, 4, 1), linkid_reply(2, 0, 0, 0, 0)]);
    assert_eq!(get_next(&f, 0, all.0, all.1, all.2), 4);
    assert_eq!(get_next(&f, 4, all.0, all.1, all.2), 0);
    let f = Fake::new(vec![linkid_reply(0, 4, 1, 4, 1)]);
    assert_eq!(get_next(&f, 4, all.0, all.1, all.2), 0, "not past 4");
    let f = Fake::no_door();
    assert_eq!(get_next(&f, 0, all.0, all.1, all.2), 0);
    let f = Fake::new(vec![linkid_reply(0, 9, 8, 4, 1)]);
    let n = next(&f, 3, all.0, all.1, all.2).unwrap();
    assert_eq!((n.linkid, n.class, n.media, n.flags), (9, DatalinkClass::VNIC, 4, LinkFlags(1)));
}

#[test]
fn get_phydev_reads_both_attributes_and_collapses_errors_to_einval() {
    let f = Fake::new(vec![
        getattr_reply(0, &83u64.to_ne_bytes()),
        getattr_reply(0, &2u64.to_ne_bytes()),
    ]);
    assert_eq!(get_phydev(&f, 3), Ok((83, 2)));
    let calls = f.st().calls.clone();
    assert_eq!(&calls[0].1[8..15], b"phymaj\0");
    assert_eq!(&calls[1].1[8..16], b"phyinst\0");
    let f = Fake::no_door();
    assert_eq!(get_phydev(&f, 3), Err(Errno::EINVAL), "EBADF becomes EINVAL, as in gate");
    let f = Fake::new(vec![getattr_reply(2, &[])]);
    assert_eq!(get_phydev(&f, 3), Err(Errno::EINVAL));
    let f = Fake::new(vec![getattr_reply(0, &[1, 2, 3, 4])]);
    assert_eq!(get_phydev(&f, 3), Err(Errno::EINVAL), "not a uint64_t");
    let mut small = [0u8; 2];
    let f = Fake::new(vec![getattr_reply(0, &[1, 2, 3, 4])]);
    assert_eq!(get_linkattr(&f, 3, b"x", &mut small), Err(raw(Errno::EINVAL)));
}

#[test]
fn small_commands() {
    let f = Fake::new(vec![ok4(), err4(2), ok4(), err4(13)]);
    assert_eq!(destroy(&f, 5, false), Ok(()));
    assert_eq!(destroy(&f, 5, true), Err(raw(Errno::ENOENT)));
    assert_eq!(linkprop_init(&f, 5), Ok(()));
    assert_eq!(setzoneid(&f, 5, 2), Err(raw(Errno::EACCES)));
    let calls = f.st().calls.clone();
    let cmds: Vec<i32> =
        calls.iter().map(|c| i32::from_ne_bytes(c.1[..4].try_into().unwrap())).collect();
    assert_eq!(cmds, vec![3, 3, 8, 9]);
    assert_eq!(calls[3].1.len(), 12);
    let f = Fake::new(vec![]);
    assert_eq!(setzoneid(&f, 5, -1), Err(raw(Errno::EINVAL)));
    assert_eq!(destroy(&f, 0, false), Err(raw(Errno::EINVAL)));
    assert!(f.st().calls.is_empty());
}
