//! The byte layout of a wire segment, layout version 2.
//!
//! Everything is little-endian (the byte order of every platform framewire
//! runs on) and naturally aligned. A program in another language can map a
//! wire from these offsets alone; the README's "Wires" section restates them.
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
    /// u32 atomic: 1 while the writer sleeps on the space semaphore.
    pub const WRITER_WAITING: usize = 136;
    /// u32 atomic: pid of the attached writer (0 = none).
    pub const WRITER_PID: usize = 140;
    /// u64 atomic: start time of the attached writer.
    pub const WRITER_START: usize = 144;
    /// u64 atomic: frames committed since creation.
    pub const FRAMES_WRITTEN: usize = 152;
    /// u64 atomic: `CLOCK_MONOTONIC` ns of the last commit.
    pub const LAST_COMMIT_NS: usize = 160;
    /// u64 atomic: times the writer gave up waiting for space (queue policy).
    pub const WRITER_TIMEOUTS: usize = 168;
    /// u64 atomic: writer attachments (1 + restarts).
    pub const WRITER_ATTACHES: usize = 176;
    // 184..192 reserved.
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

/// Reader entry fields: offsets within one `READER_SIZE` record.
pub mod rdr {
    /// u32 atomic: `FREE`, `CLAIMING`, `ACTIVE` or `RECLAIMING`.
    pub const STATE: usize = 0;
    /// u32: pid of the reader.
    pub const PID: usize = 4;
    /// u64: start time of the reader.
    pub const START: usize = 8;
    /// u64 atomic: the next sequence number this reader wants.
    pub const CURSOR: usize = 16;
    /// u32 atomic: slot the reader holds a guard on (`NO_SLOT` = none).
    pub const HELD: usize = 24;
    /// u32 atomic: 1 while the reader sleeps on its semaphore.
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
}
/// Size of one reader entry.
pub const READER_SIZE: usize = 128;
const _: () = assert!(rdr::SEM + framewire_sys::shm::SEM_BYTES <= READER_SIZE);
/// Reader entry states.
pub const R_FREE: u32 = 0;
/// Being claimed by a new reader.
pub const R_CLAIMING: u32 = 1;
/// In use.
pub const R_ACTIVE: u32 = 2;
/// Being reclaimed after its process died.
pub const R_RECLAIMING: u32 = 3;
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

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

impl Geometry {
    /// Computes the layout for `slot_count` slots of `slot_size` bytes and
    /// `max_readers` readers.
    pub fn new(slot_size: u64, slot_count: u32, max_readers: u32, page_size: u64) -> Geometry {
        let meta_offset = HEADER_SIZE as u64;
        let order_offset = meta_offset + slot_count as u64 * META_SIZE as u64;
        let readers_offset = round_up(order_offset + 4 * slot_count as u64, 64);
        let payload_offset = round_up(readers_offset + max_readers as u64 * READER_SIZE as u64, page_size);
        let slot_stride = round_up(slot_size.max(1), page_size);
        Geometry {
            slot_size,
            slot_count,
            max_readers,
            page_size,
            meta_offset,
            order_offset,
            readers_offset,
            payload_offset,
            slot_stride,
            total_size: payload_offset + slot_stride * slot_count as u64,
        }
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
    /// Offset of slot `i`'s payload.
    pub fn payload(&self, i: u32) -> usize {
        (self.payload_offset + i as u64 * self.slot_stride) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_page_aligned() {
        let g = Geometry::new(6_220_800, 4, 8, 4096);
        for i in 0..4 {
            assert_eq!(g.payload(i) % 4096, 0);
        }
        assert_eq!(g.slot_stride, 6_221_824);
        assert_eq!(g.total_size, g.payload_offset + 4 * 6_221_824);
        assert!(g.readers_offset >= g.order_offset + 16);
    }

    #[test]
    fn magic_spells_framewir() {
        assert_eq!(MAGIC.to_le_bytes(), *b"FRAMEWIR");
    }
}
