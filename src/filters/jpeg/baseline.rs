//! A baseline JPEG decoder: the MJPEG path, bit-exact with OpenCV.
//!
//! For GREY output from a colour JPEG only the Y component is needed, so
//! the chroma blocks are *skipped*: their Huffman codes must still be read
//! (they are interleaved with the luma in one bit stream) but nothing else
//! is done with them. For RGB24 every component is decoded, then the
//! chroma is upsampled and converted exactly as libjpeg does by default.
//! Per frame:
//!
//! 1. One pass over the entropy-coded data that removes the `FF 00` byte
//!    stuffing and notes where each restart interval starts (`unstuff`), so
//!    the bit reader never looks for markers.
//! 2. Huffman decoding with a branch-free 64-bit bit reader and 10-bit
//!    lookup tables; for AC codes the table also holds the run and the
//!    already sign-extended value when code plus value fit in 10 bits (the
//!    common case), so most coefficients cost one lookup.
//! 3. The accurate integer IDCT of libjpeg (`jidctint.c`, "islow", what
//!    OpenCV's `imdecode` uses), with the DC-only blocks filled without a
//!    transform: straight into the output image for GREY, into component
//!    planes for RGB.
//! 4. For RGB: libjpeg's "fancy" (triangle-filter) chroma upsampling and
//!    its fixed-point YCbCr -> RGB arithmetic (`jdsample.c`, `jdcolor.c`).
//!
//! The output is bit-exact with libjpeg-turbo's (OpenCV's) for both formats.
//!
//! Only what webcams send is handled here: baseline or extended sequential
//! Huffman JPEG, 8-bit, one or three components (YCbCr) in one interleaved
//! scan, any sampling factors up to 4 for GREY (4:4:4, 4:2:2 and 4:2:0 for
//! RGB), with or without restart markers and
//! with or without Huffman tables (the standard tables of ITU T.81 Annex K.3
//! apply when there are none). Progressive and other rare frames ([`parse`] returns `Parsed::General`)
//! go to the general decoder; arithmetic-coded, lossless and
//! non-interleaved sequential frames are refused (`Parsed::Unsupported`). Corrupt data gives [`FilterError::Corrupt`],
//! never a panic; a truncated frame is an error too, not a half-grey picture.
//!
//! Reference: ITU T.81 (the JPEG standard): B.2 (marker segments), F.2.2
//! (Huffman decoding, `EXTEND`, `DECODE`), F.2.2.3 and Figure F.16 (the
//! decoding tables), Annex K.3 (standard tables); libjpeg's `jidctint.c`,
//! `jdsample.c` and `jdcolor.c`.

use super::super::{FilterError, Result, simd};

fn corrupt(msg: impl Into<String>) -> FilterError {
    FilterError::Corrupt(msg.into())
}

/// Zig-zag position `k` → natural (row-major) index in the 8x8 block.
pub(crate) const UNZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// Bits looked up at once in the Huffman tables.
const FAST_BITS: u32 = 10;

/// A Huffman table for decoding (T.81 F.2.2.3): a `FAST_BITS` lookup for
/// short codes and the canonical `maxcode`/`valptr` walk for long ones.
#[derive(Clone, Debug)]
pub(crate) struct Huffman {
    /// `(length << 8) | symbol` for codes of at most `FAST_BITS` bits,
    /// indexed by the next `FAST_BITS` bits of the stream; 0 otherwise.
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// For AC tables: `value << 16 | run << 8 | length`, where `length`
    /// counts code and value bits together, when both fit in `FAST_BITS`
    /// and the symbol is neither EOB nor ZRL; 0 otherwise.
    fast_ac: Box<[i32; 1 << FAST_BITS]>,
    /// Largest code of each length (index 1..=16), left-aligned to 16 bits
    /// plus one, so that `bits16 < maxcode[l]` means "the code is this long".
    maxcode: [u32; 18],
    /// `valptr[l]`: index in `symbols` of the first code of length `l`,
    /// minus that code (so `symbols[code + valptr[l]]`).
    valptr: [i32; 17],
    /// The symbols in code order.
    symbols: Vec<u8>,
}

