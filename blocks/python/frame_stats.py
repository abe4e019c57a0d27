"""Example `exec` block in Python: reads the frames of its `input` wire and
prints what it sees. Wire it in a pipeline with

    [[block]]
    name = "py"
    type = "exec"
    command = ["python3", "blocks/python/frame_stats.py"]
    inputs = { input = "image" }
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from framewire_wire import Wire  # noqa: E402

stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

name = os.environ["FRAMEWIRE_WIRE_INPUT"]
limit = int(os.environ.get("FRAMES", "0"))
wire = Wire(name)
print(f"python reader on {name}: {wire.slots} slots of {wire.slot_size} bytes", flush=True)
last, n, bright = 0, 0, 0
while not stop and (limit == 0 or n < limit):
    got = wire.read_latest(newer_than=last)
    if got is None:
        time.sleep(0.001)
        continue
    meta, data = got
    last = meta["seq"]
    n += 1
    bright = max(data) if data else 0
    if n == 1:
        print(f"python first frame {meta['width']}x{meta['height']} {meta['fourcc']} stride {meta['stride']} "
              f"len {meta['len']} seq {meta['seq']}", flush=True)
print(f"python received {n} frames, last seq {last}, brightest sample {bright}", flush=True)
