//! Fuzz target `door`: every door reply the kernel reads.
//!
//! Part one decodes the input's bytes as each reply structure
//! (`kernel/door/proto.rs`), of any length: decoding must never panic,
//! a decoded reply must encode again to bytes that decode to the same
//! value, and the in-place read of `GETATTR`'s value must agree with the
//! full decode.
//!
//! Part two runs the upcall rules and every per-command wrapper
//! (`kernel/door/upcall.rs`) over a door whose every answer comes from
//! the input: no door, a door error (`EINTR`, `EAGAIN`, `EBADF`, any
//! errno), a reply relocated by the door layer, a reply of any size
//! with any bytes, or a well-formed reply with fuzzed fields. Checked
//! after each call: every request the kernel sent decodes as the request
//! of its command, the door is released as often as it was held, at most
//! `MAXRETRYNUM` calls were made, and what a wrapper returns is what its
//! documentation promises (a link id is never 0, a name is terminated and
//! at least 2 bytes, a class is one known class, `GETNEXT` moves forward,
//! an attribute fits its buffer).

use std::cell::{Cell, RefCell};

use dlszone::door::RawErrno;
use dlszone::door::proto::{
    Cmd, DatalinkClass, DatalinkMedia, DlmgmtDoorGetlinkid, DlmgmtDoorGetname, DlmgmtDoorGetnext,
    DlmgmtDoorLinkpropInit, DlmgmtDoorSetzoneid, DlmgmtGetattrRetval, DlmgmtGetnameRetval,
    DlmgmtLinkidRetval, DlmgmtRetval, DlmgmtUpcallArgCreate, DlmgmtUpcallArgDestroy,
    DlmgmtUpcallArgGetattr, DlmgmtUpcallArgUpdate, FPHYINST, FPHYMAJ, LinkFlags, MAX_REPLY, Wire,
};
use dlszone::door::upcall::{self, Delivered, DoorPort, MAXRETRYNUM, UpcallEvent, UpdateError};
use dlszone::errno::Errno;

use super::input::Input;

/// Decodes `bytes` as `T` and checks the round trip.
fn round_trip<T: Wire + PartialEq + core::fmt::Debug>(bytes: &[u8]) -> Option<T> {
    let v = T::decode(bytes).ok()?;
    let mut again = T::buf();
    v.encode_into(again.as_mut()).expect("a decoded reply encodes");
    let w = T::decode(again.as_ref()).expect("an encoded reply decodes");
    assert_eq!(v, w, "decode(encode(decode(b))) != decode(b)");
    assert_eq!(bytes.len(), T::SIZE, "decoded from bytes of the wrong size");
    Some(v)
}

/// Part one: the reply structures themselves.
fn decode_all(bytes: &[u8]) {
    if let Some(r) = round_trip::<DlmgmtRetval>(bytes) {
        assert!(r.lr_err <= 151);
    }
    if let Some(r) = round_trip::<DlmgmtLinkidRetval>(bytes) {
        assert!(r.lr_err <= 151);
    }
    if let Some(r) = round_trip::<DlmgmtGetnameRetval>(bytes)
        && r.lr_err == 0
    {
        let n = r.link();
        assert!(n.len() >= DlmgmtGetnameRetval::MIN_NAME && n.len() < 32 && !n.contains(&0));
        assert!(DatalinkClass(r.lr_class).is_class());
    }
    let full = round_trip::<DlmgmtGetattrRetval>(bytes);
    match DlmgmtGetattrRetval::value_in(bytes) {
        Ok(v) => {
            let r = full.expect("value_in accepted what decode refuses");
            assert_eq!(r.lr_err, 0);
            assert_eq!(r.value(), v);
            assert!(v.len() <= 1024);
        }
        Err(_) => assert!(full.is_none_or(|r| r.lr_err != 0), "value_in refused a good reply"),
    }
}

/// A door whose every answer is read from the input.
struct Port<'a, 'b> {
    input: RefCell<&'b mut Input<'a>>,
    held: Cell<i64>,
    calls: Cell<u32>,
    delays: Cell<u32>,
    fatal: Cell<u32>,
}

impl<'a, 'b> Port<'a, 'b> {
    fn new(input: &'b mut Input<'a>) -> Self {
        Port {
            input: RefCell::new(input),
            held: Cell::new(0),
            calls: Cell::new(0),
            delays: Cell::new(0),
            fatal: Cell::new(0),
        }
    }

    fn reset(&self) {
        self.calls.set(0);
        self.delays.set(0);
        self.fatal.set(0);
    }