impl Huffman {
    /// Builds a table from the 16 code counts and the symbols of a DHT
    /// entry (T.81 Annex C: canonical codes in order of length).
    pub(crate) fn new(counts: &[u8; 16], symbols: &[u8], ac: bool) -> Result<Self> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total != symbols.len() || total > 256 {
            return Err(corrupt("Huffman table: symbol count does not match its code counts"));
        }
        let mut fast = Box::new([0u16; 1 << FAST_BITS]);
        let mut fast_ac = Box::new([0i32; 1 << FAST_BITS]);
        let mut maxcode = [0u32; 18];
        let mut valptr = [0i32; 17];
        let mut code = 0u32;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = counts[len as usize - 1] as usize;
            valptr[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err(corrupt("Huffman table: more codes than the code space holds"));
                }
                let sym = symbols[k];
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    for low in 0..1u32 << shift {
                        let i = ((code << shift) | low) as usize;
                        fast[i] = ((len as u16) << 8) | sym as u16;
                        let (run, size) = ((sym >> 4) as u32, (sym & 15) as u32);
                        if ac && size != 0 && len + size <= FAST_BITS {
                            // The value bits follow the code in `low`.
                            let raw = (low >> (shift - size)) & ((1 << size) - 1);
                            let v = extend(raw, size);
                            fast_ac[i] = (v << 16) | (run << 8) as i32 | (len + size) as i32;
                        }
                    }
                }
                code += 1;
                k += 1;
            }
            // One past the largest code of this length, left-aligned to 16
            // bits: every 16-bit window below it starts with a code of at
            // most this length.
            maxcode[len as usize] = code << (16 - len);
            code <<= 1;
        }
        maxcode[17] = u32::MAX;
        Ok(Huffman { fast, fast_ac, maxcode, valptr, symbols: symbols.to_vec() })
    }

    /// Decodes one symbol from the top bits of `r`; `None` for a code that
    /// is not in the table (corrupt data).
    #[inline(always)]
    fn decode(&self, r: &mut Bits) -> Option<u8> {
        let e = self.fast[r.peek(FAST_BITS) as usize];
        if e != 0 {
            r.consume((e >> 8) as u32);
            return Some(e as u8);
        }
        // The slow path takes the bits by value, so that the reader's state
        // can stay in registers in the hot loops.
        let (s, len) = self.decode_slow(r.peek(16))?;
        r.consume(len);
        Some(s)
    }

    /// The symbol and code length of a code longer than `FAST_BITS` at the
    /// top of the 16-bit window `w`.
    #[cold]
    #[inline(never)]
    fn decode_slow(&self, w: u32) -> Option<(u8, u32)> {
        let mut len = FAST_BITS as usize + 1;
        while len <= 16 && w >= self.maxcode[len] {
            len += 1;
        }
        if len > 16 {
            return None;
        }
        let code = (w >> (16 - len)) as i32;
        let i = code + self.valptr[len];
        let s = *self.symbols.get(usize::try_from(i).ok()?)?;
        Some((s, len as u32))
    }
}

/// T.81 F.2.2.1 `EXTEND`: the `size`-bit value `v` as a signed coefficient.
#[inline(always)]
fn extend(v: u32, size: u32) -> i32 {
    if size == 0 {
        0
    } else if v < 1 << (size - 1) {
        v as i32 - (1 << size) + 1
    } else {
        v as i32
    }
}

/// An MSB-first bit reader over unstuffed scan data. `buf` holds the top
/// `count` (at least 56 after [`Bits::refill`]) unread bits; past the end
/// of `data` it reads zeros. It is `Copy` and the hot loops work on a local
/// copy, which LLVM keeps in registers.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load.
    pos: usize,
    buf: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        let mut b = Bits { data, pos: 0, buf: 0, count: 0 };
        b.refill();
        b
    }

    /// Tops the buffer up to at least 56 bits, branch-free in the common
    /// case: load 8 bytes, keep what fits, advance by the whole bytes used
    /// (F. Giesen's "variant 4" reader).
    #[inline(always)]
    fn refill(&mut self) {
        let word = match self.data.get(self.pos..self.pos + 8) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            None => tail_word(self.data, self.pos),
        };
        self.buf |= word >> self.count;
        self.pos += ((63 - self.count) >> 3) as usize;
        self.count |= 56;
    }

    /// The next `n` (1..=16) bits, not consumed.
    #[inline(always)]
    fn peek(&self, n: u32) -> u32 {
        (self.buf >> (64 - n)) as u32
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// Reads `n` (0..=16) bits.
    #[inline(always)]
    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// Whether the reader went past the end of the data by more than the
    /// bits it still holds (i.e. consumed padding: a truncated scan).
    fn exhausted(&self) -> bool {
        (8 * self.pos).saturating_sub(self.count as usize) > 8 * self.data.len()
    }
}

/// The last bytes of `data` from `pos` on, followed by zeros.
#[cold]
#[inline(never)]
fn tail_word(data: &[u8], pos: usize) -> u64 {
    let mut b = [0u8; 8];
    let rest = data.get(pos..).unwrap_or(&[]);
    let have = rest.len().min(8);
    b[..have].copy_from_slice(&rest[..have]);
    u64::from_be_bytes(b)
}

/// One component of the frame header.
#[derive(Clone, Copy, Debug, Default)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// DC and AC table indices from the scan header.
    td: usize,
    ta: usize,
}

/// What the headers of a frame this decoder handles say, and where its
/// scan data starts.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) width: usize,
    pub(crate) height: usize,
    comps: Vec<Component>,
    /// Quantisation tables in zig-zag order.
    qt: [[i32; 64]; 4],
    dc: [Option<usize>; 4],
    ac: [Option<usize>; 4],
    tables: Vec<Huffman>,
    restart: usize,
    /// Offset of the first byte of entropy-coded data.
    scan: usize,
}

