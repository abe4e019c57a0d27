//! Renders what the robot's camera sees straight into a YUYV frame: a
//! chequered floor, four walls of different pale colours with joints every
//! half metre, the dark room above them, the ball with simple shading, and
//! sensor noise on every pixel, so the filters have real work to do.
//!
//! Per frame it computes one wall hit per image column (a ray cast in the
//! floor plane) and one floor distance per row, then fills the frame row by
//! row: every pixel is written once, straight into the wire slot, and
//! nothing is allocated (the per-column tables are made once).
//!
//! Colours are BT.601 limited-range YUV, as webcams deliver.

use crate::model::{Camera, World};

/// BT.601 limited-range Y, U, V of an RGB colour (what cameras deliver).
pub fn yuv(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|v| v as i32);
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    [y, u, v].map(|c| c.clamp(0, 255) as u8)
}

/// Side of a floor tile, metres.
const TILE: f64 = 0.5;
/// Spacing of the joints drawn on the walls, metres.
const WALL_JOINT: f64 = 0.5;
/// Noise table length (a power of two), so frames index it with a mask.
const NOISE_LEN: usize = 1 << 16;

/// The palette, as YUV.
struct Palette {
    floor: [[u8; 3]; 2],
    walls: [[u8; 3]; 4],
    above: [u8; 3],
    joint: [u8; 3],
}

fn palette() -> Palette {
    Palette {
        // Greys and pale tints only: nothing the ball's hue range takes.
        floor: [yuv([120, 116, 108]), yuv([88, 86, 82])],
        walls: [yuv([170, 180, 196]), yuv([176, 192, 170]), yuv([196, 188, 168]), yuv([180, 180, 180])],
        above: yuv([40, 44, 52]),
        joint: yuv([110, 110, 110]),
    }
}

/// What one column of the image shows above the floor.
#[derive(Clone, Copy, Default)]
struct Column {
    /// First row of wall (rows above show the room above the walls).
    top: u32,
    /// First row of floor.
    bottom: u32,
    /// Wall colour (YUV).
    wall: [u8; 3],
}

/// Two neighbouring columns (one YUYV macropixel): rows from which both
/// show wall or both show floor, so most pairs are one 4-byte store.
#[derive(Clone, Copy, Default)]
struct Pair {
    /// Both pixels show wall or floor from this row (the larger top).
    top_both: u32,
    /// Either pixel shows wall or floor from this row (the smaller top).
    top_any: u32,
    /// Both pixels show floor from this row (the larger bottom).
    floor_both: u32,
    /// Either pixel shows floor from this row (the smaller bottom).
    floor_any: u32,
    /// The wall's Y, U, Y, V when both show wall.
    wall: [u8; 4],
}

/// A renderer for one camera; keeps its tables between frames.
pub struct Renderer {
    cam: Camera,
    wall_height: f64,
    ball_rgb: [u8; 3],
    noise_amp: u8,
    /// tan of each column's ray angle from the optical axis (left positive).
    col_tan: Vec<f64>,
    columns: Vec<Column>,
    pairs: Vec<Pair>,
    /// Luma noise in YUYV layout (zero on chroma bytes), split into what
    /// to add and what to subtract so that both are saturating vector ops.
    noise_add: Vec<u8>,
    noise_sub: Vec<u8>,
    /// The same noise as signed values, for the ball's pixels.
    noise: Vec<i8>,
    rng: u64,
    pal: Palette,
}

impl Renderer {
    /// A renderer for `cam`, walls `wall_height` m high, a ball of colour
    /// `ball_rgb`, and luma noise of up to ±`noise_amp` per pixel.
    pub fn new(cam: Camera, wall_height: f64, ball_rgb: [u8; 3], noise_amp: u8) -> Renderer {
        let f = cam.focal();
        let w = cam.width as f64;
        let col_tan = (0..cam.width).map(|u| (w / 2.0 - u as f64 - 0.5) / f).collect();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let amp = noise_amp as i32;
        let noise = (0..NOISE_LEN)
            .map(|_| {
                rng = xorshift(rng);
                if amp == 0 { 0 } else { ((rng >> 33) as i32 % (2 * amp + 1) - amp) as i8 }
            })
            .collect();
        let noise: Vec<i8> = noise;
        let luma = |i: usize, v: i8| if i.is_multiple_of(2) { v } else { 0 };
        Renderer {
            cam,
            wall_height,
            ball_rgb,
            noise_amp,
            col_tan,
            columns: vec![Column::default(); cam.width as usize],
            pairs: vec![Pair::default(); cam.width as usize / 2],
            noise_add: noise.iter().enumerate().map(|(i, &v)| luma(i, v).max(0) as u8).collect(),
            noise_sub: noise.iter().enumerate().map(|(i, &v)| luma(i, v).min(0).unsigned_abs()).collect(),
            noise,
            rng,
            pal: palette(),
        }
    }

