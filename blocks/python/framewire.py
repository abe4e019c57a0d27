"""Read and write framewire wires from Python.

A writer follows the wire protocol: it loans a free slot (never one a reader
holds), fills it in place, and commits it, waking sleeping readers through
their semaphores. That needs sequentially consistent atomics and POSIX
semaphores, which Python does not have, so this module compiles the C
implementation in ../c/framewire.h into a small shared library the first
time it is used (with the system's C compiler, the one Rust links with),
caches it in ~/.cache/framewire, and calls it through ctypes.

    import framewire
    out = framewire.Writer.from_env("DRIVE")           # FRAMEWIRE_WIRE_DRIVE
    out.send(framewire.drive(0.2, 0.0))                # a DriveCommand message
    inp = framewire.Wire.from_env("DETECTIONS")        # FRAMEWIRE_WIRE_DETECTIONS
    got = inp.read_latest()                            # (meta, bytes) or None
    if got: det = framewire.detection(got[1])

Messages are little-endian structs at natural alignment; `framewire
messages` prints every type's layout, and src/wire/README.md documents the
built-in ones.
"""

import ctypes
import hashlib
import os
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "..", "c", "framewire.h")


class WireError(Exception):
    pass


class Meta(ctypes.Structure):
    """A frame's metadata (framewire.h's fw_meta)."""

    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("timestamp_ns", ctypes.c_uint64),
        ("commit_ns", ctypes.c_uint64),
        ("len", ctypes.c_uint64),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("stride", ctypes.c_uint32),
        ("fourcc", ctypes.c_uint32),
        ("source_seq", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
    ]


class _Wire(ctypes.Structure):
    _fields_ = [
        ("base", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("slot_size", ctypes.c_uint64),
        ("slot_stride", ctypes.c_uint64),
        ("meta_off", ctypes.c_uint64),
        ("order_off", ctypes.c_uint64),
        ("readers_off", ctypes.c_uint64),
        ("payload_off", ctypes.c_uint64),
        ("slots", ctypes.c_uint32),
        ("max_readers", ctypes.c_uint32),
        ("policy", ctypes.c_uint32),
        ("kind", ctypes.c_uint32),
        ("type_name", ctypes.c_char * 32),
        ("msg_size", ctypes.c_uint32),
        ("writer", ctypes.c_int),
        ("fd", ctypes.c_int),
        ("pid", ctypes.c_uint32),
        ("start", ctypes.c_uint64),
        ("error", ctypes.c_char_p),
    ]


_lib = None


def _library():
    """The compiled framewire.h, built once per header version."""
    global _lib
    if _lib is not None:
        return _lib
    with open(HEADER, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "framewire")
    so = os.path.join(cache, f"libframewire-{digest}.so")
    if not os.path.exists(so):
        os.makedirs(cache, exist_ok=True)
        cc = os.environ.get("CC", "cc")
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "framewire.c")
            with open(src, "w") as f:
                f.write('#define FRAMEWIRE_IMPLEMENTATION\n#include "%s"\n' % os.path.abspath(HEADER))
            tmp = os.path.join(d, "lib.so")
            r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, src, "-lpthread"], capture_output=True, text=True)
            if r.returncode != 0:
                raise WireError(f"cannot compile {HEADER} with {cc} (install gcc): {r.stderr.strip()}")
            os.replace(tmp, so)  # atomic: concurrent first uses are safe
    lib = ctypes.CDLL(so, use_errno=True)
    W = ctypes.POINTER(_Wire)
    for name, args, res in [
        ("fw_open", [W, ctypes.c_char_p], ctypes.c_int),
        ("fw_close", [W], None),
        ("fw_writer_attach", [W, ctypes.c_char_p], ctypes.c_int),
        ("fw_writer_detach", [W], None),
        ("fw_loan", [W, ctypes.c_int], ctypes.c_int),
        ("fw_slot", [W, ctypes.c_int], ctypes.c_void_p),
        ("fw_commit", [W, ctypes.c_int, ctypes.POINTER(Meta)], ctypes.c_uint64),
        ("fw_abandon", [W, ctypes.c_int], None),
        ("fw_read_latest", [W, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(Meta)], ctypes.c_long),
        ("fw_now_ns", [], ctypes.c_uint64),
    ]:
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    _lib = lib
    return lib


def now_ns():
    """CLOCK_MONOTONIC in nanoseconds: the clock frames are stamped with."""
    return time.monotonic_ns()


