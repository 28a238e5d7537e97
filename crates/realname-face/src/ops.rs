//! NHWC (batch 1) feature maps and the layer kernels the four nets need: im2col + candle matmul
//! convolutions, direct depthwise 3×3, pooling, per-channel affine + activations, TF "SAME" padding.

use candle_core::{Storage, Tensor};

use crate::FaceError;

/// A `h × w × c` float feature map, channels innermost (TensorFlow NHWC without the batch).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fmap {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Fmap {
    pub(crate) fn zeros(h: usize, w: usize, c: usize) -> Self {
        let mut data = buffer(h * w * c);
        data.resize(h * w * c, 0.0);
        Self { h, w, c, data }
    }

    /// The values, the map's buffer left to the pool.
    pub(crate) fn into_data(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
    }
}

/// A feature map's buffer goes back to this thread's pool ([`buffer`]).
impl Drop for Fmap {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

/// Buffers kept per thread for the next maps: a net's layers allocate and free maps of the same
/// few sizes on every call, and a fresh large allocation costs page faults the kernel zeroes
/// (a tenth of the SSD's time). At most [`POOL_BUFFERS`] buffers of at least [`POOL_MIN`] floats.
const POOL_BUFFERS: usize = 6;
/// Smaller buffers are left to the allocator.
const POOL_MIN: usize = 1 << 14;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer with room for `n` floats: the smallest pooled one that fits, or a new one.
pub(crate) fn buffer(n: usize) -> Vec<f32> {
    if n >= POOL_MIN {
        let pooled = POOL.with(|p| {
            let mut p = p.borrow_mut();
            let best = p.iter().enumerate().filter(|(_, b)| b.capacity() >= n).min_by_key(|(_, b)| b.capacity());
            best.map(|(i, _)| i).map(|i| p.swap_remove(i))
        });
        if let Some(b) = pooled {
            return b;
        }
    }
    Vec::with_capacity(n)
}

/// Gives `v` back to this thread's pool (the smallest pooled buffer leaves when it is full).
pub(crate) fn recycle(mut v: Vec<f32>) {
    if v.capacity() < POOL_MIN {
        return;
    }
    v.clear();
    // try_with: a map dropped while the thread's locals are being destroyed is simply freed.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        p.push(v);
        if p.len() > POOL_BUFFERS
            && let Some(i) = p.iter().enumerate().min_by_key(|(_, b)| b.capacity()).map(|(i, _)| i)
        {
            p.swap_remove(i);
        }
    });
}

/// Zero padding rows/cols `(top, bottom, left, right)` applied around the input of a conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pad {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Pad {
    pub(crate) const NONE: Pad = Pad { top: 0, bottom: 0, left: 0, right: 0 };
    pub(crate) const ONE: Pad = Pad { top: 1, bottom: 1, left: 1, right: 1 };

    /// TensorFlow "SAME" padding for a square `k × k` window with stride `s` on an `h × w` input
    /// (tfjs `computePadding`: out = ceil(in / s), total = max(0, (out − 1)·s + k − in),
    /// before = total / 2, after = the rest).
    pub(crate) fn same(h: usize, w: usize, k: usize, s: usize) -> Pad {
        let one = |n: usize| {
            let out = n.div_ceil(s);
            let total = ((out.saturating_sub(1)) * s + k).saturating_sub(n);
            (total / 2, total - total / 2)
        };
        let (top, bottom) = one(h);
        let (left, right) = one(w);
        Pad { top, bottom, left, right }
    }
}

/// Activation applied after a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    None,
    Relu,
    /// clamp(x, 0, 6) (MobileNet).
    Relu6,
    /// Leaky ReLU with slope 0.1, evaluated as face-api does: relu(x − 0.1x) + 0.1x.
    Leaky,
}

#[inline]
fn activate(v: f32, act: Act) -> f32 {
    match act {
        Act::None => v,
        Act::Relu => v.max(0.0),
        Act::Relu6 => v.clamp(0.0, 6.0),
        Act::Leaky => {
            let a = 0.1f32 * v;
            (v - a).max(0.0) + a
        }
    }
}