    /// Bytes of one frame.
    pub fn frame_len(&self) -> usize {
        self.cam.width as usize * 2 * self.cam.height as usize
    }

    /// Renders the view from `world`'s robot into `out` (YUYV, stride 2·width).
    pub fn render(&mut self, world: &World, out: &mut [u8]) {
        let (w, h) = (self.cam.width as usize, self.cam.height as usize);
        assert!(out.len() >= w * 2 * h, "frame buffer too small");
        let f = self.cam.focal();
        let hc = self.cam.height_m;
        let horizon = h as f64 / 2.0;
        let (c, s) = (world.robot.heading.cos(), world.robot.heading.sin());
        let (px, py) = (world.robot.x, world.robot.y);
        let [hx, hy] = world.half;

        // One ray per column: where it meets a wall, and how high that wall
        // appears. `t` is the depth along the optical axis (the ray's
        // forward component is 1), so there is no fish-eye distortion.
        for (u, col) in self.columns.iter_mut().enumerate() {
            let k = self.col_tan[u];
            let (dx, dy) = (c - k * s, s + k * c);
            let tx = if dx > 1e-12 {
                (hx - px) / dx
            } else if dx < -1e-12 {
                (-hx - px) / dx
            } else {
                f64::INFINITY
            };
            let ty = if dy > 1e-12 {
                (hy - py) / dy
            } else if dy < -1e-12 {
                (-hy - py) / dy
            } else {
                f64::INFINITY
            };
            let (t, wall, along) = if tx < ty {
                (tx, if dx > 0.0 { 0 } else { 2 }, py + tx * dy)
            } else {
                (ty, if dy > 0.0 { 1 } else { 3 }, px + ty * dx)
            };
            let t = t.max(1e-3);
            let bottom = (horizon + f * hc / t).ceil().clamp(0.0, h as f64) as u32;
            let top = (horizon - f * (self.wall_height - hc) / t).ceil().clamp(0.0, h as f64) as u32;
            // Joints: a thin darker band every WALL_JOINT metres along the wall.
            let frac = (along / WALL_JOINT).rem_euclid(1.0);
            let joint = !(0.03..=0.97).contains(&frac);
            let mut colour = if joint { self.pal.joint } else { self.pal.walls[wall] };
            // Farther walls are a little darker.
            let shade = (1.0 / (1.0 + 0.08 * t)).clamp(0.5, 1.0);
            colour[0] = (16.0 + (colour[0] as f64 - 16.0) * shade) as u8;
            *col = Column { top, bottom, wall: colour };
        }

        for (p, pair) in self.pairs.iter_mut().enumerate() {
            let (a, b) = (self.columns[2 * p], self.columns[2 * p + 1]);
            *pair = Pair {
                top_both: a.top.max(b.top),
                top_any: a.top.min(b.top),
                floor_both: a.bottom.max(b.bottom),
                floor_any: a.bottom.min(b.bottom),
                wall: [a.wall[0], a.wall[1], b.wall[0], b.wall[2]],
            };
        }

        self.rng = xorshift(self.rng);
        let mut n = (self.rng >> 20) as usize;
        let inv_tile = 1.0 / TILE;
        // Fixed point with 32 fractional bits for the floor's tile
        // coordinates: one integer add per pixel.
        const ONE: f64 = (1u64 << 32) as f64;
        let a0 = (w as f64 / 2.0 - 0.5) / f;
        let above = self.pal.above;
        let above4 = [above[0], above[1], above[0], above[2]];
        for (v, row) in out[..w * 2 * h].chunks_exact_mut(2 * w).enumerate() {
            let below = v as f64 + 0.5 - horizon;
            let v = v as u32;
            // The floor point column u of this row sees is linear in u:
            // base + col_tan[u] * step, with col_tan[u] = a0 - u / f. The
            // offset keeps tile coordinates positive, so the integer part
            // is the floor. (Rows above the horizon show no floor: every
            // column's bottom is below it.)
            let z = if below > 0.25 { f * hc / below } else { 0.0 };
            let (bx, by) = ((px + z * c) * inv_tile + 4096.0, (py + z * s) * inv_tile + 4096.0);
            let (sx, sy) = (-z * s * inv_tile, z * c * inv_tile);
            let (mut xf, mut yf) = (((bx + a0 * sx) * ONE) as i64, ((by + a0 * sy) * ONE) as i64);
            let (dxf, dyf) = ((-sx / f * ONE) as i64, (-sy / f * ONE) as i64);
            let fog = (1.0 / (1.0 + 0.1 * z)).clamp(0.4, 1.0);
            let floor = self.pal.floor.map(|p| [(16.0 + (p[0] as f64 - 16.0) * fog) as u8, p[1], p[2]]);
            // Left pixel's tile, right pixel's tile: Y, U (left), Y, V (right).
            let floor4 = [(0, 0), (0, 1), (1, 0), (1, 1)]
                .map(|(a, b): (usize, usize)| [floor[a][0], floor[a][1], floor[b][0], floor[b][2]]);
            let cols = &self.columns;
            let pixel = |col: &Column, t: usize| {
                if v >= col.bottom {
                    floor[t]
                } else if v >= col.top {
                    col.wall
                } else {
                    above
                }
            };
            for (p, (px4, pr)) in row.chunks_exact_mut(4).zip(&self.pairs).enumerate() {
                let tile = |x: i64, y: i64| (((x >> 32) + (y >> 32)) & 1) as usize;
                let (ta, tb) = (tile(xf, yf), tile(xf.wrapping_add(dxf), yf.wrapping_add(dyf)));
                let val = if v >= pr.floor_both {
                    floor4[2 * ta + tb]
                } else if v >= pr.top_both && v < pr.floor_any {
                    pr.wall
                } else if v < pr.top_any {
                    above4
                } else {
                    // The two pixels differ (an edge between regions).
                    let (l, r) = (pixel(&cols[2 * p], ta), pixel(&cols[2 * p + 1], tb));
                    [l[0], l[1], r[0], r[2]]
                };
                px4.copy_from_slice(&val);
                xf = xf.wrapping_add(2 * dxf);
                yf = yf.wrapping_add(2 * dyf);
            }
            // Sensor noise on the luma, from a random even place in the
            // tables: two saturating byte ops over the row (vectorised).
            n = (n.wrapping_mul(2_654_435_761) >> 7) & (NOISE_LEN - 1);
            let start = n.min(NOISE_LEN - 2 * w) & !1;
            let (add, sub) = (&self.noise_add[start..start + 2 * w], &self.noise_sub[start..start + 2 * w]);
            for ((b, a), s) in row.iter_mut().zip(add).zip(sub) {
                *b = b.saturating_add(*a).saturating_sub(*s);
            }
        }
        if let Some(b) = world.ball_in_image(&self.cam) {
            self.draw_ball(out, b.u, b.v, b.r, n);
        }
    }

