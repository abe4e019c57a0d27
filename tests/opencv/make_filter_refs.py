#!/usr/bin/env python3
"""Generates OpenCV reference input/output pairs for framewire's filters.

Run once (outputs are committed):
    pip install opencv-python-headless numpy
    python3 tests/opencv/make_filter_refs.py

Writes raw arrays (`*.raw`, row-major, packed) and `tests/data/filters/refs.toml`
describing each case; `tests/filters_opencv.rs` replays them. Inputs are
small (64x48 or odd sizes) so the data stays well under 1 MiB.
"""
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "filters")
rng = np.random.default_rng(20261126)
cases = []


def save(name, arr):
    arr = np.ascontiguousarray(arr)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(arr.tobytes())
    return name


def case(name, op, inp, out, w, h, **params):
    c = {"name": name, "op": op, "input": inp, "output": out, "w": w, "h": h}
    c.update(params)
    cases.append(c)


def scene(w, h):
    """Smooth colour gradients, saturated discs and noise: every hue."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin(x / 5 + y / 7)], axis=-1)
    img += rng.normal(0, 12, img.shape)
    for cx, cy, r, col in [(w * 0.3, h * 0.4, h * 0.2, (230, 20, 20)), (w * 0.7, h * 0.6, h * 0.15, (20, 200, 40))]:
        m = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
        img[m] = col
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        # edge/ belongs to make_edge_refs.py.
        if os.path.isfile(os.path.join(OUT, f)):
            os.remove(os.path.join(OUT, f))
    W, H = 64, 48

    # --- colour conversion (random bytes: every code path) ---
    yuyv = rng.integers(0, 256, (H, W, 2), dtype=np.uint8)
    save("yuyv.raw", yuyv)
    for code, name in [(cv2.COLOR_YUV2RGB_YUYV, "rgb"), (cv2.COLOR_YUV2BGR_YUYV, "bgr"), (cv2.COLOR_YUV2GRAY_YUYV, "gray")]:
        case(f"yuyv_{name}", "convert", "yuyv.raw", save(f"yuyv_{name}.raw", cv2.cvtColor(yuyv, code)), W, H, src="YUYV", dst=name.upper())
    for code, name in [(cv2.COLOR_YUV2RGB_UYVY, "rgb"), (cv2.COLOR_YUV2BGR_UYVY, "bgr"), (cv2.COLOR_YUV2GRAY_UYVY, "gray")]:
        case(f"uyvy_{name}", "convert", "yuyv.raw", save(f"uyvy_{name}.raw", cv2.cvtColor(yuyv, code)), W, H, src="UYVY", dst=name.upper())
    nv12 = rng.integers(0, 256, (H * 3 // 2, W), dtype=np.uint8)
    save("nv12.raw", nv12)
    for code, name in [(cv2.COLOR_YUV2RGB_NV12, "rgb"), (cv2.COLOR_YUV2BGR_NV12, "bgr")]:
        case(f"nv12_{name}", "convert", "nv12.raw", save(f"nv12_{name}.raw", cv2.cvtColor(nv12, code)), W, H, src="NV12", dst=name.upper())
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    save("rgb_noise.raw", rgb)
    case("rgb_bgr", "convert", "rgb_noise.raw", save("rgb_bgr.raw", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), W, H, src="RGB", dst="BGR")
    case("rgb_gray", "convert", "rgb_noise.raw", save("rgb_gray.raw", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)), W, H, src="RGB", dst="GRAY")
    case("bgr_gray", "convert", "rgb_noise.raw", save("bgr_gray.raw", cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY)), W, H, src="BGR", dst="GRAY")

    # --- HSV: the full conversion on random colours, then ranges ---
    case("rgb_hsv", "hsv", "rgb_noise.raw", save("rgb_hsv.raw", cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)), W, H)
    sc = scene(W, H)
    save("scene.raw", sc)
    hsv = cv2.cvtColor(sc, cv2.COLOR_RGB2HSV)
    for i, (lo, hi) in enumerate([((0, 120, 70), (10, 255, 255)), ((170, 120, 70), (10, 255, 255)), ((35, 80, 40), (85, 255, 255)), ((0, 0, 0), (179, 60, 255))]):
        if lo[0] <= hi[0]:
            m = cv2.inRange(hsv, np.array(lo), np.array(hi))
        else:  # OpenCV has no wrapping hue: the usual two-range idiom
            m = cv2.inRange(hsv, np.array(lo), np.array((179,) + hi[1:])) | cv2.inRange(hsv, np.array((0,) + lo[1:]), np.array(hi))
        case(f"hsv_range{i}", "in_range", "scene.raw", save(f"hsv_range{i}.raw", m), W, H, lo=list(lo), hi=list(hi))

    # --- Gaussian blur, odd size to exercise the borders ---
    bw, bh = 37, 29
    g = rng.integers(0, 256, (bh, bw), dtype=np.uint8)
    c3 = rng.integers(0, 256, (bh, bw, 3), dtype=np.uint8)
    save("blur_gray_in.raw", g)
    save("blur_rgb_in.raw", c3)
    for k in (3, 5):
        case(f"blur{k}_gray", "blur", "blur_gray_in.raw", save(f"blur{k}_gray.raw", cv2.GaussianBlur(g, (k, k), 0)), bw, bh, k=k, channels=1)
        case(f"blur{k}_rgb", "blur", "blur_rgb_in.raw", save(f"blur{k}_rgb.raw", cv2.GaussianBlur(c3, (k, k), 0)), bw, bh, k=k, channels=3)

    # --- resize ---
    save("scene_gray.raw", cv2.cvtColor(sc, cv2.COLOR_RGB2GRAY))
    for interp, iname in [(cv2.INTER_AREA, "area"), (cv2.INTER_LINEAR, "bilinear")]:
        for dw, dh in [(32, 24), (16, 12), (25, 20), (100, 70)]:
            if iname == "area" and dw > W:
                continue
            case(f"resize_{iname}_{dw}x{dh}_rgb", "resize", "scene.raw", save(f"resize_{iname}_{dw}x{dh}_rgb.raw", cv2.resize(sc, (dw, dh), interpolation=interp)), W, H, dw=dw, dh=dh, interp=iname, channels=3)
            gs = cv2.cvtColor(sc, cv2.COLOR_RGB2GRAY)
            case(f"resize_{iname}_{dw}x{dh}_gray", "resize", "scene_gray.raw", save(f"resize_{iname}_{dw}x{dh}_gray.raw", cv2.resize(gs, (dw, dh), interpolation=interp)), W, H, dw=dw, dh=dh, interp=iname, channels=1)

    # --- flips ---
    for code, name in [(1, "horizontal"), (0, "vertical"), (-1, "rotate180")]:
        case(f"flip_{name}", "flip", "scene.raw", save(f"flip_{name}.raw", cv2.flip(sc, code)), W, H, mode=name)

    # --- morphology and blobs on a noisy mask ---
    noise = cv2.GaussianBlur(rng.integers(0, 256, (H, W), dtype=np.uint8), (5, 5), 0)
    mask = np.where(noise > 140, 255, 0).astype(np.uint8)
    mask[rng.random((H, W)) < 0.03] = 255  # specks
    save("mask.raw", mask)
    for k in (3, 5):
        el = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        for op, name in [(cv2.MORPH_OPEN, "open"), (cv2.MORPH_CLOSE, "close"), (cv2.MORPH_ERODE, "erode"), (cv2.MORPH_DILATE, "dilate")]:
            case(f"morph_{name}{k}", "morph", "mask.raw", save(f"morph_{name}{k}.raw", cv2.morphologyEx(mask, op, el)), W, H, k=k, morph=name)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = 1 + int(np.argmax(areas))
    x, y, w, h, a = (int(v) for v in stats[best])
    m = cv2.moments(mask, binaryImage=True)
    case("blobs", "blobs", "mask.raw", "", W, H, count=int(n - 1), area=a, bbox=[x, y, w, h], cx=float(cents[best][0]), cy=float(cents[best][1]),
         m00=float(m["m00"]), m10=float(m["m10"]), m01=float(m["m01"]))

    # --- fused tracker: YUYV scene -> BGR -> HSV -> inRange -> moments ---
    yuv = cv2.cvtColor(sc, cv2.COLOR_RGB2YUV)  # full-ish YUV from the scene; then pack 4:2:2
    yuyv_sc = np.empty((H, W, 2), np.uint8)
    yuyv_sc[:, :, 0] = yuv[:, :, 0]
    yuyv_sc[:, 0::2, 1] = yuv[:, 0::2, 1]
    yuyv_sc[:, 1::2, 1] = yuv[:, 0::2, 2]
    save("tracker_yuyv.raw", yuyv_sc)
    for i, (lo, hi) in enumerate([((0, 120, 70), (10, 255, 255)), ((35, 80, 40), (85, 255, 255))]):
        bgr = cv2.cvtColor(yuyv_sc, cv2.COLOR_YUV2BGR_YUYV)
        hsv2 = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        mk = cv2.inRange(hsv2, np.array(lo), np.array(hi))
        m = cv2.moments(mk, binaryImage=True)
        case(f"tracker{i}", "tracker", "tracker_yuyv.raw", save(f"tracker{i}_mask.raw", mk), W, H, lo=list(lo), hi=list(hi), m00=float(m["m00"]), m10=float(m["m10"]), m01=float(m["m01"]))

    # --- JPEG: encode with OpenCV, decode with OpenCV, also without DHT ---
    for q, sub in [(90, "420"), (75, "444")]:
        params = [cv2.IMWRITE_JPEG_QUALITY, q]
        if sub == "444":
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(sc, cv2.COLOR_RGB2BGR), params)
        assert ok
        data = enc.tobytes()
        jn = f"jpeg_q{q}_{sub}.jpg"
        save(jn, np.frombuffer(data, np.uint8))
        dec = cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        case(f"jpeg_q{q}_{sub}_rgb", "jpeg", jn, save(f"jpeg_q{q}_{sub}_rgb.raw", dec), W, H, gray=False)
        decg = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
        case(f"jpeg_q{q}_{sub}_gray", "jpeg", jn, save(f"jpeg_q{q}_{sub}_gray.raw", decg), W, H, gray=True)
        # Strip every DHT segment (as many webcams send MJPEG).
        out, i = bytearray(data[:2]), 2
        while i < len(data):
            assert data[i] == 0xFF
            mk_ = data[i + 1]
            if mk_ == 0xDA:
                out += data[i:]
                break
            ln = int.from_bytes(data[i + 2 : i + 4], "big")
            if mk_ != 0xC4:
                out += data[i : i + 2 + ln]
            i += 2 + ln
        nd = f"jpeg_q{q}_{sub}_nodht.jpg"
        save(nd, np.frombuffer(bytes(out), np.uint8))
        case(f"jpeg_q{q}_{sub}_nodht", "jpeg", nd, f"jpeg_q{q}_{sub}_rgb.raw", W, H, gray=False)
        case(f"jpeg_q{q}_{sub}_nodht_gray", "jpeg", nd, f"jpeg_q{q}_{sub}_gray.raw", W, H, gray=True)

    # What webcams also send: 4:2:2 with restart markers, at a size that is
    # not a whole number of MCUs; and single-component (greyscale) JPEG.
    w2, h2 = 75, 51
    sc2 = scene(w2, h2)
    params = [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
              cv2.IMWRITE_JPEG_RST_INTERVAL, 3]
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(sc2, cv2.COLOR_RGB2BGR), params)
    assert ok and b"\xff\xdd" in enc.tobytes()
    jn = save("jpeg_q85_422_rst.jpg", enc)
    dec = cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    case("jpeg_q85_422_rst_rgb", "jpeg", jn, save("jpeg_q85_422_rst_rgb.raw", dec), w2, h2, gray=False)
    case("jpeg_q85_422_rst_gray", "jpeg", jn, save("jpeg_q85_422_rst_gray.raw", cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)), w2, h2, gray=True)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(sc2, cv2.COLOR_RGB2GRAY), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    jn = save("jpeg_q80_y.jpg", enc)
    case("jpeg_q80_y_gray", "jpeg", jn, save("jpeg_q80_y_gray.raw", cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)), w2, h2, gray=True)
    dec = cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    case("jpeg_q80_y_rgb", "jpeg", jn, save("jpeg_q80_y_rgb.raw", dec), w2, h2, gray=False)
    # Progressive JPEG (not from webcams; decoded by the general decoder).
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(sc2, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and b"\xff\xc2" in enc.tobytes()
    jn = save("jpeg_q85_progressive.jpg", enc)
    case("jpeg_q85_progressive_gray", "jpeg", jn, save("jpeg_q85_progressive_gray.raw", cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)), w2, h2, gray=True)

    with open(os.path.join(OUT, "refs.toml"), "w") as f:
        f.write(f"# Generated by tests/opencv/make_filter_refs.py with OpenCV {cv2.__version__}; do not edit.\n")
        for c in cases:
            f.write("\n[[case]]\n")
            for k, v in c.items():
                if isinstance(v, str):
                    f.write(f'{k} = "{v}"\n')
                elif isinstance(v, bool):
                    f.write(f"{k} = {'true' if v else 'false'}\n")
                else:
                    f.write(f"{k} = {v}\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(cases)} cases, {total} bytes in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