fn be16(d: &[u8], i: usize) -> Result<usize> {
    match d.get(i..i + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]]) as usize),
        None => Err(corrupt("frame ends inside a marker segment")),
    }
}

/// What [`parse`] found. The frame is returned by value once per frame:
/// boxing it to shrink the other variants would only add an allocation.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed {
    /// A frame this decoder handles.
    Ours(Frame),
    /// A valid frame for the general decoder (progressive, 12-bit, CMYK,
    /// RGB, unusual sampling...).
    General,
    /// A valid frame that no decoder here gets right: refused, with why.
    Unsupported(String),
}

/// Reads the marker segments up to the first scan; `std_dht` holds the
/// standard Huffman tables used when the frame has none.
pub(crate) fn parse(d: &[u8], std_dht: &[u8]) -> Result<Parsed> {
    if d.len() < 4 || d[0] != 0xFF || d[1] != 0xD8 {
        return Err(corrupt("no JPEG SOI marker"));
    }
    let mut f = Frame {
        width: 0,
        height: 0,
        comps: Vec::new(),
        qt: [[0; 64]; 4],
        dc: [None; 4],
        ac: [None; 4],
        tables: Vec::new(),
        restart: 0,
        scan: 0,
    };
    let mut have_qt = [false; 4];
    let mut have_sof = false;
    let mut i = 2;
    loop {
        while d.get(i) == Some(&0xFF) && d.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if i + 4 > d.len() || d[i] != 0xFF {
            return Err(corrupt(format!("bad marker at byte {i}")));
        }
        let m = d[i + 1];
        let len = be16(d, i + 2)?;
        if len < 2 || i + 2 + len > d.len() {
            return Err(corrupt(format!("segment length {len} at byte {i} runs past the frame")));
        }
        let seg = &d[i + 4..i + 2 + len];
        match m {
            // Baseline and extended sequential DCT, Huffman coded.
            0xC0 | 0xC1 => {
                if seg.len() < 6 {
                    return Err(corrupt("short frame header"));
                }
                if seg[0] != 8 {
                    return Ok(Parsed::General);
                }
                f.height = be16(seg, 1)?;
                f.width = be16(seg, 3)?;
                let n = seg[5] as usize;
                if f.height == 0 || f.width == 0 || !(n == 1 || n == 3) {
                    // Height 0 (DNL), CMYK and two-component frames: rare,
                    // left to the general decoder.
                    return Ok(Parsed::General);
                }
                if seg.len() < 6 + 3 * n {
                    return Err(corrupt("short frame header"));
                }
                for c in seg[6..6 + 3 * n].chunks_exact(3) {
                    let (h, v, tq) = ((c[1] >> 4) as usize, (c[1] & 15) as usize, c[2] as usize);
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
                        return Err(corrupt("bad sampling factor or table in the frame header"));
                    }
                    f.comps.push(Component { id: c[0], h, v, tq, ..Default::default() });
                }
                // libjpeg reads components named 'R', 'G', 'B' as RGB, not
                // YCbCr: their grey is not component 0.
                if n == 3 && f.comps.iter().map(|c| c.id).eq(*b"RGB") {
                    return Ok(Parsed::General);
                }
                have_sof = true;
            }
            // Progressive Huffman: the general decoder.
            0xC2 => return Ok(Parsed::General),
            // Lossless and hierarchical (differential) frames.
            0xC3 | 0xC5..=0xC7 => {
                return Ok(Parsed::Unsupported(format!("lossless or hierarchical JPEG (SOF{})", m - 0xC0)));
            }
            // Arithmetic coding (SOF9-SOF11, SOF13-SOF15).
            0xC9..=0xCB | 0xCD..=0xCF => {
                return Ok(Parsed::Unsupported(format!("arithmetic-coded JPEG (SOF{})", m - 0xC0)));
            }
            0xC4 => read_dht(seg, &mut f)?,
            0xDB => {
                let mut s = seg;
                while !s.is_empty() {
                    let (pq, tq) = ((s[0] >> 4) as usize, (s[0] & 15) as usize);
                    let n = if pq == 0 { 64 } else { 128 };
                    if tq > 3 || pq > 1 || s.len() < 1 + n {
                        return Err(corrupt("bad quantisation table"));
                    }
                    for k in 0..64 {
                        f.qt[tq][k] = if pq == 0 { s[1 + k] as i32 } else { be16(s, 1 + 2 * k)? as i32 };
                    }
                    have_qt[tq] = true;
                    s = &s[1 + n..];
                }
            }
            0xDD => f.restart = be16(seg, 0)?,
            // Adobe APP14 with transform 0: the three components are RGB.
            0xEE if seg.len() >= 12 && &seg[..5] == b"Adobe" && seg[11] == 0 && f.comps.len() != 1 => {
                return Ok(Parsed::General);
            }
            0xDA => {
                if !have_sof {
                    return Err(corrupt("scan before the frame header"));
                }
                let ns = *seg.first().ok_or_else(|| corrupt("empty scan header"))? as usize;
                if ns != f.comps.len() {
                    // Non-interleaved (one scan per component, `cjpeg
                    // -scans`): the general decoder returns a wrong picture
                    // for these, so they are refused.
                    return Ok(Parsed::Unsupported(format!(
                        "sequential JPEG in several scans (the first has {ns} of the {} components): only frames with one interleaved scan are supported",
                        f.comps.len()
                    )));
                }
                if seg.len() < 1 + 2 * ns + 3 {
                    return Err(corrupt("short scan header"));
                }
                for (j, c) in seg[1..1 + 2 * ns].chunks_exact(2).enumerate() {
                    let comp = &mut f.comps[j];
                    if comp.id != c[0] {
                        // Scan order differing from frame order: rare.
                        return Ok(Parsed::General);
                    }
                    (comp.td, comp.ta) = ((c[1] >> 4) as usize, (c[1] & 15) as usize);
                    if comp.td > 3 || comp.ta > 3 {
                        return Err(corrupt("bad Huffman table index in the scan header"));
                    }
                }
                let (ss, se, a) = (seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns]);
                if (ss, se, a) != (0, 63, 0) {
                    return Err(corrupt("sequential scan with a spectral selection"));
                }
                if f.dc.iter().chain(&f.ac).all(Option::is_none) {
                    // No DHT at all: the AVI MJPEG convention.
                    read_dht(&std_dht[4..], &mut f)?;
                }
                for c in &f.comps {
                    if f.dc[c.td].is_none() || f.ac[c.ta].is_none() {
                        return Err(corrupt("scan uses a Huffman table that was never defined"));
                    }
                    if !have_qt[c.tq] {
                        return Err(corrupt("frame uses a quantisation table that was never defined"));
                    }
                }
                f.scan = i + 2 + len;
                return Ok(Parsed::Ours(f));
            }
            0xD9 => return Err(corrupt("EOI before any image data")),
            _ => {}
        }
        i += 2 + len;
    }
}