    /// A shaded sphere: lit from the upper left, never darker than 0.35 of
    /// its colour. YUV is affine in RGB, so scaling the colour by `k` scales
    /// Y - 16 and the chroma's distance from 128 by `k` too.
    fn draw_ball(&self, out: &mut [u8], cu: f64, cv: f64, r: f64, mut n: usize) {
        let (w, h) = (self.cam.width as usize, self.cam.height as usize);
        let full = yuv(self.ball_rgb).map(|c| c as f64);
        let (lx, ly, lz) = (-0.45, -0.55, 0.70);
        let v0 = (cv - r - 0.5).floor().max(0.0) as usize;
        let v1 = ((cv + r + 0.5).ceil().max(0.0) as usize).min(h);
        for v in v0..v1 {
            let dy = v as f64 + 0.5 - cv;
            let half = r * r - dy * dy;
            if half <= 0.0 {
                continue;
            }
            let half = half.sqrt();
            // Columns whose centres are inside the disc on this row.
            let ua = (cu - half - 0.5).ceil().max(0.0) as usize;
            let ub = ((cu + half - 0.5).floor() + 1.0).clamp(0.0, w as f64) as usize;
            let row = &mut out[v * 2 * w..(v + 1) * 2 * w];
            for u in ua..ub {
                let dx = u as f64 + 0.5 - cu;
                let nz = (1.0 - (dx * dx + dy * dy) / (r * r)).max(0.0).sqrt();
                let lit = (dx / r * lx + dy / r * ly + nz * lz).max(0.0);
                let k = 0.35 + 0.65 * lit;
                n = (n + 1) & (NOISE_LEN - 1);
                let y = (16.0 + (full[0] - 16.0) * k) as u8;
                row[2 * u] = y.saturating_add_signed(self.noise[n]);
                row[2 * u + 1] = (128.0 + (full[1 + (u & 1)] - 128.0) * k) as u8;
            }
        }
    }

    /// The noise amplitude.
    pub fn noise(&self) -> u8 {
        self.noise_amp
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BallMotion, Base, Pose};
    use std::f64::consts::PI;

    fn world(robot: Pose, ball: [f64; 2]) -> World {
        let base = Base { counts_per_rev: 1000.0, wheel_radius: 0.05, track_width: 0.3, radius: 0.15 };
        World::new([4.0, 3.0], robot, base, ball, 0.1, BallMotion::Still)
    }

    fn y_at(buf: &[u8], w: usize, u: usize, v: usize) -> u8 {
        buf[v * 2 * w + 2 * u]
    }

