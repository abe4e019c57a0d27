#!/usr/bin/env python3
"""A robot's camera and drive commands over Zenoh, from Python.

Subscribes to the frames a framewire `zenoh_out` block publishes, reads the
framewire frame header in front of each, and publishes drive commands that a
`zenoh_in` block (output = "drive") writes into the robot's pipeline:

    pip install eclipse-zenoh==1.10.2
    python3 blocks/python/zenoh_pilot.py --robot robot1 [--connect tcp/192.168.1.20:7447]

Key expressions (src/bridge/README.md, "Across machines"):
    framewire/<robot>/camera   frames: 112-byte header + pixels (or a JPEG)
    framewire/<robot>/drive    drive commands: header + 8 bytes (f32 linear m/s, f32 angular rad/s)

The pilot here is deliberately simple: it steers towards the brightest
column of the frame's luma (YUYV/GREY) or green channel (RGB24), slowly.
It prints one line per frame it used.
"""

import argparse
import os
import struct
import sys
import time

import zenoh

# The frame header (src/bridge/header.rs): little-endian, 112 bytes.
HEADER = struct.Struct("<4sHBBQQQQQIII4sIIII32s")
assert HEADER.size == 112
RAW, JPEG, MESSAGE = 0, 1, 2
SENDER = int.from_bytes(os.urandom(8), "little")


def parse(payload: bytes):
    """Splits a payload into (header fields, frame bytes); raises ValueError."""
    if len(payload) < HEADER.size:
        raise ValueError(f"{len(payload)} bytes is shorter than a frame header")
    (magic, hlen, version, encoding, seq, source_seq, timestamp_ns, send_ns, sender,
     width, height, stride, fourcc, length, flags, msg_size, _reserved, type_name) = HEADER.unpack_from(payload)
    if magic != b"FWZ1" or version != 1:
        raise ValueError(f"not a framewire frame (magic {magic!r}, version {version})")
    data = payload[hlen:]
    if len(data) != length:
        raise ValueError(f"header says {length} bytes, {len(data)} arrived")
    return dict(encoding=encoding, seq=seq, source_seq=source_seq, timestamp_ns=timestamp_ns,
                width=width, height=height, stride=stride, fourcc=fourcc.decode("ascii", "replace"),
                type_name=type_name.rstrip(b"\0").decode()), data


def drive_payload(seq: int, linear: float, angular: float) -> bytes:
    """A `drive` message (framewire's DriveCommand) behind a frame header."""
    now = time.monotonic_ns()  # CLOCK_MONOTONIC, as framewire stamps frames
    body = struct.pack("<ff", linear, angular)
    head = HEADER.pack(b"FWZ1", HEADER.size, 1, MESSAGE, seq, seq, now, now, SENDER,
                       0, 0, 0, b"\0\0\0\0", len(body), 0, len(body), 0, b"drive")
    return head + body


def brightest_column(h, data: bytes) -> float:
    """Where the frame is brightest, from -1 (left) to 1 (right), sampling rows."""
    w, stride, fourcc = h["width"], h["stride"], h["fourcc"]
    step, offset = {"YUYV": (2, 0), "UYVY": (2, 1), "GREY": (1, 0), "RGB3": (3, 1), "BGR3": (3, 1)}.get(fourcc, (0, 0))
    if step == 0 or w == 0:
        return 0.0
    sums = [0] * w
    for row in range(0, h["height"], max(1, h["height"] // 16)):
        line = data[row * stride:row * stride + w * step]
        for x in range(0, w, 4):
            sums[x] += line[x * step + offset]
    best = max(range(w), key=lambda x: sums[x])
    return 2.0 * best / max(1, w - 1) - 1.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="robot1", help="the robot's name in the keys (framewire/<robot>/...)")
    ap.add_argument("--connect", action="append", default=[], help="endpoint to connect to, e.g. tcp/192.168.1.20:7447")
    ap.add_argument("--listen", action="append", default=[], help="endpoint to listen on")
    ap.add_argument("--no-multicast", action="store_true", help="turn multicast scouting off")
    ap.add_argument("--frames", type=int, default=0, help="stop after this many frames (0 = run until Ctrl-C)")
    ap.add_argument("--timeout", type=float, default=0, help="give up after this many seconds without frames (0 = never)")
    args = ap.parse_args()

    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    # No shared-memory transport: framewire's bridge does not use it (its
    # wires already are shared memory), and the Python library's segment is
    # left behind in /dev/shm when the script is killed.
    conf.insert_json5("transport/shared_memory/enabled", "false")
    if args.no_multicast:
        conf.insert_json5("scouting/multicast/enabled", "false")
    if args.connect:
        conf.insert_json5("connect/endpoints", str(args.connect).replace("'", '"'))
        conf.insert_json5("connect/timeout_ms", "1000")
        conf.insert_json5("connect/exit_on_failure", "false")
    if args.listen:
        conf.insert_json5("listen/endpoints", str(args.listen).replace("'", '"'))

    with zenoh.open(conf) as session:
        frames = session.declare_subscriber(f"framewire/{args.robot}/camera", zenoh.handlers.RingChannel(1))
        drive = session.declare_publisher(f"framewire/{args.robot}/drive",
                                          congestion_control=zenoh.CongestionControl.DROP, express=True)
        got, last = 0, time.monotonic()
        while args.frames == 0 or got < args.frames:
            sample = frames.try_recv()
            if sample is None:
                if args.timeout and time.monotonic() - last > args.timeout:
                    print(f"no frame for {args.timeout} s", file=sys.stderr)
                    return 1
                time.sleep(0.002)
                continue
            last = time.monotonic()
            try:
                h, data = parse(sample.payload.to_bytes())
            except ValueError as e:
                print(f"refused a sample: {e}", file=sys.stderr)
                continue
            got += 1
            age_ms = (time.monotonic_ns() - h["timestamp_ns"]) / 1e6
            target = brightest_column(h, data) if h["encoding"] == RAW else 0.0
            angular = -1.0 * target  # brightest on the right: turn right (negative)
            drive.put(drive_payload(got, 0.1, angular))
            print(f"frame seq={h['seq']} source_seq={h['source_seq']} {h['width']}x{h['height']} {h['fourcc']} "
                  f"{len(data)} bytes age_ms={age_ms:.1f} -> drive 0.10 {angular:+.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