/// Runs `f` compiled for AVX-512 when the CPU has it (the element-wise kernels are
/// auto-vectorised 16 lanes wide instead of SSE2's 4). Every lane computes what the scalar code
/// computes, operation for operation (Rust never fuses a multiply and an add), so the results
/// are the same bits on either path.
#[inline(always)]
pub(crate) fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        #[allow(unsafe_code)]
        return unsafe { avx512(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

fn out_size(n: usize, k: usize, s: usize, before: usize, after: usize) -> usize {
    (n + before + after).saturating_sub(k) / s + 1
}

/// Runs `f` on the contiguous f32 CPU data of a candle tensor (the weights live in candle tensors;
/// the hot products read them in place instead of copying).
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R, FaceError> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(cpu), Some((start, end))) => Ok(f(&cpu.as_slice::<f32>()?[start..end])),
        _ => Err(FaceError::Inference("weight tensor is not contiguous f32 on the CPU".into())),
    }
}

/// Appends `a [m, k] · b [k, n]` (all row-major) to `dst` through the `gemm` crate (candle's own
/// CPU matmul kernel), on as many threads as candle would use (`RAYON_NUM_THREADS`) or
/// [`crate::with_threads`] allows. The
/// product is written straight into `dst`'s spare capacity, never zeroed first.
#[allow(unsafe_code)]
pub(crate) fn matmul_append(dst: &mut Vec<f32>, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    assert!(a.len() == m * k && b.len() == k * n, "matmul shapes");
    if m == 0 || n == 0 || k == 0 {
        dst.resize(dst.len() + m * n, 0.0);
        return;
    }
    dst.reserve(m * n);
    let spare = &mut dst.spare_capacity_mut()[..m * n];
    let threads = crate::threads::kernel_threads();
    let parallelism =
        if threads > 1 && m * n * k > 1 << 20 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: `a` and `b` hold exactly m·k and k·n elements (asserted above) laid out row-major
    // with the strides passed (column stride 1, row stride = row length); `spare` is m·n elements
    // of `dst`'s reserved capacity, a unique borrow that cannot alias `a` or `b`, row stride n.
    // With read_dst = false gemm only writes dst, every one of its m·n elements (dst = 1·a·b),
    // so they are all initialised when the length is extended over them.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            spare.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
        dst.set_len(dst.len() + m * n);
    }
}

/// Output rows per im2col band: keeps the patch matrix around 1 MB (cache-sized) instead of
/// materialising it for the whole image.
fn band_rows(ow: usize, kk: usize) -> usize {
    ((1 << 18) / (ow * kk).max(1)).max(1)
}