/// Whether the frame's three components are R, G and B rather than Y, Cb
/// and Cr (component ids 'R', 'G', 'B', or an Adobe APP14 marker with
/// transform 0), as libjpeg decides it; `false` for anything unreadable.
pub(crate) fn is_rgb(d: &[u8]) -> bool {
    let (mut i, mut adobe_rgb, mut ids_rgb, mut three) = (2, false, false, false);
    while i + 4 <= d.len() && d[i] == 0xFF {
        let (m, len) = (d[i + 1], u16::from_be_bytes([d[i + 2], d[i + 3]]) as usize);
        let Some(seg) = d.get(i + 4..i + 2 + len.max(2)) else { break };
        match m {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF if seg.len() >= 6 => {
                three = seg[5] == 3;
                ids_rgb = three && seg.len() >= 15 && [seg[6], seg[9], seg[12]] == *b"RGB";
            }
            0xEE if seg.len() >= 12 && &seg[..5] == b"Adobe" => adobe_rgb = seg[11] == 0,
            0xDA => break,
            _ => {}
        }
        i += 2 + len.max(2);
    }
    three && (ids_rgb || adobe_rgb)
}

fn read_dht(mut s: &[u8], f: &mut Frame) -> Result<()> {
    while !s.is_empty() {
        if s.len() < 17 {
            return Err(corrupt("short Huffman table"));
        }
        let (tc, th) = ((s[0] >> 4) as usize, (s[0] & 15) as usize);
        if tc > 1 || th > 3 {
            return Err(corrupt("bad Huffman table class or index"));
        }
        let counts: [u8; 16] = s[1..17].try_into().map_err(|_| corrupt("short Huffman table"))?;
        let n: usize = counts.iter().map(|&c| c as usize).sum();
        let syms = s.get(17..17 + n).ok_or_else(|| corrupt("short Huffman table"))?;
        let t = Huffman::new(&counts, syms, tc == 1)?;
        let slot = if tc == 0 { &mut f.dc[th] } else { &mut f.ac[th] };
        *slot = Some(f.tables.len());
        f.tables.push(t);
        s = &s[17 + n..];
    }
    Ok(())
}

/// Copies the entropy-coded data that starts at `d[start..]` into `out`
/// without its byte stuffing (`FF 00` → `FF`), recording in `segs` where
/// each restart interval starts, and stops at the first other marker.
/// `out` ends with 8 zero bytes of padding.
pub(crate) fn unstuff(d: &[u8], start: usize, out: &mut Vec<u8>, segs: &mut Vec<usize>) {
    out.clear();
    segs.clear();
    segs.push(0);
    let mut i = start.min(d.len());
    loop {
        // Copy up to the next 0xFF. Whole 32-byte chunks are tested with
        // a loop LLVM vectorises (no early exit), so the scan runs at close
        // to copy speed; 0xFF is about one byte in 256 of coded data.
        let rest = &d[i..];
        let mut run = 0;
        for c in rest.chunks_exact(32) {
            if c.iter().fold(false, |a, &b| a | (b == 0xFF)) {
                break;
            }
            run += 32;
        }
        run += rest[run..].iter().position(|&b| b == 0xFF).unwrap_or(rest.len() - run);
        out.extend_from_slice(&d[i..i + run]);
        i += run;
        if i + 1 >= d.len() {
            break;
        }
        match d[i + 1] {
            0x00 => {
                out.push(0xFF);
                i += 2;
            }
            // Fill bytes before a marker.
            0xFF => i += 1,
            0xD0..=0xD7 => {
                segs.push(out.len());
                i += 2;
            }
            _ => break,
        }
    }
    out.extend_from_slice(&[0; 8]);
}

