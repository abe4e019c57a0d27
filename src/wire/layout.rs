//! The byte layout of a wire segment, layout version 2.
//!
//! Everything is little-endian (the byte order of every platform framewire
//! runs on) and naturally aligned. A program in another language can map a
//! wire from these offsets alone; `src/wire/README.md` restates them.
//!
//! Version 2 (from 1): liveness of the writer and of each reader is an
//! open-file-description lock on one byte of the segment file (the writer's:
//! byte [`WRITER_LOCK`]; reader entry `r`'s: the first byte of the entry),
//! instead of a pid and start time checked in `/proc`; the pid namespace of
//! the writer ([`hdr::WRITER_PIDNS`]) and of each reader ([`rdr::PIDNS`]) is
//! recorded beside its pid; reader state 3 (reclaiming) is gone; and every
//! header field is validated ([`Header::parse`]) before use.
//!
//! ```text
//! 0                 header (HEADER_SIZE bytes)
//! meta_offset       slot_count x SlotMeta (META_SIZE bytes each)
//! order_offset      slot_count x u32: order[seq % slot_count] = slot index
//! readers_offset    max_readers x ReaderEntry (READER_SIZE bytes each)
//! payload_offset    slot_count x payload, each slot_stride bytes apart;
//!                   page-aligned, so a V4L2 driver can capture into them
//! ```

/// `b"FRAMEWIR"` as a little-endian u64; the first 8 bytes of every wire.
pub const MAGIC: u64 = u64::from_le_bytes(*b"FRAMEWIR");
/// Bumped whenever any offset or meaning below changes.
pub const LAYOUT_VERSION: u32 = 2;

/// Header `state`: the creator is still writing the header.
pub const STATE_INITIALISING: u32 = 0;
/// Header `state`: the segment is complete and may be used.
pub const STATE_READY: u32 = 1;

/// Header fields: offsets in bytes from the start of the segment.
pub mod hdr {
    /// u64: [`super::MAGIC`].
    pub const MAGIC: usize = 0;
    /// u32: [`super::LAYOUT_VERSION`].
    pub const VERSION: usize = 8;
    /// u32 atomic: `STATE_INITIALISING`, then `STATE_READY` (release).
    pub const STATE: usize = 12;
    /// u64: payload capacity of one slot in bytes.
    pub const SLOT_SIZE: usize = 16;
    /// u32: number of slots.
    pub const SLOT_COUNT: usize = 24;
    /// u32: number of reader entries.
    pub const MAX_READERS: usize = 28;
    /// u32: 0 = latest, 1 = queue.
    pub const POLICY: usize = 32;
    /// u32: what a slot carries: 0 = bytes or an image, 1 = messages of the
    /// type named at [`TYPE_NAME`] (see `payload::PayloadType`).
    pub const KIND: usize = 36;
    /// u64: bytes from one slot's payload to the next (page multiple).
    pub const SLOT_STRIDE: usize = 40;
    /// u64: offset of the slot metadata array.
    pub const META_OFFSET: usize = 48;
    /// u64: offset of the reader table.
    pub const READERS_OFFSET: usize = 56;
    /// u64: offset of slot 0's payload (page-aligned).
    pub const PAYLOAD_OFFSET: usize = 64;
    /// u64: total segment size.
    pub const TOTAL_SIZE: usize = 72;
    /// u32: pid of the creating process (the supervisor).
    pub const CREATOR_PID: usize = 80;
    /// u32: page size the layout was computed with.
    pub const PAGE_SIZE: usize = 84;
    /// u64: start time of the creator (see `sys::proc::ProcId`).
    pub const CREATOR_START: usize = 88;
    /// u64: creation time, `CLOCK_REALTIME` ns.
    pub const CREATED_NS: usize = 96;
    /// u64: offset of the order ring.
    pub const ORDER_OFFSET: usize = 104;
    // 112..128 reserved (zero).
    /// u64 atomic: sequence number of the newest committed frame (0 = none).
    /// SYNC: stored with release after the slot is complete; loaded with acquire.
    pub const COMMITTED: usize = 128;
    /// u32 atomic: 1 while the writer sleeps on the space semaphore; written
    /// only by the writer (readers and sweepers only read it, then post).
    pub const WRITER_WAITING: usize = 136;
    /// u32 atomic: pid of the attached writer (0 = none), in its own pid
    /// namespace; stored with release after `WRITER_START` and
    /// `WRITER_PIDNS`. Informational: the writer's liveness is its lock on
    /// byte [`super::WRITER_LOCK`].
    pub const WRITER_PID: usize = 140;
    /// u64 atomic: start time of the attached writer (clock ticks since boot).
    pub const WRITER_START: usize = 144;
    /// u64 atomic: frames committed since creation.
    pub const FRAMES_WRITTEN: usize = 152;
    /// u64 atomic: `CLOCK_MONOTONIC` ns of the last commit.
    pub const LAST_COMMIT_NS: usize = 160;
    /// u64 atomic: times the writer gave up waiting for space (queue policy).
    pub const WRITER_TIMEOUTS: usize = 168;
    /// u64 atomic: writer attachments (1 + restarts).
    pub const WRITER_ATTACHES: usize = 176;
    /// u64 atomic: pid namespace of the attached writer (inode number of its
    /// `/proc/self/ns/pid`).
    pub const WRITER_PIDNS: usize = 184;
    /// sem_t (32 bytes): the writer sleeps here for space (queue policy).
    pub const SPACE_SEM: usize = 192;
    /// 64 bytes: the wire's name, NUL-padded UTF-8, for `framewire status`.
    pub const NAME: usize = 224;
    /// Length of the name field.
    pub const NAME_LEN: usize = 64;
    // 288..320 reserved (zero).
    /// 32 bytes: the message type's name, NUL-padded ASCII (all zero for bytes).
    pub const TYPE_NAME: usize = 320;
    /// Length of the type name field.
    pub const TYPE_NAME_LEN: usize = 32;
    /// u32: encoded size of one message (0 for bytes).
    pub const MSG_SIZE: usize = 352;
    // 356..384 reserved (zero).
}
/// Size of the header; the slot metadata follows.
pub const HEADER_SIZE: usize = 384;
/// The byte whose open-file-description lock the writer holds while attached
/// (the first byte of `WRITER_PID`).
pub const WRITER_LOCK: usize = hdr::WRITER_PID;
const _: () = assert!(hdr::SPACE_SEM + framewire_sys::shm::SEM_BYTES <= hdr::NAME);
const _: () = assert!(hdr::NAME + hdr::NAME_LEN <= hdr::TYPE_NAME);
const _: () = assert!(hdr::TYPE_NAME_LEN == crate::payload::MAX_TYPE_NAME + 1);
const _: () = assert!(hdr::MSG_SIZE + 4 <= HEADER_SIZE);