/// 2-D convolution of `x` with a square `k × k` kernel given as the `[k·k·c_in, c_out]` matrix of
/// its HWIO weights, stride `s`, explicit zero padding (banded im2col + GEMM; 1×1 convs multiply
/// the input directly), then `affine`, applied to each band of output rows right after its
/// product while it is in cache. The output buffer is written once, never zeroed first.
pub(crate) fn conv2d_affine(
    x: &Fmap,
    w: &Tensor,
    k: usize,
    s: usize,
    pad: Pad,
    affine: Option<Affine<'_>>,
) -> Result<Fmap, FaceError> {
    let (rows, c_out) = w.dims2()?;
    if rows != k * k * x.c {
        return Err(FaceError::Inference(format!("conv kernel has {rows} rows, input needs {}", k * k * x.c)));
    }
    let oh = out_size(x.h, k, s, pad.top, pad.bottom);
    let ow = out_size(x.w, k, s, pad.left, pad.right);
    let mut data: Vec<f32> = buffer(oh * ow * c_out);
    with_f32(w, |wd| {
        if k == 1 && s == 1 && pad == Pad::NONE {
            // Bands of pixels whose output fits in L2, so that the affine finds it there; the
            // weights are packed again per band, so a band has at least 4 rows per input channel
            // (the deep layers' small maps stay one product).
            let m = x.h * x.w;
            let band = if affine.is_some() { ((1 << 16) / c_out.max(1)).max(4 * x.c).min(m) } else { m };
            let mut p0 = 0;
            while p0 < m {
                let rows_here = band.min(m - p0);
                let done = data.len();
                matmul_append(&mut data, &x.data[p0 * x.c..(p0 + rows_here) * x.c], wd, rows_here, x.c, c_out);
                if let Some(a) = affine {
                    a.apply(&mut data[done..], c_out);
                }
                p0 += rows_here;
            }
            return;
        }
        let c = x.c;
        let kk = k * k * c;
        let band = band_rows(ow, kk).min(oh);
        let mut cols = buffer(band * ow * kk);
        cols.resize(band * ow * kk, 0.0);
        let mut oy0 = 0;
        while oy0 < oh {
            let rows_here = band.min(oh - oy0);
            let cols = &mut cols[..rows_here * ow * kk];
            for by in 0..rows_here {
                let oy = oy0 + by;
                for ox in 0..ow {
                    let row = &mut cols[(by * ow + ox) * kk..(by * ow + ox + 1) * kk];
                    // Valid kx range for this output column: the taps inside the image form one
                    // contiguous run of the NHWC row, copied at once; padded taps are zeroed.
                    let ix0 = (ox * s) as isize - pad.left as isize;
                    let kx_lo = (-ix0).clamp(0, k as isize) as usize;
                    let kx_hi = (x.w as isize - ix0).clamp(0, k as isize) as usize;
                    for ky in 0..k {
                        let seg = &mut row[ky * k * c..(ky + 1) * k * c];
                        let iy = (oy * s + ky) as isize - pad.top as isize;
                        if iy < 0 || iy >= x.h as isize || kx_lo >= kx_hi {
                            seg.fill(0.0);
                            continue;
                        }
                        seg[..kx_lo * c].fill(0.0);
                        seg[kx_hi * c..].fill(0.0);
                        let src = (iy as usize * x.w) * c + ((ix0 + kx_lo as isize) as usize) * c;
                        seg[kx_lo * c..kx_hi * c].copy_from_slice(&x.data[src..src + (kx_hi - kx_lo) * c]);
                    }
                }
            }
            let done = data.len();
            matmul_append(&mut data, cols, wd, rows_here * ow, kk, c_out);
            if let Some(a) = affine {
                a.apply(&mut data[done..], c_out);
            }
            oy0 += rows_here;
        }
        recycle(cols);
    })?;
    Ok(Fmap { h: oh, w: ow, c: c_out, data })
}

/// Depthwise 3×3 convolution (`kernel` = the `[3, 3, C, 1]` weights, flat), stride `s`, zero padding.
pub(crate) fn depthwise3x3(x: &Fmap, kernel: &[f32], s: usize, pad: Pad) -> Fmap {
    depthwise3x3_affine(x, kernel, s, pad, None)
}

/// Depthwise 3×3 convolution followed by `affine`, one output row at a time: its taps are summed
/// in a row accumulator (from 0, taps in kernel order, as a zeroed output summed in place),
/// `affine` applied while the row is in cache, and the row appended to the output.
pub(crate) fn depthwise3x3_affine(x: &Fmap, kernel: &[f32], s: usize, pad: Pad, affine: Option<Affine<'_>>) -> Fmap {
    vectorised(
        #[inline(always)]
        || depthwise_kernel(x, kernel, s, pad, affine),
    )
}