/// Reusable buffers of the decoder.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scratch {
    data: Vec<u8>,
    segs: Vec<usize>,
    /// Decoded component planes (RGB output), padded to whole MCUs.
    planes: [Vec<u8>; 3],
    /// One upsampled chroma row each.
    rows: [Vec<u8>; 2],
    /// Column sums for the upsampler.
    sums: Vec<u16>,
}

/// Decodes `frame` (parsed from `d`) into the GREY image `out` of the
/// frame's size, with rows `stride` bytes apart.
pub(crate) fn decode_gray(d: &[u8], f: &Frame, out: &mut [u8], stride: usize, sc: &mut Scratch) -> Result<()> {
    let (w, h) = (f.width, f.height);
    if stride < w || out.len() < stride * (h - 1) + w {
        return Err(FilterError::Geometry(format!("output too small for a {w}x{h} frame")));
    }
    unstuff(d, f.scan, &mut sc.data, &mut sc.segs);
    // The real data ends before the 8 padding bytes.
    let real = sc.data.len() - 8;
    let avx2 = simd::have_avx2();
    let single = f.comps.len() == 1;
    let hmax = f.comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = f.comps.iter().map(|c| c.v).max().unwrap_or(1);
    // A single-component scan is not interleaved: its MCU is one block
    // (T.81 A.2.2), whatever its sampling factors say.
    let (bh, bv) = if single { (1, 1) } else { (f.comps[0].h, f.comps[0].v) };
    let (mw, mh) = if single { (8, 8) } else { (8 * hmax, 8 * vmax) };
    let (mcus_x, mcus_y) = (w.div_ceil(mw), h.div_ceil(mh));
    let tables = |c: &Component| (&f.tables[f.dc[c.td].unwrap_or(0)], &f.tables[f.ac[c.ta].unwrap_or(0)]);
    let y = &f.comps[0];
    let (ydc, yac) = tables(y);
    let yq = &f.qt[y.tq];
    // Chroma: (DC table, AC table, blocks per MCU).
    let skip: Vec<(&Huffman, &Huffman, usize)> = f.comps[1..]
        .iter()
        .map(|c| {
            let (dc, ac) = tables(c);
            (dc, ac, c.h * c.v)
        })
        .collect();

    let mut bits = Bits::new(&sc.data[..real]);
    let mut seg = 0;
    let mut pred = 0i32;
    let mut coef = [0i32; 64];
    let mut tmp = [0u8; 64];
    let total = mcus_x * mcus_y;
    for m in 0..total {
        if f.restart > 0 && m > 0 && m % f.restart == 0 {
            seg += 1;
            bits = restart(&sc.data[..real], &sc.segs, seg)?;
            pred = 0;
        }
        let (mx, my) = (m % mcus_x, m / mcus_x);
        for by in 0..bv {
            for bx in 0..bh {
                coef.fill(0);
                let last = decode_block::<true>(&mut bits, ydc, yac, yq, &mut pred, &mut coef)?;
                let (x0, y0) = (mx * 8 * bh + 8 * bx, my * 8 * bv + 8 * by);
                if x0 >= w || y0 >= h {
                    // Padding blocks beyond the picture (still decoded).
                    continue;
                }
                if x0 + 8 <= w && y0 + 8 <= h {
                    idct(&coef, last, &mut out[y0 * stride + x0..], stride, avx2);
                } else {
                    idct(&coef, last, &mut tmp, 8, avx2);
                    let (cw, ch) = (8.min(w - x0), 8.min(h - y0));
                    for r in 0..ch {
                        out[(y0 + r) * stride + x0..][..cw].copy_from_slice(&tmp[8 * r..8 * r + cw]);
                    }
                }
            }
        }
        for &(dc, ac, n) in &skip {
            for _ in 0..n {
                decode_block::<false>(&mut bits, dc, ac, yq, &mut pred, &mut coef)?;
            }
        }
        if bits.exhausted() {
            return Err(corrupt(format!("scan data ends at MCU {m} of {total} (truncated frame)")));
        }
    }
    Ok(())
}