def _env(port):
    name = os.environ.get("FRAMEWIRE_WIRE_" + port.upper())
    if not name:
        raise WireError(f"FRAMEWIRE_WIRE_{port.upper()} is not set: declare the port in the exec block's inputs or outputs")
    return name


class Wire:
    """A wire opened for reading by copying (no registration)."""

    def __init__(self, name, _attach=False):
        self.name = name
        self._w = _Wire()
        self._lib = _library()
        fn = self._lib.fw_writer_attach if _attach else self._lib.fw_open
        if fn(ctypes.byref(self._w), name.encode()) != 0:
            err = self._w.error.decode() if self._w.error else "?"
            raise WireError(f"{name}: {err}: {os.strerror(ctypes.get_errno()) if ctypes.get_errno() else ''}".rstrip(": "))
        self.type_name = self._w.type_name.decode() or "bytes"
        self.msg_size = self._w.msg_size
        self.slot_size = self._w.slot_size
        self._buf = ctypes.create_string_buffer(self._w.slot_size)
        self.last_seq = 0

    @classmethod
    def from_env(cls, port):
        return cls(_env(port))

    def read_latest(self):
        """The newest frame not returned yet, as (Meta, bytes), or None."""
        m = Meta()
        n = self._lib.fw_read_latest(ctypes.byref(self._w), self.last_seq, self._buf, len(self._buf), ctypes.byref(m))
        if n < 0:
            return None
        self.last_seq = m.seq
        return m, self._buf.raw[:n]

    def wait_latest(self, timeout=1.0, poll=0.002):
        """Like read_latest, polling until a frame comes or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.read_latest()
            if got is not None or time.monotonic() >= deadline:
                return got
            time.sleep(poll)

    def close(self):
        self._lib.fw_close(ctypes.byref(self._w))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Writer(Wire):
    """The writer of a wire: loan a slot, fill it, commit."""

    def __init__(self, name):
        super().__init__(name, _attach=True)

    def loan(self, timeout=0.1):
        """A free slot as (slot, writable memoryview of slot_size bytes)."""
        s = self._lib.fw_loan(ctypes.byref(self._w), int(timeout * 1000))
        if s < 0:
            raise WireError(f"{self.name}: {self._w.error.decode() if self._w.error else 'no free slot'}")
        addr = self._lib.fw_slot(ctypes.byref(self._w), s)
        return s, memoryview((ctypes.c_char * self.slot_size).from_address(addr)).cast("B")

    def commit(self, slot, length, timestamp_ns=0, source_seq=0, width=0, height=0, stride=0, fourcc=0):
        """Publishes `slot` (its first `length` bytes); returns the sequence number."""
        m = Meta(len=length, timestamp_ns=timestamp_ns, source_seq=source_seq, width=width, height=height,
                 stride=stride, fourcc=fourcc)
        seq = self._lib.fw_commit(ctypes.byref(self._w), slot, ctypes.byref(m))
        if seq == 0:
            raise WireError(f"{self.name}: {self._w.error.decode() if self._w.error else 'commit failed'}")
        return seq

    def send(self, payload, timestamp_ns=0, source_seq=0):
        """Loans, copies `payload` in and commits: for messages."""
        if self.msg_size and len(payload) != self.msg_size:
            raise WireError(f"{self.name} carries {self.type_name} messages of {self.msg_size} bytes, not {len(payload)}")
        slot, view = self.loan()
        view[: len(payload)] = payload
        return self.commit(slot, len(payload), timestamp_ns, source_seq)

    def close(self):
        self._lib.fw_writer_detach(ctypes.byref(self._w))


# The built-in messages (layouts in src/wire/README.md, or `framewire messages`).

def drive(linear, angular):
    """A `drive` message: m/s forward, rad/s counter-clockwise."""
    return struct.pack("<ff", linear, angular)


def wheels(left, right):
    """A `wheels` message: rad/s of each wheel."""
    return struct.pack("<ff", left, right)


def detection(b):
    """Decodes a `detection` message into a dict."""
    found, area, cx, cy, x, y, w, h, iw, ih = struct.unpack_from("<B3xIffIIIIII", b)
    return dict(found=bool(found), area=area, cx=cx, cy=cy, bbox=(x, y, w, h), image_width=iw, image_height=ih)


def odometry(b):
    """Decodes an `odometry` message into a dict."""
    f = struct.unpack_from("<dddffqqfffI", b)
    keys = ["x", "y", "heading", "linear", "angular", "left_counts", "right_counts", "left_speed", "right_speed",
            "battery_v", "errors"]
    return dict(zip(keys, f))
