//! Blob detection on a binary mask and binary image moments.
//!
//! [`BlobDetector`] labels 8-connected components (as
//! `cv2.connectedComponentsWithStats(mask, connectivity=8)`) and reports the
//! largest one. It works on horizontal runs rather than pixels: a mask of a
//! few blobs has a few runs per row, so union-find over runs touches far less
//! memory than a label image would, and no label image is written at all.

use super::{Result, check};
use framewire_sdk::image::{FourCC, ImageRef};
use framewire_sdk::msg::Detection;

/// Area, centroid sums and bounding box of a set of pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moments {
    /// Number of pixels (`m00` of a binary image).
    pub m00: u64,
    /// Sum of x (`m10`).
    pub m10: u64,
    /// Sum of y (`m01`).
    pub m01: u64,
    /// Smallest x (meaningless when `m00 == 0`).
    pub x0: u32,
    /// Smallest y.
    pub y0: u32,
    /// Largest x, inclusive.
    pub x1: u32,
    /// Largest y, inclusive.
    pub y1: u32,
}

impl Default for Moments {
    fn default() -> Self {
        Moments { m00: 0, m10: 0, m01: 0, x0: u32::MAX, y0: u32::MAX, x1: 0, y1: 0 }
    }
}

impl Moments {
    /// Centroid `(m10/m00, m01/m00)`, `None` if empty.
    pub fn centroid(&self) -> Option<(f64, f64)> {
        (self.m00 > 0).then(|| (self.m10 as f64 / self.m00 as f64, self.m01 as f64 / self.m00 as f64))
    }

    /// Adds a run of pixels `[x0, x1)` on row `y`.
    #[inline]
    fn add_run(&mut self, x0: u32, x1: u32, y: u32) {
        let n = (x1 - x0) as u64;
        self.m00 += n;
        // Sum of x0..x1-1.
        self.m10 += (x0 as u64 + x1 as u64 - 1) * n / 2;
        self.m01 += y as u64 * n;
        self.x0 = self.x0.min(x0);
        self.x1 = self.x1.max(x1 - 1);
        self.y0 = self.y0.min(y);
        self.y1 = self.y1.max(y);
    }

    /// Merges two disjoint sets.
    pub fn merge(&mut self, o: &Moments) {
        self.m00 += o.m00;
        self.m10 += o.m10;
        self.m01 += o.m01;
        self.x0 = self.x0.min(o.x0);
        self.y0 = self.y0.min(o.y0);
        self.x1 = self.x1.max(o.x1);
        self.y1 = self.y1.max(o.y1);
    }

    /// As a detection message for an image of `width` x `height`.
    pub fn to_detection(&self, width: u32, height: u32) -> Detection {
        match self.centroid() {
            None => Detection { image_width: width, image_height: height, ..Default::default() },
            Some((cx, cy)) => Detection {
                found: true,
                area: self.m00.min(u32::MAX as u64) as u32,
                cx: cx as f32,
                cy: cy as f32,
                bbox: [self.x0, self.y0, self.x1 - self.x0 + 1, self.y1 - self.y0 + 1],
                image_width: width,
                image_height: height,
            },
        }
    }
}

/// Runs of non-zero bytes in `row`, as `[start, end)` pairs, passed to `f`.
/// Skips zero bytes eight at a time, the common case in a mask.
#[inline]
fn for_runs(row: &[u8], mut f: impl FnMut(u32, u32)) {
    let n = row.len();
    let mut x = 0;
    while x < n {
        // Fast skip over zero words.
        while x + 8 <= n && u64::from_ne_bytes(row[x..x + 8].try_into().unwrap()) == 0 {
            x += 8;
        }
        while x < n && row[x] == 0 {
            x += 1;
        }
        if x >= n {
            break;
        }
        let start = x;
        while x + 8 <= n && !u64::from_ne_bytes(row[x..x + 8].try_into().unwrap()) & 0x8080_8080_8080_8080 == 0 {
            // All eight bytes have the top bit set (the 255s of a mask);
            // other non-zero values fall through to the byte loop.
            x += 8;
        }
        while x < n && row[x] != 0 {
            x += 1;
        }
        f(start as u32, x as u32);
    }
}

/// Binary moments of a GREY mask: every non-zero pixel counts 1 (as
/// `cv2.moments(mask, binaryImage=True)`), plus the bounding box.
pub fn moments(mask: &ImageRef) -> Result<Moments> {
    let f = mask.format;
    check(&f, mask.data.len(), FourCC::GREY, "input", "GREY")?;
    let mut m = Moments::default();
    for y in 0..f.height {
        let row = &mask.row(y)[..f.width as usize];
        for_runs(row, |a, b| m.add_run(a, b, y));
    }
    Ok(m)
}

#[derive(Clone, Copy, Debug)]
struct Run {
    x0: u32,
    x1: u32,
    y: u32,
}

