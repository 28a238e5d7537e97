//! The light check's regressions: a region's log signal on the display's channels over the
//! frames, the full fit (each channel on its own display channel) and the chromatic fit (the
//! mean of the three channels removed, where head motion and exposure cancel), each with a
//! constant and a linear drift; and how much of the face's fitted response another region
//! carries.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

/// Least squares of `y` on `[1, t, x]`: (slope of x, residual SS, SS about the [1, t] fit).
fn regress(t: &[f32], x: &[f32], y: &[f32]) -> (f32, f32, f32) {
    let n = y.len() as f32;
    let mean = |v: &[f32]| v.iter().sum::<f32>() / n;
    let (mt, mx, my) = (mean(t), mean(x), mean(y));
    let (mut stt, mut stx, mut sxx, mut sty, mut sxy, mut syy) = (0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
    for i in 0..y.len() {
        let (dt, dx, dy) = (t[i] - mt, x[i] - mx, y[i] - my);
        stt += dt * dt;
        stx += dt * dx;
        sxx += dx * dx;
        sty += dt * dy;
        sxy += dx * dy;
        syy += dy * dy;
    }
    // Partial out the drift t from x and y.
    let (bt_x, bt_y) = if stt > 0.0 { (stx / stt, sty / stt) } else { (0.0, 0.0) };
    let sxx_r = sxx - bt_x * stx;
    let sxy_r = sxy - bt_x * sty;
    let syy_r = (syy - bt_y * sty).max(0.0);
    if sxx_r <= 1e-9 {
        return (0.0, syy_r, syy_r);
    }
    let beta = sxy_r / sxx_r;
    (beta, (syy_r - beta * sxy_r).max(0.0), syy_r)
}

pub(super) struct Fit {
    pub(super) correlation: f32,
    pub(super) slopes: [f32; 3],
    pub(super) sst: f32,
    /// The fitted chromatic response per channel and frame (detrended); empty for the full fit.
    pub(super) prediction: Vec<Vec<f32>>,
}

pub(super) fn fit(t: &[f32], xs: &[[f32; 3]], ys: &[[f32; 3]]) -> Fit {
    let (mut ssr, mut sst) = (0f32, 0f32);
    let mut slopes = [0f32; 3];
    for c in 0..3 {
        let x: Vec<f32> = xs.iter().map(|v| v[c]).collect();
        let y: Vec<f32> = ys.iter().map(|v| v[c]).collect();
        let (beta, r, s) = regress(t, &x, &y);
        sst += s;
        // Light only adds: a negative slope explains nothing.
        if beta > 0.0 {
            ssr += r;
            slopes[c] = beta;
        } else {
            ssr += s;
        }
    }
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 };
    Fit { correlation: r2.max(0.0).sqrt(), slopes, sst, prediction: Vec::new() }
}

/// Partials a constant and the drift `t` out of `v` (least squares).
fn detrend(t: &[f32], v: &[f32]) -> Vec<f32> {
    let n = v.len().max(1) as f32;
    let (mt, mv) = (t.iter().sum::<f32>() / n, v.iter().sum::<f32>() / n);
    let (mut stt, mut stv) = (0f32, 0f32);
    for i in 0..v.len() {
        stt += (t[i] - mt) * (t[i] - mt);
        stv += (t[i] - mt) * (v[i] - mv);
    }
    let b = if stt > 0.0 { stv / stt } else { 0.0 };
    (0..v.len()).map(|i| v[i] - mv - b * (t[i] - mt)).collect()
}

/// Solves the 3×3 system `a·x = b` (Gaussian elimination with partial pivoting); `None` when
/// singular.
fn solve3(mut a: [[f32; 3]; 3], mut b: [f32; 3]) -> Option<[f32; 3]> {
    for k in 0..3 {
        let p = (k..3).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs()))?;
        if a[p][k].abs() < 1e-9 {
            return None;
        }
        a.swap(k, p);
        b.swap(k, p);
        for i in k + 1..3 {
            let f = a[i][k] / a[k][k];
            for j in k..3 {
                a[i][j] -= f * a[k][j];
            }
            b[i] -= f * b[k];
        }
    }
    let mut x = [0f32; 3];
    for k in (0..3).rev() {
        let s: f32 = (k + 1..3).map(|j| a[k][j] * x[j]).sum();
        x[k] = (b[k] - s) / a[k][k];
    }
    Some(x)
}