/// Decodes `frame` into the RGB24 image `out` (rows `stride` apart), the
/// way libjpeg does by default: every component through the same IDCT,
/// chroma upsampled with libjpeg's "fancy" (triangle) filter, and
/// libjpeg's YCbCr -> RGB arithmetic, so the result is bit-exact with
/// OpenCV. Greyscale frames are repeated into R, G and B, as libjpeg does.
/// Returns `Ok(false)` for sampling layouts other than 4:4:4, 4:2:2 and
/// 4:2:0 (left to the general decoder).
pub(crate) fn decode_rgb(d: &[u8], f: &Frame, out: &mut [u8], stride: usize, sc: &mut Scratch) -> Result<bool> {
    let (w, h) = (f.width, f.height);
    if stride < 3 * w || out.len() < stride * (h - 1) + 3 * w {
        return Err(FilterError::Geometry(format!("output too small for a {w}x{h} RGB frame")));
    }
    if f.comps.len() == 1 {
        // A greyscale JPEG: libjpeg repeats the grey in R, G and B.
        let mut grey = std::mem::take(&mut sc.planes[0]);
        grey.resize(w * h, 0);
        let r = decode_gray(d, f, &mut grey, w, sc);
        for (row, g) in out.chunks_mut(stride).zip(grey.chunks_exact(w)).take(h) {
            for (o, &v) in row[..3 * w].chunks_exact_mut(3).zip(g) {
                o.fill(v);
            }
        }
        sc.planes[0] = grey;
        return r.map(|()| true);
    }
    if f.comps.len() != 3 || f.comps[1..].iter().any(|c| (c.h, c.v) != (1, 1)) {
        return Ok(false);
    }
    let (h0, v0) = (f.comps[0].h, f.comps[0].v);
    if !matches!((h0, v0), (1, 1) | (2, 1) | (2, 2)) {
        return Ok(false);
    }
    unstuff(d, f.scan, &mut sc.data, &mut sc.segs);
    let real = sc.data.len() - 8;
    let avx2 = simd::have_avx2();
    let (mcus_x, mcus_y) = (w.div_ceil(8 * h0), h.div_ceil(8 * v0));
    // Plane widths and heights, whole MCUs.
    let pw: [usize; 3] = std::array::from_fn(|c| mcus_x * 8 * f.comps[c].h);
    for (c, plane) in sc.planes.iter_mut().enumerate() {
        plane.resize(pw[c] * mcus_y * 8 * f.comps[c].v, 0);
    }
    let tables = |c: &Component| (&f.tables[f.dc[c.td].unwrap_or(0)], &f.tables[f.ac[c.ta].unwrap_or(0)]);
    let mut bits = Bits::new(&sc.data[..real]);
    let mut seg = 0;
    let mut preds = [0i32; 3];
    let mut coef = [0i32; 64];
    let total = mcus_x * mcus_y;
    for m in 0..total {
        if f.restart > 0 && m > 0 && m % f.restart == 0 {
            seg += 1;
            bits = restart(&sc.data[..real], &sc.segs, seg)?;
            preds = [0; 3];
        }
        let (mx, my) = (m % mcus_x, m / mcus_x);
        for (c, comp) in f.comps.iter().enumerate() {
            let (dc, ac) = tables(comp);
            let q = &f.qt[comp.tq];
            for by in 0..comp.v {
                for bx in 0..comp.h {
                    coef.fill(0);
                    let last = decode_block::<true>(&mut bits, dc, ac, q, &mut preds[c], &mut coef)?;
                    let (x0, y0) = (mx * 8 * comp.h + 8 * bx, my * 8 * comp.v + 8 * by);
                    idct(&coef, last, &mut sc.planes[c][y0 * pw[c] + x0..], pw[c], avx2);
                }
            }
        }
        if bits.exhausted() {
            return Err(corrupt(format!("scan data ends at MCU {m} of {total} (truncated frame)")));
        }
    }
    // Chroma size in samples, as libjpeg's `downsampled_width/height`.
    let (cw, ch) = (w.div_ceil(h0), h.div_ceil(v0));
    let [yp, cbp, crp] = &sc.planes;
    let [cbrow, crrow] = &mut sc.rows;
    let sums = &mut sc.sums;
    cbrow.resize(2 * cw.max(1), 0);
    crrow.resize(2 * cw.max(1), 0);
    // libjpeg's fancy upsampling reads a neighbour on each side, so it
    // runs only for chroma rows of more than two samples (`jdsample.c`:
    // `do_fancy && downsampled_width > 2`); narrower frames (1 to 4 pixels
    // wide) are upsampled by replication, rows and columns alike.
    let fancy = cw > 2;
    for y in 0..h {
        let yrow = &yp[y * pw[0]..][..w];
        let o = &mut out[y * stride..][..3 * w];
        if h0 == 2 && !fancy {
            let cy = if v0 == 2 { y / 2 } else { y };
            for (row, plane, p) in [(&mut *cbrow, cbp, pw[1]), (&mut *crrow, crp, pw[2])] {
                for (pair, &c) in row.chunks_exact_mut(2).zip(&plane[cy * p..][..cw]) {
                    pair.fill(c);
                }
            }
            ycc_to_rgb(yrow, &cbrow[..w], &crrow[..w], o);
            continue;
        }
        let (cy, other) = match v0 {
            // The nearer chroma row and, for 4:2:0, the next nearer one
            // (above for even rows, below for odd), edges repeated.
            2 => (y / 2, if y % 2 == 0 { (y / 2).saturating_sub(1) } else { (y / 2 + 1).min(ch - 1) }),
            _ => (y, y),
        };
        let (cb, cr) = if h0 == 1 {
            (&cbp[cy * pw[1]..][..w], &crp[cy * pw[2]..][..w])
        } else {
            for (row, plane, p) in [(&mut *cbrow, cbp, pw[1]), (&mut *crrow, crp, pw[2])] {
                let near = &plane[cy * p..][..p];
                if v0 == 2 {
                    column_sums(near, Some(&plane[other * p..][..p]), cw, sums);
                    upsample_h2v2(sums, row);
                } else {
                    column_sums(near, None, cw, sums);
                    upsample_h2v1(sums, row);
                }
            }
            (&cbrow[..w], &crrow[..w])
        };
        ycc_to_rgb(yrow, cb, cr, o);
    }
    Ok(true)
}

