#!/usr/bin/env python3
"""OpenCV references for framewire's edge cases: tiny images and rare JPEGs.

Run once (outputs are committed; `tests/filters_edges.rs` replays them):
    pip install opencv-python-headless==5.1.0.95 numpy
    apt-get install libjpeg-turbo-progs   # cjpeg, for the rare JPEG kinds
    python3 tests/opencv/make_edge_refs.py

Writes into `tests/data/filters/edge/` (and touches nothing else there):
- `blur_tiny_in.raw`: 8x8 RGB noise; `blur_tiny_out.raw`: for k in (3, 5),
  channels in (1, 3), h in 1..=8, w in 1..=8 (in that nesting order), the
  top-left w x h of the input (its first channel for GREY) blurred by
  `cv2.GaussianBlur(img, (k, k), 0)`, concatenated.
- `jpeg_tiny.bin` / `jpeg_tiny.lens`: for sampling in (420, 422), h in
  1..=9, w in 1..=9, a JPEG of that size (lengths, one per line);
  `jpeg_tiny_rgb.raw`, `jpeg_tiny_gray.raw`: OpenCV's decodes, concatenated.
- `resize_area_up_*.raw`: `INTER_AREA` when enlarging (3x2 -> 6x4 and
  17x13 -> 40x29, GREY and RGB) and shrinking one axis only.
- `scans.jpg` (`cjpeg -scans` with one scan per component), `arith.jpg`
  (`cjpeg -arithmetic`), `rgb.jpg` (`cjpeg -rgb`), each 48x32, with
  OpenCV's RGB and GREY decodes as `<name>_rgb.raw`, `<name>_gray.raw`.
"""
import os
import subprocess
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "filters", "edge")
rng = np.random.default_rng(20261205)
RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def save(name, arr):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())


def decode_rgb(buf):
    if RGB is not None:
        return cv2.imdecode(buf, RGB)
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def main():
    os.makedirs(OUT, exist_ok=True)
    cv2.setNumThreads(1)

    src = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    save("blur_tiny_in.raw", src)
    out = []
    for k in (3, 5):
        for c in (1, 3):
            for h in range(1, 9):
                for w in range(1, 9):
                    img = np.ascontiguousarray(src[:h, :w, 0] if c == 1 else src[:h, :w])
                    out.append(cv2.GaussianBlur(img, (k, k), 0).tobytes())
    with open(os.path.join(OUT, "blur_tiny_out.raw"), "wb") as f:
        f.write(b"".join(out))

    big = cv2.GaussianBlur(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (3, 3), 0)
    jpegs, rgbs, grays = [], [], []
    for sampling in (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422):
        for h in range(1, 10):
            for w in range(1, 10):
                bgr = np.ascontiguousarray(big[:h, :w])
                ok, enc = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling])
                assert ok
                jpegs.append(enc.tobytes())
                rgbs.append(decode_rgb(enc).tobytes())
                grays.append(cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE).tobytes())
    with open(os.path.join(OUT, "jpeg_tiny.bin"), "wb") as f:
        f.write(b"".join(jpegs))
    with open(os.path.join(OUT, "jpeg_tiny.lens"), "w") as f:
        f.write("".join(f"{len(j)}\n" for j in jpegs))
    with open(os.path.join(OUT, "jpeg_tiny_rgb.raw"), "wb") as f:
        f.write(b"".join(rgbs))
    with open(os.path.join(OUT, "jpeg_tiny_gray.raw"), "wb") as f:
        f.write(b"".join(grays))

    for (sw, sh), (dw, dh) in [((3, 2), (6, 4)), ((17, 13), (40, 29)), ((40, 29), (17, 58)), ((20, 10), (60, 7))]:
        img = rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8)
        save(f"resize_area_up_{sw}x{sh}_rgb.raw", img)
        save(f"resize_area_up_{sw}x{sh}_to_{dw}x{dh}_rgb.raw", cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA))
        g = np.ascontiguousarray(img[:, :, 1])
        save(f"resize_area_up_{sw}x{sh}_to_{dw}x{dh}_gray.raw", cv2.resize(g, (dw, dh), interpolation=cv2.INTER_AREA))

    scene = cv2.GaussianBlur(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8), (5, 5), 0)
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "in.ppm")
        cv2.imwrite(ppm, scene)
        scans = os.path.join(tmp, "scans.txt")
        with open(scans, "w") as f:
            f.write("0;\n1;\n2;\n")
        for name, args in [("scans", ["-scans", scans]), ("arith", ["-arithmetic"]), ("rgb", ["-rgb"])]:
            path = os.path.join(OUT, f"{name}.jpg")
            subprocess.run(["cjpeg", "-quality", "90", *args, "-outfile", path, ppm], check=True)
            enc = np.fromfile(path, np.uint8)
            save(f"{name}_rgb.raw", decode_rgb(enc))
            save(f"{name}_gray.raw", cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