    /// The ball's pixels are where the projection says, in the ball's hue;
    /// the rest is floor below the horizon and wall or dark room above.
    #[test]
    fn the_frame_shows_the_ball_where_it_projects() {
        let cam = Camera { width: 320, height: 240, hfov: PI / 3.0, height_m: 0.15 };
        let mut r = Renderer::new(cam, 0.6, [240, 60, 20], 0);
        let mut buf = vec![0u8; r.frame_len()];
        let a = 12f64.to_radians();
        let w = world(Pose::default(), [1.0 * a.cos(), 1.0 * a.sin()]);
        r.render(&w, &mut buf);
        let b = w.ball_in_image(&cam).unwrap();
        // Pixels at the centre are the ball's colour: strong red chroma (V).
        let (cu, cv) = (b.u as usize & !1, b.v as usize);
        let v_chroma = buf[cv * 640 + 2 * cu + 3];
        assert!(v_chroma > 180, "red chroma at the ball's centre: {v_chroma}");
        // Left of the image centre (the ball is 12° to the left).
        assert!(b.u < 160.0 - 20.0, "{b:?}");
        // Far outside the ball: neutral chroma everywhere.
        for v in (0..240).step_by(7) {
            for u in (0..320).step_by(2) {
                let (du, dv) = (u as f64 + 0.5 - b.u, v as f64 + 0.5 - b.v);
                if du.hypot(dv) > b.r + 3.0 {
                    let (cb, cr) = (buf[v * 640 + 2 * u + 1], buf[v * 640 + 2 * u + 3]);
                    assert!((cb as i32 - 128).abs() < 20 && (cr as i32 - 128).abs() < 20, "({u}, {v}): {cb} {cr}");
                }
            }
        }
        // The bottom row is floor, the top row is above the walls (dark).
        assert!(y_at(&buf, 320, 10, 239) > 60 && y_at(&buf, 320, 10, 0) < 60);
    }

    /// Floor pixels show the tile that a ray through the pixel's centre
    /// hits (computed here directly, in floating point).
    #[test]
    fn the_floor_shows_the_tile_each_pixel_sees() {
        let cam = Camera { width: 320, height: 240, hfov: PI / 3.0, height_m: 0.15 };
        let mut r = Renderer::new(cam, 0.6, [240, 60, 20], 0);
        let mut buf = vec![0u8; r.frame_len()];
        let robot = Pose { x: -0.3, y: 0.2, heading: 0.4 };
        let w = world(robot, [-1.9, -1.4]); // the ball out of view
        r.render(&w, &mut buf);
        let f = cam.focal();
        let (mut checked, mut light) = (0, 0);
        for v in (130..240).step_by(9) {
            let z = f * 0.15 / (v as f64 + 0.5 - 120.0);
            for u in (0..320).step_by(13) {
                let k = (160.0 - u as f64 - 0.5) / f;
                let (c, s) = (robot.heading.cos(), robot.heading.sin());
                let (x, y) = (robot.x + z * (c - k * s), robot.y + z * (s + k * c));
                if x.abs() > 1.95 || y.abs() > 1.45 {
                    continue; // behind a wall
                }
                // Stay clear of tile edges, where rounding may pick either.
                let (fx, fy) = ((x / TILE).rem_euclid(1.0), (y / TILE).rem_euclid(1.0));
                if fx.min(1.0 - fx) < 0.02 || fy.min(1.0 - fy) < 0.02 {
                    continue;
                }
                let parity = ((x / TILE).floor() as i64 + (y / TILE).floor() as i64).rem_euclid(2);
                let luma = y_at(&buf, 320, u, v);
                let fog = (1.0 / (1.0 + 0.1 * z)).clamp(0.4, 1.0);
                let want = (16.0 + (palette().floor[parity as usize][0] as f64 - 16.0) * fog) as u8;
                assert_eq!(luma, want, "pixel ({u}, {v}) sees ({x:.3}, {y:.3})");
                checked += 1;
                light += (parity == 0) as u32;
            }
        }
        assert!(checked > 100 && light > 20 && light < checked - 20, "{checked} pixels, {light} light");
    }

    #[test]
    fn noise_changes_pixels_between_frames_but_not_much() {
        let cam = Camera { width: 64, height: 48, hfov: PI / 3.0, height_m: 0.15 };
        let mut r = Renderer::new(cam, 0.6, [240, 60, 20], 8);
        let (mut a, mut b) = (vec![0u8; r.frame_len()], vec![0u8; r.frame_len()]);
        let w = world(Pose::default(), [3.0, 3.0]);
        r.render(&w, &mut a);
        r.render(&w, &mut b);
        assert_ne!(a, b, "noise differs between frames");
        let diff = a.iter().zip(&b).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap();
        assert!(diff <= 16, "luma noise within ±8: {diff}");
    }
}