    /// The checks a wrapper that makes at most `upcalls` upcalls must
    /// pass, whatever it returned.
    fn after(&self, upcalls: u32) {
        assert_eq!(self.held.get(), 0, "door held and not released");
        assert!(
            self.calls.get() <= MAXRETRYNUM * upcalls,
            "{} door calls in {upcalls} upcalls",
            self.calls.get()
        );
        assert!(self.delays.get() < MAXRETRYNUM * upcalls);
        assert!(self.fatal.get() <= upcalls);
        self.reset();
    }
}

/// The request the kernel sent must be the well-formed request of its
/// command.
fn check_request(req: &[u8]) {
    let cmd = Cmd(i32::from_ne_bytes(req.get(..4).and_then(|w| w.try_into().ok()).expect("cmd")));
    let ok = match cmd {
        Cmd::DLS_CREATE => DlmgmtUpcallArgCreate::decode(req).is_ok(),
        Cmd::DLS_GETATTR => DlmgmtUpcallArgGetattr::decode(req).is_ok(),
        Cmd::DLS_DESTROY => DlmgmtUpcallArgDestroy::decode(req).is_ok(),
        Cmd::GETNAME => DlmgmtDoorGetname::decode(req).is_ok(),
        Cmd::GETLINKID => DlmgmtDoorGetlinkid::decode(req).is_ok(),
        Cmd::GETNEXT => DlmgmtDoorGetnext::decode(req).is_ok(),
        Cmd::DLS_UPDATE => DlmgmtUpcallArgUpdate::decode(req).is_ok(),
        Cmd::LINKPROP_INIT => DlmgmtDoorLinkpropInit::decode(req).is_ok(),
        Cmd::SETZONEID => DlmgmtDoorSetzoneid::decode(req).is_ok(),
        _ => false,
    };
    assert!(ok, "the kernel sent a malformed request: {req:?}");
}

/// A well-formed reply of `size` bytes with fuzzed fields.
fn plausible(inp: &mut Input<'_>, size: usize) -> Vec<u8> {
    let err = if inp.pick(4) == 0 { u32::from(inp.u8() % 160) } else { 0 };
    let class = if inp.bool() { 1u32 << (inp.u8() % 12) } else { inp.u32() };
    match size {
        4 => DlmgmtRetval { lr_err: err }.to_bytes().map(|b| b.to_vec()).unwrap_or_default(),
        24 => DlmgmtLinkidRetval {
            lr_err: err,
            lr_linkid: inp.id(),
            lr_flags: inp.u32() & 7,
            lr_class: class,
            lr_media: inp.u32(),
            lr_padding: 0,
        }
        .to_bytes()
        .map(|b| b.to_vec())
        .unwrap_or_default(),
        48 => {
            let mut link = [0u8; 32];
            let n = inp.pick(33);
            for b in link.iter_mut().take(n) {
                *b = b'a' + inp.u8() % 26;
            }
            let mut out = vec![0u8; 48];
            out[..4].copy_from_slice(&err.to_ne_bytes());
            out[4..36].copy_from_slice(&link);
            out[36..40].copy_from_slice(&class.to_ne_bytes());
            out[40..44].copy_from_slice(&inp.u32().to_ne_bytes());
            out[44..48].copy_from_slice(&(inp.u32() & 7).to_ne_bytes());
            out
        }
        MAX_REPLY => {
            let mut out = vec![0u8; MAX_REPLY];
            out[..4].copy_from_slice(&err.to_ne_bytes());
            out[4..8].copy_from_slice(&u32::from(inp.u8() % 4).to_ne_bytes());
            let sz = if inp.bool() { 8 } else { u32::from(inp.u16()) };
            out[8..12].copy_from_slice(&sz.to_ne_bytes());
            let v = inp.bytes(8);
            out[16..24].copy_from_slice(&v);
            out
        }
        n => inp.bytes(n),
    }
}

impl DoorPort for Port<'_, '_> {
    type Door = ();

    fn hold(&self) -> Option<()> {
        let open = self.input.borrow_mut().u8() % 8 != 0;
        if open {
            self.held.set(self.held.get() + 1);
        }
        open.then_some(())
    }

    fn release(&self, _door: ()) {
        self.held.set(self.held.get() - 1);
    }

    fn call(&self, _door: &(), req: &[u8], reply: &mut [u8]) -> Result<Delivered, RawErrno> {
        check_request(req);
        self.calls.set(self.calls.get() + 1);
        let mut inp = self.input.borrow_mut();
        match inp.pick(8) {
            0 => {
                let e = match inp.pick(4) {
                    0 => Errno::EINTR.to_raw(),
                    1 => Errno::EAGAIN.to_raw(),
                    2 => Errno::EBADF.to_raw(),
                    _ => i32::from(inp.u8() % 151) + 1,
                };
                Err(RawErrno::new(i64::from(e)).expect("an errno"))
            }
            1 => Ok(Delivered::Relocated),
            2 => {
                let n = inp.pick(reply.len() + 1);
                let b = inp.bytes(n);
                reply[..n].copy_from_slice(&b);
                Ok(Delivered::InPlace(n))
            }
            3 | 4 => {
                let b = inp.bytes(reply.len());
                reply.copy_from_slice(&b);
                Ok(Delivered::InPlace(reply.len()))
            }
            _ => {
                let b = plausible(&mut inp, reply.len());
                let n = b.len().min(reply.len());
                reply[..n].copy_from_slice(&b[..n]);
                Ok(Delivered::InPlace(n))
            }
        }
    }

