"""Read a framewire wire from Python, using only the layout in the README.

A minimal, dependency-free reader for `exec` blocks and tools. It copies
each frame (a seqlock read: read the slot's sequence number, copy, read it
again; the copy is whole if both agree), so it needs no atomics and never
registers as a reader: the writer owes it nothing. For zero-copy reading
with pins, use the Rust API or implement the pin protocol with atomics.
"""

import mmap
import os
import struct
import time

MAGIC = b"FRAMEWIR"
LAYOUT_VERSION = 2
LOANED = (1 << 64) - 1


class WireError(Exception):
    pass


class Wire:
    """A mapped wire segment, opened read-only."""

    def __init__(self, name):
        self.name = name
        fd = os.open("/dev/shm/" + name, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            self.m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        if self.m[0:8] != MAGIC:
            raise WireError(f"{name} is not a framewire wire (bad magic)")
        (version,) = struct.unpack_from("<I", self.m, 8)
        if version != LAYOUT_VERSION:
            raise WireError(f"{name} has layout version {version}, this reader speaks {LAYOUT_VERSION}")
        deadline = time.monotonic() + 2
        while struct.unpack_from("<I", self.m, 12)[0] != 1:
            if time.monotonic() > deadline:
                raise WireError(f"{name} is still initialising")
            time.sleep(0.001)
        (self.slot_size,) = struct.unpack_from("<Q", self.m, 16)
        self.slots, self.max_readers, self.policy, self.kind = struct.unpack_from("<IIII", self.m, 24)
        (self.meta_off, self.readers_off, self.payload_off) = struct.unpack_from("<QQQ", self.m, 48)
        (self.stride,) = struct.unpack_from("<Q", self.m, 40)
        (self.order_off,) = struct.unpack_from("<Q", self.m, 104)
        # Message wires name their type (e.g. "drive") and its size.
        self.type_name = self.m[320:352].split(b"\0")[0].decode("ascii") if self.kind == 1 else "bytes"
        (self.msg_size,) = struct.unpack_from("<I", self.m, 352)

    def committed(self):
        return struct.unpack_from("<Q", self.m, 128)[0]

    def read_latest(self, newer_than=0):
        """The newest frame as (meta dict, bytes), or None if none is newer
        than `newer_than`. Retries while the writer overtakes the copy."""
        for _ in range(100):
            s = self.committed()
            if s == 0 or s <= newer_than:
                return None
            (slot,) = struct.unpack_from("<I", self.m, self.order_off + 4 * (s % self.slots))
            meta = self.meta_off + 64 * slot
            if struct.unpack_from("<Q", self.m, meta)[0] != s:
                continue
            ts, commit_ns, length, w, h, stride, fourcc, source_seq = struct.unpack_from("<QQQIIIIQ", self.m, meta + 8)
            start = self.payload_off + slot * self.stride
            data = self.m[start:start + min(length, self.slot_size)]
            if struct.unpack_from("<Q", self.m, meta)[0] != s:
                continue  # overwritten while copying: try the newer frame
            return (
                dict(seq=s, timestamp_ns=ts, commit_ns=commit_ns, len=length, width=w, height=h,
                     stride=stride, fourcc=struct.pack("<I", fourcc).decode("latin-1"), source_seq=source_seq),
                data,
            )
        return None