/// Slot metadata fields: offsets within one `META_SIZE` record.
pub mod meta {
    /// u64 atomic: 0 = empty, `LOANED` = being written, else the committed
    /// sequence number. SYNC: release on commit, acquire on read.
    pub const SEQ: usize = 0;
    /// u64: capture time of the source frame, `CLOCK_MONOTONIC` ns.
    pub const TIMESTAMP_NS: usize = 8;
    /// u64: commit time, `CLOCK_MONOTONIC` ns.
    pub const COMMIT_NS: usize = 16;
    /// u64: valid payload bytes.
    pub const LEN: usize = 24;
    /// u32: image width (0 for messages).
    pub const WIDTH: usize = 32;
    /// u32: image height.
    pub const HEIGHT: usize = 36;
    /// u32: bytes per row.
    pub const STRIDE: usize = 40;
    /// u32: pixel format FourCC.
    pub const FOURCC: usize = 44;
    /// u64: sequence number of the source frame (e.g. the camera's), carried
    /// through filters so a detection names the frame it came from.
    pub const SOURCE_SEQ: usize = 48;
    /// u32: flags (bit 0: the source skipped frames before this one).
    pub const FLAGS: usize = 56;
}
/// Size of one slot's metadata record.
pub const META_SIZE: usize = 64;
/// Slot `seq` value while the writer owns the slot.
pub const LOANED: u64 = u64::MAX;

/// Reader entry fields: offsets within one `READER_SIZE` record. The
/// entry's first byte is its lock: the reader that owns the entry holds an
/// open-file-description lock on it for as long as it is attached.
pub mod rdr {
    /// u32 atomic: `R_FREE`, `R_CLAIMING` or `R_ACTIVE`; changed only by the
    /// holder of the entry's lock.
    pub const STATE: usize = 0;
    /// u32: pid of the reader, in its own pid namespace (informational).
    pub const PID: usize = 4;
    /// u64: start time of the reader (informational).
    pub const START: usize = 8;
    /// u64 atomic: the next sequence number this reader wants.
    pub const CURSOR: usize = 16;
    /// u32 atomic: slot the reader holds a guard on (`NO_SLOT` = none).
    pub const HELD: usize = 24;
    /// u32 atomic: 1 while the reader sleeps on its semaphore; written only by
    /// the entry's owner (the writer only reads it, then posts).
    pub const WAITING: usize = 28;
    /// u64 atomic: frames this reader has read.
    pub const FRAMES_READ: usize = 32;
    /// u64 atomic: frames this reader skipped (latest policy) or lost.
    pub const FRAMES_SKIPPED: usize = 40;
    /// u64 atomic: `CLOCK_MONOTONIC` ns of the last read.
    pub const LAST_READ_NS: usize = 48;
    /// u64 atomic: sum of handoff latencies (commit to guard) in ns, for status.
    pub const LATENCY_SUM_NS: usize = 56;
    /// sem_t (32 bytes): the reader sleeps here for data.
    pub const SEM: usize = 64;
    /// u64: pid namespace of the reader (inode of its `/proc/self/ns/pid`).
    pub const PIDNS: usize = 96;
    // 104..128 reserved (zero).
}
/// Size of one reader entry.
pub const READER_SIZE: usize = 128;
const _: () = assert!(rdr::SEM + framewire_sys::shm::SEM_BYTES <= READER_SIZE);
const _: () = assert!(rdr::PIDNS + 8 <= READER_SIZE);
/// Reader entry state: unused.
pub const R_FREE: u32 = 0;
/// Being set up by the reader that holds the entry's lock; the writer does
/// not count its cursor yet.
pub const R_CLAIMING: u32 = 1;
/// In use: the writer keeps every frame from `CURSOR` on (queue policy).
pub const R_ACTIVE: u32 = 2;
/// `HELD` value when no slot is held.
pub const NO_SLOT: u32 = u32::MAX;