    fn revoked(&self, _door: &()) -> bool {
        self.input.borrow_mut().bool()
    }

    fn delay(&self, _usec: u64) {
        self.delays.set(self.delays.get() + 1);
    }

    fn event(&self, ev: UpcallEvent) {
        if matches!(ev, UpcallEvent::Fatal(_)) {
            self.fatal.set(self.fatal.get() + 1);
        }
    }
}

/// Part two: one wrapper call with fuzzed arguments.
fn one_call(port: &Port<'_, '_>) {
    let (which, a, b, name, zone) = {
        let mut inp = port.input.borrow_mut();
        let which = inp.pick(12);
        let (a, b) = (inp.id(), inp.u32());
        let name = match inp.pick(4) {
            0 => b"net0".to_vec(),
            1 => b"e1000g0".to_vec(),
            _ => inp.string(300),
        };
        (which, a, b, name, inp.zone())
    };
    match which {
        0 => {
            let persist = b & 1 == 1;
            if let Ok(id) = upcall::create(
                port,
                &name,
                u64::from(b),
                u64::from(a),
                DatalinkClass(1 << (b % 12)),
                b,
                persist,
            ) {
                assert_ne!(id, 0);
            }
        }
        1 => {
            let _ = upcall::destroy(port, a, b & 1 == 1);
        }
        2 => match upcall::update(port, &name, b, b & 2 == 2) {
            Ok(id) => assert_ne!(id, 0),
            Err(UpdateError::Conflict(c)) => assert_ne!(c.linkid, 0),
            Err(UpdateError::Other(e)) => assert!(e.get() > 0),
        },
        3 => {
            if let Ok(info) = upcall::get_linkinfo(port, a) {
                let n = info.name();
                assert!(n.len() >= 2 && n.len() < 32 && !n.contains(&0));
                assert_eq!(info.name_field()[n.len()], 0);
                assert!(info.class.is_class());
            }
        }
        4 => {
            let z = if b & 1 == 1 { Some(zone) } else { None };
            if let Ok(id) = upcall::get_linkid(port, &name, z) {
                assert_ne!(id, 0);
            }
        }
        5 => {
            let media = DatalinkMedia(u64::from(b) | (u64::from(b & 3) << 32));
            if let Ok(n) =
                upcall::next(port, a, DatalinkClass(b & 0xfff), media, LinkFlags(b >> 29))
            {
                assert!(n.linkid > a);
                assert!(n.class.is_class());
            }
        }
        6 => {
            let id =
                upcall::get_next(port, a, DatalinkClass::ALL, DatalinkMedia::ANY, LinkFlags(1));
            assert!(id == 0 || id > a);
        }
        7 => {
            let mut out = vec![0u8; (b % 1100) as usize];
            let attr: &[u8] = match b % 3 {
                0 => FPHYMAJ,
                1 => FPHYINST,
                _ => &name,
            };
            if let Ok(n) = upcall::get_linkattr(port, a, attr, &mut out) {
                assert!(n <= out.len() && n <= 1024);
            }
        }
        8 => {
            let _ = upcall::get_phydev(port, a);
        }
        9 => {
            let _ = upcall::linkprop_init(port, a);
        }
        10 => {
            let _ = upcall::setzoneid(port, a, zone);
        }
        _ => {
            // The bare rules, with a reply buffer of any size.
            let req = DlmgmtDoorGetname::new(a.max(1)).and_then(|r| r.to_bytes());
            let mut reply = vec![0u8; (b % 1100) as usize];
            if let Ok(req) = req {
                let _ = upcall::upcall(port, &req, &mut reply);
            }
        }
    }
    // get_phydev() asks for two attributes, one upcall each.
    port.after(if which == 8 { 2 } else { 1 });
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b) * 8).min(data.len());
    let (raw, script) = data.split_at(split);
    decode_all(raw);
    let mut inp = Input::new(script);
    // The script's first bytes also try every reply type in place.
    let port = Port::new(&mut inp);
    for _ in 0..32 {
        one_call(&port);
        if port.input.borrow().done() {
            break;
        }
    }
}