/// The chromatic fit: each channel's signal minus the mean of the three (a per-frame common
/// change — head motion under the room's light, exposure — cancels), regressed on the
/// display's channels the same way, one non-negative slope per channel plus a constant and
/// a drift per channel. White and dim steps carry no chromatic signal; the coloured ones do.
pub(super) fn chroma_fit(t: &[f32], xs: &[[f32; 3]], ys: &[[f32; 3]]) -> Fit {
    let third = 1.0 / 3.0;
    let yt: Vec<Vec<f32>> = (0..3)
        .map(|c| {
            let v: Vec<f32> = ys.iter().map(|y| y[c] - (y[0] + y[1] + y[2]) * third).collect();
            detrend(t, &v)
        })
        .collect();
    // z[k][c]: regressor of slope k in channel c's rows, detrended per channel.
    let z: Vec<Vec<Vec<f32>>> = (0..3)
        .map(|k| {
            (0..3)
                .map(|c| {
                    let w = if c == k { 1.0 - third } else { -third };
                    detrend(t, &xs.iter().map(|x| w * x[k]).collect::<Vec<f32>>())
                })
                .collect()
        })
        .collect();
    let dot = |a: &[Vec<f32>], b: &[Vec<f32>]| -> f32 {
        (0..3).map(|c| a[c].iter().zip(&b[c]).map(|(p, q)| p * q).sum::<f32>()).sum()
    };
    let sst = dot(&yt, &yt);
    let mut active = [true; 3];
    let mut slopes = [0f32; 3];
    for _ in 0..3 {
        let mut a = [[0f32; 3]; 3];
        let mut b = [0f32; 3];
        for i in 0..3 {
            for j in 0..3 {
                a[i][j] = if active[i] && active[j] { dot(&z[i], &z[j]) } else { f32::from(u8::from(i == j)) };
            }
            a[i][i] += 1e-6;
            b[i] = if active[i] { dot(&z[i], &yt) } else { 0.0 };
        }
        let Some(x) = solve3(a, b) else { break };
        slopes = x;
        let negative: Vec<usize> = (0..3).filter(|&k| active[k] && x[k] < 0.0).collect();
        if negative.is_empty() {
            break;
        }
        negative.iter().for_each(|&k| active[k] = false);
        slopes = [0.0; 3];
    }
    let prediction: Vec<Vec<f32>> = (0..3)
        .map(|c| (0..ys.len()).map(|i| (0..3).map(|k| slopes[k].max(0.0) * z[k][c][i]).sum()).collect())
        .collect();
    let mut ssr = 0f32;
    for c in 0..3 {
        for i in 0..ys.len() {
            ssr += (yt[c][i] - prediction[c][i]).powi(2);
        }
    }
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 };
    Fit { correlation: r2.max(0.0).sqrt(), slopes: slopes.map(|v| v.max(0.0)), sst, prediction }
}

/// Each channel's signal minus the mean of the three, detrended (the chromatic fit's rows).
pub(super) fn chroma_rows(t: &[f32], ys: &[[f32; 3]]) -> Vec<Vec<f32>> {
    (0..3).map(|c| detrend(t, &ys.iter().map(|y| y[c] - (y[0] + y[1] + y[2]) / 3.0).collect::<Vec<f32>>())).collect()
}

/// Standard errors subtracted from [`projected_share`] before it is compared with a
/// threshold: an attack must be shown to respond around the face, noise alone must not.
const SHARE_Z: f32 = 2.0;

/// How much of the face's fitted chromatic response `rows` (a region's chromatic signal,
/// [`chroma_rows`]) carries: the least-squares coefficient of `rows` on the face's
/// prediction, minus [`SHARE_Z`] standard errors (residual variance over 2 degrees of
/// freedom per frame, the chromatic rows' rank). One coefficient on a known pattern instead
/// of three non-negative slopes: a region that does not respond scores about 0 (clipped
/// slopes of noise only add up), and a noisy one (a small face, a low display-to-room
/// ratio, much motion) is not mistaken for one that responds.
pub(super) fn projected_share(face: &Fit, rows: &[Vec<f32>]) -> f32 {
    let p = &face.prediction;
    let pp: f32 = (0..3).map(|c| p[c].iter().map(|v| v * v).sum::<f32>()).sum();
    if pp <= 1e-12 || rows.len() != 3 {
        return 0.0;
    }
    let py: f32 = (0..3).map(|c| p[c].iter().zip(&rows[c]).map(|(a, b)| a * b).sum::<f32>()).sum();
    let k = py / pp;
    let n = rows[0].len();
    let rss: f32 = (0..3).map(|c| p[c].iter().zip(&rows[c]).map(|(a, b)| (b - k * a).powi(2)).sum::<f32>()).sum();
    let dof = (2 * n).saturating_sub(4).max(1) as f32;
    k - SHARE_Z * (rss / dof / pp).sqrt()
}

#[cfg(test)]
mod tests {
    use super::{Fit, projected_share};

    #[test]
    fn projected_share_is_one_for_the_same_response_and_not_above_zero_for_noise() {
        let n = 40;
        let pattern: Vec<f32> = (0..n).map(|i| ((i / 4) % 3) as f32 - 1.0).collect();
        let prediction: Vec<Vec<f32>> =
            (0..3).map(|c| pattern.iter().map(|v| v * (c as f32 - 1.0) * 0.02).collect()).collect();
        let face = Fit { correlation: 1.0, slopes: [0.02; 3], sst: 1.0, prediction: prediction.clone() };
        assert!((projected_share(&face, &prediction) - 1.0).abs() < 1e-4);
        // A zone that does not respond, with noise as large as the face's response.
        let noise: Vec<Vec<f32>> =
            (0..3).map(|c| (0..n).map(|i| if (i * 7 + c * 3) % 5 < 2 { 0.02 } else { -0.013 }).collect()).collect();
        assert!(projected_share(&face, &noise) < 0.1, "{}", projected_share(&face, &noise));
        // Half the response plus that noise: positive, but less than a half.
        let half: Vec<Vec<f32>> =
            (0..3).map(|c| (0..n).map(|i| 0.5 * prediction[c][i] + 0.2 * noise[c][i]).collect()).collect();
        let v = projected_share(&face, &half);
        assert!(v > 0.0 && v < 0.5, "{v}");
    }
}