/// Offsets of every region for a given geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Payload capacity of one slot.
    pub slot_size: u64,
    /// Number of slots.
    pub slot_count: u32,
    /// Number of reader entries.
    pub max_readers: u32,
    /// Page size used for alignment.
    pub page_size: u64,
    /// Offset of the slot metadata array.
    pub meta_offset: u64,
    /// Offset of the order ring.
    pub order_offset: u64,
    /// Offset of the reader table.
    pub readers_offset: u64,
    /// Offset of slot 0's payload.
    pub payload_offset: u64,
    /// Distance between payloads.
    pub slot_stride: u64,
    /// Total bytes.
    pub total_size: u64,
}

/// Most reader entries a wire may have.
pub const MAX_READERS: u32 = 1024;
/// Most slots a wire may have.
pub const MAX_SLOTS: u32 = 65_536;
/// Largest page size a layout may be computed with (1 GiB huge pages).
pub const MAX_PAGE_SIZE: u64 = 1 << 30;

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_next_multiple_of(to)
}

impl Geometry {
    /// Computes the layout for `slot_count` slots of `slot_size` bytes and
    /// `max_readers` readers, aligned to `page_size` (a power of two). `None`
    /// if the page size is not a power of two or an offset would overflow a
    /// u64 or this machine's address space.
    pub fn new(slot_size: u64, slot_count: u32, max_readers: u32, page_size: u64) -> Option<Geometry> {
        if !page_size.is_power_of_two() || page_size > MAX_PAGE_SIZE {
            return None;
        }
        let meta_offset = HEADER_SIZE as u64;
        let order_offset = meta_offset.checked_add(u64::from(slot_count).checked_mul(META_SIZE as u64)?)?;
        let readers_offset = round_up(order_offset.checked_add(4 * u64::from(slot_count))?, 64)?;
        let readers_end = readers_offset.checked_add(u64::from(max_readers).checked_mul(READER_SIZE as u64)?)?;
        let payload_offset = round_up(readers_end, page_size)?;
        let slot_stride = round_up(slot_size.max(1), page_size)?;
        let total_size = payload_offset.checked_add(slot_stride.checked_mul(u64::from(slot_count))?)?;
        // Every offset is used as a usize, so the whole segment must be
        // addressable here (this matters on 32-bit targets).
        usize::try_from(total_size).ok()?;
        Some(Geometry {
            slot_size,
            slot_count,
            max_readers,
            page_size,
            meta_offset,
            order_offset,
            readers_offset,
            payload_offset,
            slot_stride,
            total_size,
        })
    }

    /// Offset of slot `i`'s metadata record.
    pub fn meta(&self, i: u32) -> usize {
        (self.meta_offset + i as u64 * META_SIZE as u64) as usize
    }
    /// Offset of order-ring entry for `seq`.
    pub fn order(&self, seq: u64) -> usize {
        (self.order_offset + 4 * (seq % self.slot_count as u64)) as usize
    }
    /// Offset of reader entry `r`.
    pub fn reader(&self, r: u32) -> usize {
        (self.readers_offset + r as u64 * READER_SIZE as u64) as usize
    }
    /// Offset of the byte whose lock reader entry `r`'s owner holds.
    pub fn reader_lock(&self, r: u32) -> usize {
        self.reader(r) + rdr::STATE
    }
    /// Offset of slot `i`'s payload.
    pub fn payload(&self, i: u32) -> usize {
        (self.payload_offset + i as u64 * self.slot_stride) as usize
    }
}