#[inline(always)]
fn depthwise_kernel(x: &Fmap, kernel: &[f32], s: usize, pad: Pad, affine: Option<Affine<'_>>) -> Fmap {
    let c = x.c;
    let oh = out_size(x.h, 3, s, pad.top, pad.bottom);
    let ow = out_size(x.w, 3, s, pad.left, pad.right);
    let mut data = buffer(oh * ow * c);
    // One output row at a time. Every output element sums its taps from 0 in kernel order, ky
    // then kx, skipping the padded ones, as a zeroed output summed in place would.
    let mut acc = vec![0f32; ow * c];
    // Stride 1: the row's inputs under one tap are one contiguous run, multiplied element-wise by
    // the tap's weights repeated for every pixel (tiled once per tap).
    let tiles: Vec<Vec<f32>> =
        if s == 1 { (0..9).map(|t| kernel[t * c..(t + 1) * c].repeat(ow)).collect() } else { Vec::new() };
    // The outputs `o` of one axis whose input `o·s + tap − before` lies inside `0..n`.
    let valid = |tap: usize, before: usize, n: usize, outs: usize| {
        if n + before < tap + 1 {
            return (0, 0);
        }
        let lo = before.saturating_sub(tap).div_ceil(s);
        let hi = ((n + before - tap - 1) / s + 1).min(outs);
        (lo.min(hi), hi)
    };
    // The columns whose three taps are all inside the image.
    let cols = [0, 1, 2].map(|kx| valid(kx, pad.left, x.w, ow));
    let (in_lo, in_hi) = (cols.iter().map(|r| r.0).max().unwrap_or(0), cols.iter().map(|r| r.1).min().unwrap_or(0));
    for oy in 0..oh {
        let rows = [0, 1, 2].map(|ky| {
            let (lo, hi) = valid(ky, pad.top, x.h, oh);
            (lo..hi).contains(&oy).then(|| (oy * s + ky - pad.top) * x.w * c)
        });
        // Inner columns of a row with all three input rows: the nine taps summed in registers.
        let (a, b) = match rows {
            [Some(r0), Some(r1), Some(r2)] if in_lo < in_hi => {
                let src = |r: usize, kx: usize, ox: usize, n: usize| {
                    let f = r + (ox * s + kx - pad.left) * c;
                    &x.data[f..f + n]
                };
                if s == 1 {
                    let n = (in_hi - in_lo) * c;
                    let taps = [r0, r1, r2].map(|r| [0, 1, 2].map(|kx| src(r, kx, in_lo, n)));
                    let w: [&[f32]; 9] = std::array::from_fn(|t| &tiles[t][in_lo * c..in_hi * c]);
                    nine_taps(&mut acc[in_lo * c..in_hi * c], taps, w);
                } else {
                    let w: [&[f32]; 9] = std::array::from_fn(|t| &kernel[t * c..(t + 1) * c]);
                    for ox in in_lo..in_hi {
                        let taps = [r0, r1, r2].map(|r| [0, 1, 2].map(|kx| src(r, kx, ox, c)));
                        nine_taps(&mut acc[ox * c..(ox + 1) * c], taps, w);
                    }
                }
                (in_lo, in_hi)
            }
            _ => (0, 0),
        };
        // The other columns tap by tap.
        acc[..a * c].fill(0.0);
        acc[b * c..].fill(0.0);
        for (ky, row) in rows.iter().enumerate() {
            let Some(row) = *row else { continue };
            for (kx, &(ox0, ox1)) in cols.iter().enumerate() {
                let w = &kernel[(ky * 3 + kx) * c..(ky * 3 + kx + 1) * c];
                for (p0, p1) in [(ox0, ox1.min(a)), (ox0.max(b), ox1)] {
                    for ox in p0..p1 {
                        let f = row + (ox * s + kx - pad.left) * c;
                        let src = &x.data[f..f + c];
                        for ((o, &v), &wt) in acc[ox * c..(ox + 1) * c].iter_mut().zip(src).zip(w) {
                            *o += v * wt;
                        }
                    }
                }
            }
        }
        if let Some(a) = affine {
            a.apply_inline(&mut acc, c);
        }
        data.extend_from_slice(&acc);
    }
    Fmap { h: oh, w: ow, c, data }
}

/// `out[j] = 0 + Σ taps[ky][kx][j] · w[3·ky + kx][j]`, the nine terms added in kernel order.
#[inline(always)]
fn nine_taps(out: &mut [f32], taps: [[&[f32]; 3]; 3], w: [&[f32]; 9]) {
    let n = out.len();
    let [[s0, s1, s2], [s3, s4, s5], [s6, s7, s8]] = taps.map(|r| r.map(|t| &t[..n]));
    let [w0, w1, w2, w3, w4, w5, w6, w7, w8] = w.map(|t| &t[..n]);
    for j in 0..n {
        let mut v = 0f32;
        v += s0[j] * w0[j];
        v += s1[j] * w1[j];
        v += s2[j] * w2[j];
        v += s3[j] * w3[j];
        v += s4[j] * w4[j];
        v += s5[j] * w5[j];
        v += s6[j] * w6[j];
        v += s7[j] * w7[j];
        v += s8[j] * w8[j];
        out[j] = v;
    }
}

/// A per-channel `v = act((v + bias) · mul + add)` with every factor optional, as
/// the nets' layers compute it (bias only: `act(v + bias)`; absent factors are 0, 1, 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Affine<'a> {
    pub bias: Option<&'a [f32]>,
    pub mul: Option<&'a [f32]>,
    pub add: Option<&'a [f32]>,
    pub act: Act,
}

impl<'a> Affine<'a> {
    /// `bias` then `act`.
    pub(crate) fn bias(bias: &'a [f32], act: Act) -> Self {
        Self { bias: Some(bias), mul: None, add: None, act }
    }

