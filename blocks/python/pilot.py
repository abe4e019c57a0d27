"""An exec block in Python that drives a robot: a Python controller.

Outputs `drive` commands on the wire named by FRAMEWIRE_WIRE_DRIVE. If the
block also has a `detections` input (FRAMEWIRE_WIRE_DETECTIONS), it steers
towards the detected blob (proportional on its horizontal offset) and stops
when there is none; without one it drives forward at PILOT_SPEED m/s for
PILOT_SECONDS, then stops. On SIGTERM (shutdown, or the supervisor dying)
it commands zero before it exits.

    [[block]]
    name = "pilot"
    type = "exec"
    command = ["python3", "blocks/python/pilot.py"]
    outputs = { drive = "drive" }
    inputs = { detections = "detection" }     # optional
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import framewire  # noqa: E402

stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

speed = float(os.environ.get("PILOT_SPEED", "0.2"))
seconds = float(os.environ.get("PILOT_SECONDS", "2.0"))
gain = float(os.environ.get("PILOT_GAIN", "1.5"))
rate = float(os.environ.get("PILOT_RATE_HZ", "20"))

out = framewire.Writer.from_env("DRIVE")
det = framewire.Wire.from_env("DETECTIONS") if os.environ.get("FRAMEWIRE_WIRE_DETECTIONS") else None
print(f"pilot: writing {out.type_name} messages to {out.name}", file=sys.stderr, flush=True)

start = time.monotonic()
sent = 0
while not stop:
    if det is not None:
        got = det.read_latest()
        if got is None:
            time.sleep(1 / rate)
            continue
        meta, payload = got
        d = framewire.detection(payload)
        if d["found"] and d["image_width"] > 0:
            offset = (d["cx"] - d["image_width"] / 2) / (d["image_width"] / 2)  # -1 (left) .. 1 (right)
            cmd = framewire.drive(speed, -gain * offset)
        else:
            cmd = framewire.drive(0.0, 0.0)
        # The detection's capture time travels on: glass-to-motor latency stays measurable.
        out.send(cmd, timestamp_ns=meta.timestamp_ns, source_seq=meta.source_seq or meta.seq)
    else:
        linear = speed if time.monotonic() - start < seconds else 0.0
        out.send(framewire.drive(linear, 0.0))
        time.sleep(1 / rate)
    sent += 1

out.send(framewire.drive(0.0, 0.0))
print(f"pilot: sent {sent} drive commands, then a stop", file=sys.stderr, flush=True)
out.close()