/// The reader for restart interval `seg`, or an error if its marker is
/// missing.
fn restart<'a>(data: &'a [u8], segs: &[usize], seg: usize) -> Result<Bits<'a>> {
    match segs.get(seg) {
        Some(&at) => Ok(Bits::new(&data[at..])),
        None => Err(corrupt(format!("restart marker {seg} missing"))),
    }
}

/// libjpeg's "fancy" upsampling of one chroma row to twice its width
/// (`h2v1_fancy_upsample` and `h2v2_fancy_upsample` in `jdsample.c`).
/// `sums` holds the row's `cw` column values with the edge values
/// repeated on both sides (`cw + 2` values): the samples themselves for
/// 4:2:2, and 3 x nearer row + further row for 4:2:0. Each value becomes
/// two outputs, 3/4 of it plus 1/4 of its neighbour on that side, rounded
/// as libjpeg rounds (+1/+2 >> 2, or +8/+7 >> 4); with the repeated edges
/// the edge cases of `jdsample.c` come out the same.
#[inline(always)]
fn upsample_kernel<const SHIFT: u32, const EVEN: u16, const ODD: u16>(sums: &[u16], out: &mut [u8]) {
    for (o, w) in out.chunks_exact_mut(2).zip(sums.windows(3)) {
        let c = 3 * w[1];
        o[0] = ((c + w[0] + EVEN) >> SHIFT) as u8;
        o[1] = ((c + w[2] + ODD) >> SHIFT) as u8;
    }
}
crate::simd_dispatch!(fn upsample_h2v1(sums: &[u16], out: &mut [u8]) = upsample_kernel::<2, 1, 2>;);
crate::simd_dispatch!(fn upsample_h2v2(sums: &[u16], out: &mut [u8]) = upsample_kernel::<4, 8, 7>;);

/// Fills `sums` for [`upsample_h2v1`] / [`upsample_h2v2`]: `cw` column
/// values (`near[i]`, or `3 * near[i] + far[i]`) with the edges repeated.
fn column_sums(near: &[u8], far: Option<&[u8]>, cw: usize, sums: &mut Vec<u16>) {
    sums.clear();
    sums.push(0);
    match far {
        Some(far) => sums.extend(near[..cw].iter().zip(&far[..cw]).map(|(&n, &f)| 3 * n as u16 + f as u16)),
        None => sums.extend(near[..cw].iter().map(|&n| n as u16)),
    }
    sums[0] = sums[1];
    sums.push(sums[cw]);
}

#[inline(always)]
fn ycc_to_rgb_kernel(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    // libjpeg's `ycc_rgb_convert` (`jdcolor.c`) with its tables written
    // out: 16-bit fixed point, FIX(1.40200) = 91881, FIX(1.77200) =
    // 116130, FIX(0.34414) = 22554, FIX(0.71414) = 46802.
    for (((o, &y), &cb), &cr) in out.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
        let (y, cb, cr) = (y as i32, cb as i32 - 128, cr as i32 - 128);
        let r = y + ((91881 * cr + 32768) >> 16);
        let g = y + ((-22554 * cb - 46802 * cr + 32768) >> 16);
        let b = y + ((116130 * cb + 32768) >> 16);
        o[0] = r.clamp(0, 255) as u8;
        o[1] = g.clamp(0, 255) as u8;
        o[2] = b.clamp(0, 255) as u8;
    }
}
crate::simd_dispatch!(fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) = ycc_to_rgb_kernel;);