    /// Applies the affine to `data`, pixels of `c` channels.
    pub(crate) fn apply(&self, data: &mut [f32], c: usize) {
        vectorised(
            #[inline(always)]
            || self.apply_inline(data, c),
        )
    }

    #[inline(always)]
    fn apply_inline(&self, data: &mut [f32], c: usize) {
        let zeros;
        let ones;
        let (bias, mul, add) = match (self.bias, self.mul, self.add) {
            (b, None, None) => {
                // Common case (conv + bias + activation): one add per element.
                zeros = vec![0f32; c];
                let b = b.unwrap_or(&zeros);
                match self.act {
                    Act::None => {
                        data.chunks_exact_mut(c).for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v += b))
                    }
                    Act::Relu => data
                        .chunks_exact_mut(c)
                        .for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v = (*v + b).max(0.0))),
                    Act::Relu6 => data
                        .chunks_exact_mut(c)
                        .for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v = (*v + b).clamp(0.0, 6.0))),
                    Act::Leaky => data
                        .chunks_exact_mut(c)
                        .for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v = activate(*v + b, Act::Leaky))),
                }
                return;
            }
            (b, m, a) => {
                zeros = vec![0f32; c];
                ones = vec![1f32; c];
                (b.unwrap_or(&zeros), m.unwrap_or(&ones), a.unwrap_or(&zeros))
            }
        };
        for px in data.chunks_exact_mut(c) {
            for (((v, b), m), a) in px.iter_mut().zip(bias).zip(mul).zip(add) {
                *v = activate((*v + b) * m + a, self.act);
            }
        }
    }
}

/// In place activation only.
pub(crate) fn apply_act(x: &mut Fmap, act: Act) {
    vectorised(
        #[inline(always)]
        || apply_act_kernel(x, act),
    )
}

#[inline(always)]
fn apply_act_kernel(x: &mut Fmap, act: Act) {
    for v in &mut x.data {
        *v = activate(*v, act);
    }
}

/// Max-pool with a `k × k` window and stride `s`; padded positions are ignored (−inf), as TF does.
pub(crate) fn max_pool(x: &Fmap, k: usize, s: usize, pad: Pad) -> Fmap {
    vectorised(
        #[inline(always)]
        || max_pool_kernel(x, k, s, pad),
    )
}

#[inline(always)]
fn max_pool_kernel(x: &Fmap, k: usize, s: usize, pad: Pad) -> Fmap {
    let c = x.c;
    let oh = out_size(x.h, k, s, pad.top, pad.bottom);
    let ow = out_size(x.w, k, s, pad.left, pad.right);
    let mut data = buffer(oh * ow * c);
    data.resize(oh * ow * c, f32::NEG_INFINITY);
    let mut out = Fmap { h: oh, w: ow, c, data };
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut out.data[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - pad.top as isize;
                if iy < 0 || iy >= x.h as isize {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * s + kx) as isize - pad.left as isize;
                    if ix < 0 || ix >= x.w as isize {
                        continue;
                    }
                    let base = (iy as usize * x.w + ix as usize) * c;
                    for (o, &v) in o.iter_mut().zip(&x.data[base..base + c]) {
                        *o = o.max(v);
                    }
                }
            }
        }
    }
    out
}

/// Average pool `k × k`, stride `s`, VALID.
pub(crate) fn avg_pool_valid(x: &Fmap, k: usize, s: usize) -> Fmap {
    let c = x.c;
    let oh = out_size(x.h, k, s, 0, 0);
    let ow = out_size(x.w, k, s, 0, 0);
    let mut out = Fmap::zeros(oh, ow, c);
    let inv = 1.0 / (k * k) as f32;
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut out.data[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
            for ky in 0..k {
                for kx in 0..k {
                    let base = ((oy * s + ky) * x.w + ox * s + kx) * c;
                    for (o, &v) in o.iter_mut().zip(&x.data[base..base + c]) {
                        *o += v;
                    }
                }
            }
            for v in o.iter_mut() {
                *v *= inv;
            }
        }
    }
    out
}

/// Mean over all positions → `c` values.
pub(crate) fn global_mean(x: &Fmap) -> Vec<f32> {
    let mut out = vec![0f32; x.c];
    for px in x.data.chunks_exact(x.c) {
        for (o, &v) in out.iter_mut().zip(px) {
            *o += v;
        }
    }
    let n = (x.h * x.w) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    out
}

