//! A fuzz input read as a stream of choices: every read past the end
//! gives zeros, so any byte string is a complete, finite run.

/// The bytes of one input and how far they have been read.
pub(crate) struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// Reads `data` from its start.
    pub(crate) fn new(data: &'a [u8]) -> Input<'a> {
        Input { data, pos: 0 }
    }

    /// Whether every byte has been read.
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte, or 0 past the end.
    pub(crate) fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// The next two bytes, little-endian.
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    #[allow(dead_code, reason = "the door target reads no u64")]
    pub(crate) fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A boolean.
    pub(crate) fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// One of `n` choices (`n` > 0).
    pub(crate) fn pick(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }

    /// `n` bytes (zeros past the end).
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub(crate) fn string(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.u16()) % (max + 1);
        self.bytes(n)
    }

    /// A value that is interesting more often than chance would make it:
    /// small, near a boundary, or anything.
    pub(crate) fn id(&mut self) -> u32 {
        match self.u8() % 8 {
            0 => 0,
            1 => u32::MAX,
            2 | 3 => 1000 + u32::from(self.u8() % 16),
            4 => u32::from(self.u8()),
            _ => self.u32(),
        }
    }

    /// A zone id: the global zone, a few small ones, the edges of the
    /// range, or anything.
    pub(crate) fn zone(&mut self) -> i32 {
        match self.u8() % 8 {
            0 => 0,
            1 => -1,
            2 => 9999,
            3 => 10000,
            4 => i32::MIN,
            _ => i32::from(self.u8() % 8),
        }
    }
}
