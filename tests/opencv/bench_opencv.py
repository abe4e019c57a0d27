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
    """Every operation of framewire's benchmark, each writing into output
    arrays allocated here once (`dst=`), as a real processing loop does:
    a fresh output per call would cost OpenCV a page fault per 4 KiB
    written (2,000 per 1080p RGB frame). `cv2.imdecode` has no `dst=` in
    Python; the benchmark starts this helper with glibc's mmap threshold
    raised, so its output buffer is recycled from the heap instead (what
    C++ `cv::imdecode(buf, flags, &dst)` does)."""
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
    cx, cy, cw, ch = w // 4, h // 4, w // 2, h // 2
    o3 = np.empty((h, w, 3), np.uint8)
    o3b = np.empty((h, w, 3), np.uint8)
    o1 = np.empty((h, w), np.uint8)
    o1b = np.empty((h, w), np.uint8)
    labels = np.empty((h, w), np.int32)
    t = {}

    def conv(name, src, code, out):
        t[name] = lambda: cv2.cvtColor(src, code, dst=out)

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    conv("yuyv_to_rgb", yuyv, cv2.COLOR_YUV2RGB_YUYV, o3)
    conv("yuyv_to_bgr", yuyv, cv2.COLOR_YUV2BGR_YUYV, o3)
    conv("yuyv_to_gray", yuyv, cv2.COLOR_YUV2GRAY_YUYV, o1)
    conv("uyvy_to_rgb", yuyv, cv2.COLOR_YUV2RGB_UYVY, o3)
    conv("uyvy_to_bgr", yuyv, cv2.COLOR_YUV2BGR_UYVY, o3)
    conv("uyvy_to_gray", yuyv, cv2.COLOR_YUV2GRAY_UYVY, o1)
    conv("nv12_to_rgb", nv12, cv2.COLOR_YUV2RGB_NV12, o3)
    conv("nv12_to_bgr", nv12, cv2.COLOR_YUV2BGR_NV12, o3)
    conv("rgb_to_bgr", rgb, cv2.COLOR_RGB2BGR, o3)
    conv("bgr_to_rgb", bgr, cv2.COLOR_BGR2RGB, o3)
    conv("rgb_to_gray", rgb, cv2.COLOR_RGB2GRAY, o1)
    conv("bgr_to_gray", bgr, cv2.COLOR_BGR2GRAY, o1)
    t["jpeg_to_rgb"] = lambda: cv2.imdecode(enc, imread_rgb)
    t["jpeg_to_gray"] = lambda: cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    for name, img in [("rgb", rgb), ("gray", gray)]:
        for tag, (dw, dh), interp in [
            ("area_half", (w // 2, h // 2), cv2.INTER_AREA),
            ("area_3q", (w * 3 // 4, h * 3 // 4), cv2.INTER_AREA),
            ("area_2x", (w * 2, h * 2), cv2.INTER_AREA),
            ("bilinear_half", (w // 2, h // 2), cv2.INTER_LINEAR),
            ("bilinear_3q", (w * 3 // 4, h * 3 // 4), cv2.INTER_LINEAR),
            ("bilinear_2x", (w * 2, h * 2), cv2.INTER_LINEAR),
        ]:
            out = np.empty((dh, dw) + img.shape[2:], np.uint8)
            t[f"resize_{tag}_{name}"] = lambda img=img, dw=dw, dh=dh, interp=interp, out=out: cv2.resize(
                img, (dw, dh), dst=out, interpolation=interp
            )
    crop3 = np.empty((ch, cw, 3), np.uint8)
    crop2 = np.empty((ch, cw, 2), np.uint8)
    t["crop_center_rgb"] = lambda: np.copyto(crop3, rgb[cy : cy + ch, cx : cx + cw])
    t["crop_center_yuyv"] = lambda: np.copyto(crop2, yuyv[cy : cy + ch, cx : cx + cw])
    for name, img, out in [("rgb", rgb, o3), ("gray", gray, o1)]:
        for tag, code in [("flip_h", 1), ("flip_v", 0), ("rotate180", -1)]:
            t[f"{tag}_{name}"] = lambda img=img, code=code, out=out: cv2.flip(img, code, dst=out)
        for k in (3, 5):
            t[f"blur{k}_{name}"] = lambda img=img, k=k, out=out: cv2.GaussianBlur(img, (k, k), 0, dst=out)
    hsv = np.empty((h, w, 3), np.uint8)
    t["hsv_threshold_rgb"] = lambda: cv2.inRange(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV, dst=hsv), GREEN_LO, GREEN_HI, dst=o1)
    t["hsv_threshold_bgr"] = lambda: cv2.inRange(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV, dst=hsv), GREEN_LO, GREEN_HI, dst=o1)
    morph = {"erode": cv2.MORPH_ERODE, "dilate": cv2.MORPH_DILATE, "open": cv2.MORPH_OPEN, "close": cv2.MORPH_CLOSE}
    for k in range(3, 32, 2):
        el = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        for name, code in morph.items():
            t[f"morph_{name}{k}"] = lambda code=code, el=el: cv2.morphologyEx(mask, code, el, dst=o1)

    def blobs():
        # OpenCV labels every component and writes a label image and the
        # stats of each; framewire's detector keeps the largest only.
        n, _, stats, cents = cv2.connectedComponentsWithStats(mask, labels=labels, connectivity=8)
        if n > 1:
            i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            return stats[i], cents[i]

    t["blobs_largest"] = blobs
    # OpenCV computes all 24 moments; framewire m00, m10, m01 and the box.
    t["moments"] = lambda: cv2.moments(mask, binaryImage=True)

    def chain(src, code):
        def run():
            c = cv2.cvtColor(src, code, dst=o3b) if code is not None else src
            h_ = cv2.cvtColor(c, cv2.COLOR_BGR2HSV if code is not None else cv2.COLOR_RGB2HSV, dst=hsv)
            m = cv2.inRange(h_, GREEN_LO, GREEN_HI, dst=o1b)
            return cv2.moments(m, binaryImage=True)

        return run

    uyvy = yuyv  # the same bytes read as UYVY, as framewire's benchmark does
    t["tracker_yuyv"] = chain(yuyv, cv2.COLOR_YUV2BGR_YUYV)
    t["tracker_uyvy"] = chain(uyvy, cv2.COLOR_YUV2BGR_UYVY)
    t["tracker_rgb"] = chain(rgb, None)
    t["tracker_bgr"] = lambda: cv2.moments(
        cv2.inRange(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV, dst=hsv), GREEN_LO, GREEN_HI, dst=o1b), binaryImage=True
    )
    return t


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
    print(f"CPU\t{cv2.getCPUFeaturesLine()}", flush=True)
    # Intel IPP (bundled in opencv-python) does flip, some resizes and
    # filters, and picks its own instruction set: OPENCV_CPU_DISABLE does not
    # reach it, OPENCV_IPP=avx2 (or sse42, or disabled) does.
    ipp = cv2.ipp.getIppVersion() if cv2.ipp.useIPP() else "off"
    print(f"IPP\t{ipp}", flush=True)
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