/// Connected-component labelling with scratch kept between frames.
#[derive(Debug, Default, Clone)]
pub struct BlobDetector {
    runs: Vec<Run>,
    parent: Vec<u32>,
    stats: Vec<Moments>,
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize]; // path halving
        i = p;
    }
    i
}

impl BlobDetector {
    /// No scratch yet; buffers grow to the busiest mask seen and stay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Labels the mask's 8-connected components and returns each one's
    /// moments, in raster order of their first pixel (OpenCV's label order,
    /// minus the background).
    pub fn components(&mut self, mask: &ImageRef) -> Result<&[Moments]> {
        let f = mask.format;
        check(&f, mask.data.len(), FourCC::GREY, "input", "GREY")?;
        self.runs.clear();
        self.parent.clear();
        let mut prev = 0..0; // runs of the previous row
        for y in 0..f.height {
            let row = &mask.row(y)[..f.width as usize];
            let start = self.runs.len();
            let mut p = prev.start;
            let (runs, parent) = (&mut self.runs, &mut self.parent);
            for_runs(row, |x0, x1| {
                let id = runs.len() as u32;
                runs.push(Run { x0, x1, y });
                parent.push(id);
                // Previous-row runs touching [x0-1, x1] (8-connectivity).
                while p < prev.end && runs[p].x1 < x0 {
                    p += 1;
                }
                let mut q = p;
                while q < prev.end && runs[q].x0 <= x1 {
                    let (a, b) = (find(parent, q as u32), find(parent, id));
                    // The smaller index (earlier in raster order) is the root.
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    parent[hi as usize] = lo;
                    q += 1;
                }
                // The last touching run may also touch the next run.
                p = q.saturating_sub(1).max(p);
            });
            prev = start..self.runs.len();
        }
        self.stats.clear();
        // Roots come before their members, so one pass in order both
        // numbers components and accumulates them. `parent` of a root is
        // reused to hold its component index (marked with the top bit).
        const TAG: u32 = 1 << 31;
        for i in 0..self.runs.len() {
            let r = find_tagged(&mut self.parent, i as u32, TAG);
            let comp = if r == i as u32 {
                self.parent[i] = TAG | self.stats.len() as u32;
                self.stats.push(Moments::default());
                self.stats.len() - 1
            } else {
                (self.parent[r as usize] & !TAG) as usize
            };
            let run = self.runs[i];
            self.stats[comp].add_run(run.x0, run.x1, run.y);
        }
        Ok(&self.stats)
    }

    /// The largest component (the first in raster order on a tie), as a
    /// detection message; `found == false` if the mask is empty.
    pub fn largest(&mut self, mask: &ImageRef) -> Result<Detection> {
        let (w, h) = (mask.format.width, mask.format.height);
        let comps = self.components(mask)?;
        let mut best: Option<&Moments> = None;
        for c in comps {
            if best.is_none_or(|b| c.m00 > b.m00) {
                best = Some(c);
            }
        }
        Ok(best.copied().unwrap_or_default().to_detection(w, h))
    }
}

/// `find` that stops at a root, where a root is either `parent[i] == i` or a
/// tagged component index (roots are tagged as soon as they are numbered).
fn find_tagged(parent: &mut [u32], mut i: u32, tag: u32) -> u32 {
    loop {
        let p = parent[i as usize];
        if p & tag != 0 || p == i {
            return i;
        }
        let pp = parent[p as usize];
        if pp & tag == 0 {
            parent[i as usize] = pp; // path halving, only through untagged links
        }
        i = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::ImageFormat;

    fn mask_from(rows: &[&str]) -> (Vec<u8>, ImageFormat) {
        let w = rows[0].len();
        let data: Vec<u8> = rows.iter().flat_map(|r| r.bytes().map(|b| if b == b'#' { 255 } else { 0 })).collect();
        (data, ImageFormat::packed(FourCC::GREY, w as u32, rows.len() as u32))
    }

    #[test]
    fn components_with_diagonal_and_u_shapes() {
        let (d, f) = mask_from(&[
            "#.....#.#.", //
            ".#....#.#.", //
            "..#...###.", //
            "..........", //
            "......####", //
        ]);
        let img = ImageRef { format: f, data: &d };
        let mut b = BlobDetector::new();
        let c = b.components(&img).unwrap().to_vec();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].m00, 3); // diagonal
        assert_eq!(c[1].m00, 7); // U shape merges two early runs
        assert_eq!((c[1].x0, c[1].y0, c[1].x1, c[1].y1), (6, 0, 8, 2));
        assert_eq!(c[2].m00, 4);
        let det = b.largest(&img).unwrap();
        assert!(det.found);
        assert_eq!(det.area, 7);
        assert_eq!(det.bbox, [6, 0, 3, 3]);
        let m = moments(&img).unwrap();
        assert_eq!(m.m00, 14);
    }

    #[test]
    fn empty_mask() {
        let (d, f) = mask_from(&["....", "...."]);
        let det = BlobDetector::new().largest(&ImageRef { format: f, data: &d }).unwrap();
        assert!(!det.found);
    }
}
