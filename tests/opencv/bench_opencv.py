#!/usr/bin/env python3
"""OpenCV timings for framewire's filter benchmark (`cargo bench --bench bench_filters`).

Usage: bench_opencv.py DIR --sizes 640x480,1920x1080 [--min-time S] [--min-iters N]
                       [--only SUBSTR | --exact OP] [--prepare]

DIR holds the raw inputs written by framewire's benchmark
(`{rgb,yuyv,nv12,gray,mask}_{W}x{H}.raw`). This script also writes
`scene_{W}x{H}.jpg` (the RGB scene encoded by OpenCV, quality 90, 4:2:0) for
the JPEG-decode benchmark, then prints one line per operation:
    op<TAB>WxH<TAB>median ms
Single-threaded: cv2.setNumThreads(1). If cv2 cannot be imported it prints
a `SKIP:` line and exits 0. `--prepare` only writes the JPEGs and prints the
version. `--serve` writes the JPEGs, prints the version and `READY`, then
reads `OP WxH` lines on stdin and answers each with its timing line:
framewire's benchmark keeps one server running and asks for OP right after
timing its own version of it, so both sides see the same machine load
(no interpreter start-up between the two).
"""
import argparse
import os
import statistics
import sys
import time

# Single-threaded means no BLAS/OpenMP worker threads spinning beside us.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

try:
    import cv2
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: OpenCV not importable ({e}); pip install opencv-python-headless numpy")
    sys.exit(0)

GREEN_LO, GREEN_HI = np.array([35, 80, 40]), np.array([85, 255, 255])


def timeit(fn, min_time, min_iters):
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - start < min_time and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def ops(d, w, h):
    rd = lambda n, shape: np.fromfile(os.path.join(d, f"{n}_{w}x{h}.raw"), np.uint8).reshape(shape)
    rgb = rd("rgb", (h, w, 3))
    yuyv = rd("yuyv", (h, w, 2))
    nv12 = rd("nv12", (h * 3 // 2, w))
    gray = rd("gray", (h, w))
    mask = rd("mask", (h, w))
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    enc.tofile(os.path.join(d, f"scene_{w}x{h}.jpg"))
    imread_rgb = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)
    k3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    cx, cy, cw, ch = w // 4, h // 4, w // 2, h // 2

    def chain_yuyv():
        bgr = cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV)
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        m = cv2.inRange(hsv, GREEN_LO, GREEN_HI)
        return cv2.moments(m, binaryImage=True)

    def chain_rgb():
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        m = cv2.inRange(hsv, GREEN_LO, GREEN_HI)
        return cv2.moments(m, binaryImage=True)

    def blobs():
        n, _, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n > 1:
            i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            return stats[i], cents[i]

    return {
        "yuyv_to_rgb": lambda: cv2.cvtColor(yuyv, cv2.COLOR_YUV2RGB_YUYV),
        "yuyv_to_bgr": lambda: cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV),
        "yuyv_to_gray": lambda: cv2.cvtColor(yuyv, cv2.COLOR_YUV2GRAY_YUYV),
        "uyvy_to_rgb": lambda: cv2.cvtColor(yuyv, cv2.COLOR_YUV2RGB_UYVY),
        "nv12_to_rgb": lambda: cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12),
        "rgb_to_bgr": lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
        "rgb_to_gray": lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
        "jpeg_to_rgb": lambda: cv2.imdecode(enc, imread_rgb),
        "jpeg_to_gray": lambda: cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE),
        "resize_area_half_rgb": lambda: cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "resize_bilinear_3q_rgb": lambda: cv2.resize(rgb, (w * 3 // 4, h * 3 // 4), interpolation=cv2.INTER_LINEAR),
        "resize_bilinear_half_gray": lambda: cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR),
        "crop_center_rgb": lambda: rgb[cy : cy + ch, cx : cx + cw].copy(),
        "flip_h_rgb": lambda: cv2.flip(rgb, 1),
        "rotate180_rgb": lambda: cv2.flip(rgb, -1),
        "blur3_gray": lambda: cv2.GaussianBlur(gray, (3, 3), 0),
        "blur5_gray": lambda: cv2.GaussianBlur(gray, (5, 5), 0),
        "blur3_rgb": lambda: cv2.GaussianBlur(rgb, (3, 3), 0),
        "blur5_rgb": lambda: cv2.GaussianBlur(rgb, (5, 5), 0),
        "hsv_threshold_rgb": lambda: cv2.inRange(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), GREEN_LO, GREEN_HI),
        "morph_open3": lambda: cv2.morphologyEx(mask, cv2.MORPH_OPEN, k3),
        "morph_close3": lambda: cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k3),
        "blobs_largest": blobs,
        "moments": lambda: cv2.moments(mask, binaryImage=True),
        "tracker_yuyv": chain_yuyv,
        "tracker_rgb": chain_rgb,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--sizes", default="640x480,1920x1080")
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--min-iters", type=int, default=10)
    p.add_argument("--only", default="")
    p.add_argument("--exact", default="")
    p.add_argument("--prepare", action="store_true")
    p.add_argument("--serve", action="store_true")
    a = p.parse_args()
    cv2.setNumThreads(1)
    print(f"VERSION\t{cv2.__version__}", flush=True)
    if a.serve:
        tables = {}
        for s in a.sizes.split(","):
            w, h = (int(v) for v in s.split("x"))
            tables[s] = ops(a.dir, w, h)
        print("READY", flush=True)
        for line in sys.stdin:
            name, size = line.split()
            ms = timeit(tables[size][name], a.min_time, a.min_iters)
            print(f"{name}\t{size}\t{ms:.4f}", flush=True)
        return
    for s in a.sizes.split(","):
        w, h = (int(v) for v in s.split("x"))
        table = ops(a.dir, w, h)
        if a.prepare:
            continue
        for name, fn in table.items():
            if a.only and a.only not in name:
                continue
            if a.exact and a.exact != name:
                continue
            ms = timeit(fn, a.min_time, a.min_iters)
            print(f"{name}\t{w}x{h}\t{ms:.4f}", flush=True)


if __name__ == "__main__":
    main()
