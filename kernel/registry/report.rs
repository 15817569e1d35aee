//! What a teardown did, link by link.

use alloc::vec::Vec;

use super::types::{Holder, LinkId, LinkName, ZoneKey};
use crate::errno::Errno;

/// The fate of one link in a halt or recovery.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Transient: condemned and detached; freed now or when `delayed_by`
    /// and the temporary holds let go.
    Condemned {
        /// Freed already.
        freed: bool,
    },
    /// Returned to its owner under its reserved name, dlmgmtd agreeing.
    Returned {
        /// The owner-zone name it came back under.
        name: LinkName,
    },
    /// Returned without dlmgmtd; the notice waits in the outbox.
    ReturnQueued {
        /// The owner-zone name it came back under.
        name: LinkName,
    },
    /// dlmgmtd could not be told, so the link stays in the zone.
    ReturnFailed(Errno),
    /// Holds taken inside the zone keep it there (recover with `force`).
    Blocked,
    /// A destroy of the link is under way; it leaves by itself.
    Destroying,
}

/// One link's line in a report.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinkOutcome {
    /// The link.
    pub link: LinkId,
    /// Its name in the zone being torn down.
    pub name: Option<LinkName>,
    /// What happened.
    pub action: Action,
    /// Long holders that delay the free (or block the return).
    pub delayed_by: Vec<Holder>,
    /// Temporary holds outstanding at report time.
    pub tmp_holds: u32,
    /// Holds taken inside the dead zone that forced recovery discarded.
    pub reclaimed: Vec<Holder>,
}

impl LinkOutcome {
    /// A line yet to be written (for room made ahead).
    pub(crate) const BLANK: LinkOutcome = LinkOutcome {
        link: LinkId::INVALID,
        name: None,
        action: Action::Blocked,
        delayed_by: Vec::new(),
        tmp_holds: 0,
        reclaimed: Vec::new(),
    };
}

/// The result of `zone_halt` or `zone_recover`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TeardownReport {
    /// The zone.
    pub zone: ZoneKey,
    /// One line per link that was in the zone.
    pub links: Vec<LinkOutcome>,
    /// Links still in the zone afterwards; non-zero means "stuck in down".
    pub remaining: usize,
    /// Notices appended to the outbox.
    pub queued: usize,
}

impl TeardownReport {
    /// The zone holds no link any more.
    pub fn is_clean(&self) -> bool {
        self.remaining == 0
    }

    /// The line for `link`, if it was in the zone.
    pub fn outcome(&self, link: LinkId) -> Option<&LinkOutcome> {
        self.links.iter().find(|o| o.link == link)
    }
}