/// Why a segment's header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic,
    /// Another layout version.
    Version(u32),
    /// A field holds a value no framewire writes.
    Field {
        /// The field's name, as in `src/wire/README.md`.
        field: &'static str,
        /// The value found.
        value: u64,
        /// What it must be.
        expected: String,
    },
}

/// The constant part of a header, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The layout.
    pub geo: Geometry,
    /// Raw policy (0 latest, 1 queue).
    pub policy: u32,
    /// Raw payload kind.
    pub kind: u32,
}

impl Header {
    /// Reads and checks every constant header field of a segment of
    /// `file_size` bytes, through `u32_at` and `u64_at` (reads at header
    /// offsets). All arithmetic is checked, so no header, however damaged,
    /// can make a caller divide by zero, overflow or index out of bounds.
    /// Whether `policy` and `kind` name known values is the caller's check.
    pub fn parse(
        u32_at: impl Fn(usize) -> u32,
        u64_at: impl Fn(usize) -> u64,
        file_size: u64,
    ) -> Result<Header, HeaderError> {
        if u64_at(hdr::MAGIC) != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = u32_at(hdr::VERSION);
        if version != LAYOUT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let bad = |field: &'static str, value: u64, expected: String| HeaderError::Field { field, value, expected };
        let slot_size = u64_at(hdr::SLOT_SIZE);
        if slot_size == 0 || slot_size > file_size {
            return Err(bad("slot size", slot_size, format!("1 to {file_size} (the file's size)")));
        }
        let slot_count = u32_at(hdr::SLOT_COUNT);
        if slot_count == 0 || slot_count > MAX_SLOTS {
            return Err(bad("slot count", slot_count.into(), format!("1 to {MAX_SLOTS}")));
        }
        let max_readers = u32_at(hdr::MAX_READERS);
        if max_readers == 0 || max_readers > MAX_READERS {
            return Err(bad("reader entries", max_readers.into(), format!("1 to {MAX_READERS}")));
        }
        let policy = u32_at(hdr::POLICY);
        let min_slots = match policy {
            0 => max_readers + 2,
            1 => 2,
            p => return Err(bad("policy", p.into(), "0 (latest) or 1 (queue)".into())),
        };
        if slot_count < min_slots {
            return Err(bad("slot count", slot_count.into(), format!("at least {min_slots} for this policy")));
        }
        let page_size = u64::from(u32_at(hdr::PAGE_SIZE));
        if !page_size.is_power_of_two() || page_size > MAX_PAGE_SIZE {
            return Err(bad("page size", page_size, format!("a power of two up to {MAX_PAGE_SIZE}")));
        }
        let geo = Geometry::new(slot_size, slot_count, max_readers, page_size)
            .ok_or_else(|| bad("slot size", slot_size, "a layout that fits in memory".into()))?;
        let stored = [
            ("slot stride", hdr::SLOT_STRIDE, geo.slot_stride),
            ("offset of slot metadata", hdr::META_OFFSET, geo.meta_offset),
            ("offset of the order ring", hdr::ORDER_OFFSET, geo.order_offset),
            ("offset of reader table", hdr::READERS_OFFSET, geo.readers_offset),
            ("offset of slot 0's payload", hdr::PAYLOAD_OFFSET, geo.payload_offset),
            ("total size", hdr::TOTAL_SIZE, geo.total_size),
        ];
        for (field, off, want) in stored {
            let v = u64_at(off);
            if v != want {
                return Err(bad(field, v, format!("{want} (computed from slot size, slot count, readers, page size)")));
            }
        }
        if geo.total_size > file_size {
            return Err(bad("total size", geo.total_size, format!("at most {file_size} (the file's size)")));
        }
        Ok(Header { geo, policy, kind: u32_at(hdr::KIND) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_page_aligned() {
        let g = Geometry::new(6_220_800, 4, 8, 4096).unwrap();
        for i in 0..4 {
            assert_eq!(g.payload(i) % 4096, 0);
        }
        assert_eq!(g.slot_stride, 6_221_824);
        assert_eq!(g.total_size, g.payload_offset + 4 * 6_221_824);
        assert!(g.readers_offset >= g.order_offset + 16);
    }

    #[test]
    fn geometry_refuses_what_would_overflow() {
        assert_eq!(Geometry::new(64, 4, 2, 0), None);
        assert_eq!(Geometry::new(64, 4, 2, 3000), None);
        assert_eq!(Geometry::new(u64::MAX - 10, 4, 2, 4096), None);
        assert_eq!(Geometry::new(1 << 62, 4, 2, 4096), None);
        assert!(Geometry::new(64, u32::MAX, 1024, 4096).is_some_and(|g| g.total_size > 1 << 40));
    }

    #[test]
    fn magic_spells_framewir() {
        assert_eq!(MAGIC.to_le_bytes(), *b"FRAMEWIR");
    }
}