/// Decodes one block's coefficients, dequantised, into `coef` (natural
/// order, zeroed by the caller). Returns one past the last zig-zag
/// position written (1 for a DC-only block). With `KEEP` false the block's
/// codes are only read past: nothing is stored, dequantised or predicted
/// (the chroma blocks of a GREY decode), and the stores compile away.
#[inline(always)]
fn decode_block<const KEEP: bool>(
    bits: &mut Bits,
    dc: &Huffman,
    ac: &Huffman,
    q: &[i32; 64],
    pred: &mut i32,
    coef: &mut [i32; 64],
) -> Result<usize> {
    let mut local = *bits;
    let r = &mut local;
    r.refill();
    let s = dc.decode(r).ok_or_else(|| corrupt("bad DC Huffman code"))? as u32;
    if s > 11 {
        return Err(corrupt("DC difference wider than 11 bits"));
    }
    let v = r.bits(s);
    if KEEP {
        *pred = pred.wrapping_add(extend(v, s));
        coef[0] = pred.wrapping_mul(q[0]);
    }
    let mut k = 1usize;
    let mut last = 1;
    while k < 64 {
        r.refill();
        let e = ac.fast_ac[r.peek(FAST_BITS) as usize];
        if e != 0 {
            k += ((e >> 8) & 255) as usize;
            r.consume((e & 255) as u32);
            if KEEP {
                let z = k & 63;
                coef[UNZIGZAG[z]] = (e >> 16) * q[z];
            }
            k += 1;
            last = k;
            continue;
        }
        let rs = ac.decode(r).ok_or_else(|| corrupt("bad AC Huffman code"))? as u32;
        let (run, size) = ((rs >> 4) as usize, rs & 15);
        if size == 0 {
            if run == 15 {
                k += 16;
                continue;
            }
            break;
        }
        k += run;
        let v = extend(r.bits(size), size);
        if KEEP {
            let z = k & 63;
            coef[UNZIGZAG[z]] = v * q[z];
        }
        k += 1;
        last = k;
    }
    *bits = local;
    Ok(last.min(64))
}

/// The inverse DCT of one block into 8 rows of 8 bytes `stride` apart.
/// `last` (from [`decode_block`]) of 1 means only the DC is set.
#[inline(always)]
fn idct(coef: &[i32; 64], last: usize, out: &mut [u8], stride: usize, avx2: bool) {
    if last <= 1 {
        // libjpeg's shortcuts for all-zero AC columns and rows give exactly
        // this for a DC-only block: ((dc << 2) + 16) >> 5, level-shifted.
        let v = (((coef[0] as i64 + 4) >> 3) + 128).clamp(0, 255) as u8;
        for r in 0..8 {
            out[r * stride..r * stride + 8].fill(v);
        }
        return;
    }
    simd::idct_islow(coef, out, stride, avx2);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard luminance DC table of T.81 Table K.3 gives the codes of
    /// Table K.3 (e.g. category 0 is `00`, 5 is `110`, 11 is `111111110`).
    #[test]
    fn huffman_codes_of_the_standard_dc_table() {
        let counts = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
        let syms = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let t = Huffman::new(&counts, &syms, false).unwrap();
        for (code, len, sym) in
            [(0b00u64, 2u32, 0u8), (0b010, 3, 1), (0b110, 3, 5), (0b1110, 4, 6), (0b111111110, 9, 11)]
        {
            let data = (code << (64 - len)).to_be_bytes();
            let mut b = Bits::new(&data);
            assert_eq!(t.decode(&mut b), Some(sym), "code {code:b}");
            assert_eq!(b.count, 56 - len, "consumed {len} bits");
        }
    }

    /// AC codes longer than the fast table (the standard luminance AC table
    /// has 16-bit codes) go through the slow path.
    #[test]
    fn long_ac_codes_decode_through_the_slow_path() {
        let dht = &super::super::STD_DHT;
        let mut f = Frame {
            width: 8,
            height: 8,
            comps: vec![],
            qt: [[1; 64]; 4],
            dc: [None; 4],
            ac: [None; 4],
            tables: vec![],
            restart: 0,
            scan: 0,
        };
        read_dht(&dht[4..], &mut f).unwrap();
        let ac = &f.tables[f.ac[0].unwrap()];
        // Table K.5: run/size F/A (0xFA) has the last code,
        // 1111111111111110 (16 bits).
        let data = (0b1111111111111110u64 << 48).to_be_bytes();
        let mut b = Bits::new(&data);
        assert_eq!(ac.decode(&mut b), Some(0xFA));
        // And EOB is 1010.
        let data = (0b1010u64 << 60).to_be_bytes();
        let mut b = Bits::new(&data);
        assert_eq!(ac.decode(&mut b), Some(0x00));
    }

    #[test]
    fn extend_follows_t81_f_2_2_1() {
        assert_eq!(extend(0, 1), -1);
        assert_eq!(extend(1, 1), 1);
        assert_eq!(extend(0b011, 3), -4);
        assert_eq!(extend(0b100, 3), 4);
        assert_eq!(extend(0, 11), -2047);
    }

    #[test]
    fn unstuff_removes_stuffing_and_splits_at_restarts() {
        let d = [0xFF, 0xD8, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD1, 0x78, 0xFF, 0xD9];
        let (mut out, mut segs) = (Vec::new(), Vec::new());
        unstuff(&d, 2, &mut out, &mut segs);
        assert_eq!(out, [0x12, 0xFF, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(segs, [0, 3, 4]);
    }
}