/// Element-wise `a += b` (same shape).
pub(crate) fn add_assign(a: &mut Fmap, b: &Fmap) {
    vectorised(
        #[inline(always)]
        || add_assign_kernel(a, b),
    )
}

#[inline(always)]
fn add_assign_kernel(a: &mut Fmap, b: &Fmap) {
    for (x, &y) in a.data.iter_mut().zip(&b.data) {
        *x += y;
    }
}

/// Fully connected layer `x [in] · W [in, out] (+ bias)`.
pub(crate) fn dense(x: &[f32], w: &[f32], bias: Option<&[f32]>, n_out: usize) -> Vec<f32> {
    let mut out = match bias {
        Some(b) => b.to_vec(),
        None => vec![0f32; n_out],
    };
    // Accumulate x_i · W[i, :] row by row (sums in input order, like a matmul).
    let mut acc = vec![0f32; n_out];
    for (i, &xi) in x.iter().enumerate() {
        for (a, &wv) in acc.iter_mut().zip(&w[i * n_out..(i + 1) * n_out]) {
            *a += xi * wv;
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o += a;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_conv(x: &Fmap, w: &[f32], k: usize, c_out: usize, s: usize, pad: Pad) -> Fmap {
        let oh = out_size(x.h, k, s, pad.top, pad.bottom);
        let ow = out_size(x.w, k, s, pad.left, pad.right);
        let mut out = Fmap::zeros(oh, ow, c_out);
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..c_out {
                    let mut acc = 0f32;
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - pad.top as isize;
                            let ix = (ox * s + kx) as isize - pad.left as isize;
                            if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize {
                                continue;
                            }
                            for ci in 0..x.c {
                                acc += x.data[((iy as usize) * x.w + ix as usize) * x.c + ci]
                                    * w[((ky * k + kx) * x.c + ci) * c_out + co];
                            }
                        }
                    }
                    out.data[(oy * ow + ox) * c_out + co] = acc;
                }
            }
        }
        out
    }

    fn ramp(n: usize, f: f32) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919) % 23) as f32 * f - 0.5).collect()
    }

    #[test]
    fn same_padding_follows_tensorflow() {
        assert_eq!(Pad::same(8, 8, 3, 2), Pad { top: 0, bottom: 1, left: 0, right: 1 });
        assert_eq!(Pad::same(7, 7, 3, 1), Pad::ONE);
        assert_eq!(Pad::same(207, 207, 2, 2), Pad { top: 0, bottom: 1, left: 0, right: 1 });
        assert_eq!(Pad::same(13, 13, 2, 1), Pad { top: 0, bottom: 1, left: 0, right: 1 });
    }

    #[test]
    fn conv_matches_naive() -> Result<(), FaceError> {
        let x = Fmap { h: 7, w: 6, c: 3, data: ramp(7 * 6 * 3, 0.05) };
        for (k, s, pad) in [
            (3, 2, Pad { top: 0, bottom: 1, left: 0, right: 1 }),
            (3, 1, Pad::ONE),
            (1, 1, Pad::NONE),
            (7, 2, Pad::NONE),
        ] {
            if x.h + pad.top + pad.bottom < k {
                continue;
            }
            let w = ramp(k * k * 3 * 4, 0.01);
            let m = Tensor::from_slice(&w, (k * k * 3, 4), &candle_core::Device::Cpu)?;
            let got = conv2d_affine(&x, &m, k, s, pad, None)?;
            let want = naive_conv(&x, &w, k, 4, s, pad);
            assert_eq!((got.h, got.w, got.c), (want.h, want.w, want.c));
            for (a, b) in got.data.iter().zip(&want.data) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        Ok(())
    }

    #[test]
    fn depthwise_matches_naive_per_channel() {
        let cases = [
            (6, 4, 2, Pad { top: 0, bottom: 1, left: 0, right: 1 }),
            (6, 4, 1, Pad::ONE),
            (5, 7, 1, Pad::NONE),
            (1, 1, 1, Pad::ONE),
            (2, 1, 2, Pad::same(2, 1, 3, 2)),
            (3, 3, 2, Pad::ONE),
        ];
        for (h, w, s, pad) in cases {
            let x = Fmap { h, w, c: 2, data: ramp(h * w * 2, 0.1) };
            let k = ramp(9 * 2, 0.02);
            let got = depthwise3x3(&x, &k, s, pad);
            for ch in 0..2 {
                let xc = Fmap { h, w, c: 1, data: x.data.iter().skip(ch).step_by(2).copied().collect() };
                let kc: Vec<f32> = k.iter().skip(ch).step_by(2).copied().collect();
                let want = naive_conv(&xc, &kc, 3, 1, s, pad);
                assert_eq!((got.h, got.w), (want.h, want.w), "{h}x{w} s{s} {pad:?}");
                for (i, w) in want.data.iter().enumerate() {
                    assert!((got.data[i * 2 + ch] - w).abs() < 1e-5, "{h}x{w} s{s} {pad:?}");
                }
            }
        }
    }

    /// The fused affine gives the bits of the separate pass it replaces (per band of rows, per
    /// pixel), for every arrangement of factors the nets use.
    #[test]
    fn fused_affine_gives_the_bits_of_a_separate_pass() -> Result<(), FaceError> {
        let x = Fmap { h: 40, w: 33, c: 8, data: ramp(40 * 33 * 8, 0.37) };
        let (b, m, a) = (ramp(8, 0.11), ramp(8, 0.07), ramp(8, 0.05));
        let affines = [
            Affine::bias(&b, Act::Relu6),
            Affine::bias(&b, Act::Leaky),
            Affine::bias(&b, Act::None),
            Affine { bias: Some(&b), mul: Some(&m), add: Some(&a), act: Act::Relu },
            Affine { bias: Some(&b), mul: Some(&m), add: Some(&a), act: Act::Relu6 },
        ];
        for affine in affines {
            for (k, s, pad) in [(3, 2, Pad::same(40, 33, 3, 2)), (1, 1, Pad::NONE), (3, 1, Pad::ONE)] {
                let w = ramp(k * k * 8 * 8, 0.013);
                let wm = Tensor::from_slice(&w, (k * k * 8, 8), &candle_core::Device::Cpu)?;
                let mut want = conv2d_affine(&x, &wm, k, s, pad, None)?;
                affine.apply(&mut want.data, 8);
                let got = conv2d_affine(&x, &wm, k, s, pad, Some(affine))?;
                assert_eq!(got.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), bits(&want));
            }
            for (s, pad) in [(2, Pad::same(40, 33, 3, 2)), (1, Pad::ONE), (1, Pad::NONE)] {
                let kernel = ramp(9 * 8, 0.021);
                let mut want = depthwise3x3(&x, &kernel, s, pad);
                affine.apply(&mut want.data, 8);
                let got = depthwise3x3_affine(&x, &kernel, s, pad, Some(affine));
                assert_eq!(got.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), bits(&want));
            }
        }
        Ok(())
    }

    fn bits(x: &Fmap) -> Vec<u32> {
        x.data.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn a_dropped_maps_buffer_serves_the_next_map_and_small_ones_are_not_kept() {
        let big = Fmap::zeros(64, 64, 8);
        let at = big.data.as_ptr();
        drop(big);
        let again = Fmap::zeros(64, 32, 8);
        assert_eq!(again.data.as_ptr(), at);
        assert!(again.data.iter().all(|v| *v == 0.0));
        drop(again);
        for _ in 0..2 * POOL_BUFFERS {
            drop(Fmap::zeros(64, 64 + 1, 8));
        }
        assert!(POOL.with(|p| p.borrow().len()) <= POOL_BUFFERS);
        let small = Fmap::zeros(4, 4, 8);
        let at = small.data.as_ptr();
        drop(small);
        assert!(POOL.with(|p| p.borrow().iter().all(|b| b.as_ptr() != at)));
    }

    #[test]
    fn max_pool_ignores_padding_and_leaky_matches() {
        let x = Fmap { h: 3, w: 3, c: 1, data: vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0] };
        let p = max_pool(&x, 2, 2, Pad::same(3, 3, 2, 2));
        assert_eq!(p.data, vec![-1.0, -3.0, -7.0, -9.0]);
        assert!((activate(-2.0, Act::Leaky) + 0.2).abs() < 1e-7);
        assert_eq!(activate(7.0, Act::Relu6), 6.0);
    }
}
