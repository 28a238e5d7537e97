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
    pub fn zeros(h: usize, w: usize, c: usize) -> Self {
        Self { h, w, c, data: vec![0.0; h * w * c] }
    }
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
    pub const NONE: Pad = Pad { top: 0, bottom: 0, left: 0, right: 0 };
    pub const ONE: Pad = Pad { top: 1, bottom: 1, left: 1, right: 1 };

    /// TensorFlow "SAME" padding for a square `k × k` window with stride `s` on an `h × w` input
    /// (tfjs `computePadding`: out = ceil(in / s), total = max(0, (out − 1)·s + k − in),
    /// before = total / 2, after = the rest).
    pub fn same(h: usize, w: usize, k: usize, s: usize) -> Pad {
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

/// `dst [m, n] = a [m, k] · b [k, n]`, all row-major, through the `gemm` crate (candle's own CPU
/// matmul kernel), on as many threads as candle would use (`RAYON_NUM_THREADS`).
#[allow(unsafe_code)]
pub(crate) fn matmul_into(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    assert!(a.len() == m * k && b.len() == k * n && dst.len() == m * n, "matmul shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    let threads = candle_core::utils::get_num_threads();
    let parallelism =
        if threads > 1 && m * n * k > 1 << 20 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the three slices hold exactly m·k, k·n and m·n elements (asserted above) laid out
    // row-major with the strides passed (column stride 1, row stride = row length); `dst` is a
    // unique borrow so it cannot alias `a` or `b`; read_dst = false, so dst is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
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
    }
}

/// Output rows per im2col band: keeps the patch matrix around 1 MB (cache-sized) instead of
/// materialising it for the whole image.
fn band_rows(ow: usize, kk: usize) -> usize {
    ((1 << 18) / (ow * kk).max(1)).max(1)
}

/// 2-D convolution of `x` with a square `k × k` kernel given as the `[k·k·c_in, c_out]` matrix of
/// its HWIO weights, stride `s`, explicit zero padding (banded im2col + GEMM; 1×1 convs multiply
/// the input directly).
pub(crate) fn conv2d(x: &Fmap, w: &Tensor, k: usize, s: usize, pad: Pad) -> Result<Fmap, FaceError> {
    let (rows, c_out) = w.dims2()?;
    if rows != k * k * x.c {
        return Err(FaceError::Inference(format!("conv kernel has {rows} rows, input needs {}", k * k * x.c)));
    }
    let oh = out_size(x.h, k, s, pad.top, pad.bottom);
    let ow = out_size(x.w, k, s, pad.left, pad.right);
    let mut out = Fmap::zeros(oh, ow, c_out);
    with_f32(w, |wd| {
        if k == 1 && s == 1 && pad == Pad::NONE {
            matmul_into(&mut out.data, &x.data, wd, x.h * x.w, x.c, c_out);
            return;
        }
        let c = x.c;
        let kk = k * k * c;
        let band = band_rows(ow, kk).min(oh);
        let mut cols = vec![0f32; band * ow * kk];
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
            let dst = &mut out.data[oy0 * ow * c_out..(oy0 + rows_here) * ow * c_out];
            matmul_into(dst, cols, wd, rows_here * ow, kk, c_out);
            oy0 += rows_here;
        }
    })?;
    Ok(out)
}

/// Depthwise 3×3 convolution (`kernel` = the `[3, 3, C, 1]` weights, flat), stride `s`, zero padding.
pub(crate) fn depthwise3x3(x: &Fmap, kernel: &[f32], s: usize, pad: Pad) -> Fmap {
    let c = x.c;
    let oh = out_size(x.h, 3, s, pad.top, pad.bottom);
    let ow = out_size(x.w, 3, s, pad.left, pad.right);
    let mut out = Fmap::zeros(oh, ow, c);
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut out.data[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
            for ky in 0..3 {
                let iy = (oy * s + ky) as isize - pad.top as isize;
                if iy < 0 || iy >= x.h as isize {
                    continue;
                }
                for kx in 0..3 {
                    let ix = (ox * s + kx) as isize - pad.left as isize;
                    if ix < 0 || ix >= x.w as isize {
                        continue;
                    }
                    let base = (iy as usize * x.w + ix as usize) * c;
                    let src = &x.data[base..base + c];
                    let kw = &kernel[(ky * 3 + kx) * c..(ky * 3 + kx + 1) * c];
                    for ((o, &v), &wt) in o.iter_mut().zip(src).zip(kw) {
                        *o += v * wt;
                    }
                }
            }
        }
    }
    out
}

/// In place, per channel: `v = act((v + bias) · mul + add)` with every factor optional.
pub(crate) fn channel_affine(x: &mut Fmap, bias: Option<&[f32]>, mul: Option<&[f32]>, add: Option<&[f32]>, act: Act) {
    let c = x.c;
    let zeros;
    let ones;
    let (bias, mul, add) = match (bias, mul, add) {
        (b, None, None) => {
            // Common case (conv + bias + activation): one add per element.
            zeros = vec![0f32; c];
            let b = b.unwrap_or(&zeros);
            match act {
                Act::None => x.data.chunks_exact_mut(c).for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v += b)),
                Act::Relu => x
                    .data
                    .chunks_exact_mut(c)
                    .for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v = (*v + b).max(0.0))),
                Act::Relu6 => x
                    .data
                    .chunks_exact_mut(c)
                    .for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v = (*v + b).clamp(0.0, 6.0))),
                Act::Leaky => x
                    .data
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
    for px in x.data.chunks_exact_mut(c) {
        for (((v, b), m), a) in px.iter_mut().zip(bias).zip(mul).zip(add) {
            *v = activate((*v + b) * m + a, act);
        }
    }
}

/// In place activation only.
pub(crate) fn apply_act(x: &mut Fmap, act: Act) {
    for v in &mut x.data {
        *v = activate(*v, act);
    }
}

/// Max-pool with a `k × k` window and stride `s`; padded positions are ignored (−inf), as TF does.
pub(crate) fn max_pool(x: &Fmap, k: usize, s: usize, pad: Pad) -> Fmap {
    let c = x.c;
    let oh = out_size(x.h, k, s, pad.top, pad.bottom);
    let ow = out_size(x.w, k, s, pad.left, pad.right);
    let mut out = Fmap { h: oh, w: ow, c, data: vec![f32::NEG_INFINITY; oh * ow * c] };
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
            let got = conv2d(&x, &m, k, s, pad)?;
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
        let x = Fmap { h: 6, w: 4, c: 2, data: ramp(6 * 4 * 2, 0.1) };
        let k = ramp(9 * 2, 0.02);
        let got = depthwise3x3(&x, &k, 2, Pad { top: 0, bottom: 1, left: 0, right: 1 });
        assert_eq!((got.h, got.w), (3, 2));
        for ch in 0..2 {
            let xc = Fmap { h: 6, w: 4, c: 1, data: x.data.iter().skip(ch).step_by(2).copied().collect() };
            let kc: Vec<f32> = k.iter().skip(ch).step_by(2).copied().collect();
            let want = naive_conv(&xc, &kc, 3, 1, 2, Pad { top: 0, bottom: 1, left: 0, right: 1 });
            for (i, w) in want.data.iter().enumerate() {
                assert!((got.data[i * 2 + ch] - w).abs() < 1e-5);
            }
        }
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
