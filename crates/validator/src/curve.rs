//! Group arithmetic for batched checks with 64-bit weights: a linear combination of a few
//! points (interleaved width-4 NAF, the doublings shared), a multi-scalar multiplication of many
//! (Pippenger's bucket method), and fresh weights from the operating system's generator.
//!
//! On `blstrs`' G1 and G2 types, on the calling thread: the callers already run on all cores
//! (rayon), and blst's own multi-scalar code hands its work to threads of its own, which only
//! compete with them. Variable time: the points are public and the weights are only used once,
//! after the points they weigh were fixed.

use std::ops::{AddAssign, SubAssign};

use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective};
use group::prime::PrimeCurveAffine;
use group::Group;

/// `n` weights from the operating system's generator, odd (so never zero: 2^63 values each),
/// or `None` if the generator fails.
pub fn random_weights(n: usize) -> Option<Vec<u64>> {
    let mut buf = vec![0u8; 8 * n];
    getrandom::getrandom(&mut buf).ok()?;
    Some(
        buf.chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b) | 1
            })
            .collect(),
    )
}

/// Projective points that blst turns into affine ones many at a time (one field inversion for
/// all), for additions with an affine operand (cheaper than projective ones).
pub trait Affines:
    Group + for<'a> AddAssign<&'a Self::Affine> + for<'a> SubAssign<&'a Self::Affine>
{
    /// The affine form.
    type Affine: Copy;
    /// The affine forms of `points` (the identity stays the identity).
    fn affines(points: &[Self]) -> Vec<Self::Affine>;
}

/// blst converts up to 767 points at a time on the calling thread (more go to its threads).
const TO_AFFINE_RUN: usize = 512;

impl Affines for G1Projective {
    type Affine = G1Affine;
    fn affines(points: &[Self]) -> Vec<G1Affine> {
        let raw: Vec<blst::blst_p1> = points.iter().map(|p| *p.as_ref()).collect();
        let mut out = Vec::with_capacity(points.len());
        for run in raw.chunks(TO_AFFINE_RUN) {
            let affine = blst::p1_affines::from(run);
            out.extend(affine.as_slice().iter().map(|q| {
                let mut p = G1Affine::identity();
                *p.as_mut() = *q;
                p
            }));
        }
        out
    }
}

impl Affines for G2Projective {
    type Affine = G2Affine;
    fn affines(points: &[Self]) -> Vec<G2Affine> {
        let raw: Vec<blst::blst_p2> = points.iter().map(|p| *p.as_ref()).collect();
        let mut out = Vec::with_capacity(points.len());
        for run in raw.chunks(TO_AFFINE_RUN) {
            let affine = blst::p2_affines::from(run);
            out.extend(affine.as_slice().iter().map(|q| {
                let mut p = G2Affine::identity();
                *p.as_mut() = *q;
                p
            }));
        }
        out
    }
}

/// Points whose odd multiples [`lincombs_u64`] makes affine together.
const TABLE_BLOCK: usize = 16;

/// Width of the NAF digits of [`lincomb_u64`]: odd multiples 1, 3, 5, 7 of each point.
const NAF_WIDTH: u32 = 4;

/// The width-[`NAF_WIDTH`] NAF digits of `k`, least significant first, and how many there are
/// (at most 65 for a 64-bit `k`).
fn naf(k: u64) -> ([i8; 65], usize) {
    let mut digits = [0i8; 65];
    let full = 1i128 << NAF_WIDTH;
    let half = full >> 1;
    let mut k = i128::from(k);
    let mut len = 0;
    while k != 0 {
        if k & 1 == 1 {
            let m = k & (full - 1);
            let d = if m >= half { m - full } else { m };
            // |d| < 2^(NAF_WIDTH-1): fits.
            digits[len] = d as i8;
            k -= d;
        }
        k >>= 1;
        len += 1;
    }
    (digits, len)
}

/// `Σ weights[i] · points[i]` (Straus): one run of about 64 doublings for all the points, and per
/// point a table of its odd multiples (made affine together) and one mixed addition per non-zero
/// digit (about 13).
pub fn lincomb_u64<G: Affines>(points: &[G], weights: &[u64]) -> G {
    let n = points.len().min(weights.len());
    lincombs_u64(&points[..n], &weights[..n], &[n])
        .pop()
        .unwrap_or_else(G::identity)
}

/// Independent sums as [`lincomb_u64`], one per run of consecutive points (`runs[j]` points
/// each, adding up to `points.len()` = `weights.len()`), with the tables of all the points made
/// affine together (one field inversion for all).
pub fn lincombs_u64<G: Affines>(points: &[G], weights: &[u64], runs: &[usize]) -> Vec<G> {
    let n = points.len().min(weights.len());
    // The multiples are made affine a few points at a time: one inversion for many, and little
    // memory in flight besides the affine tables.
    let mut tables = Vec::with_capacity(4 * n);
    let mut multiples = Vec::with_capacity(4 * TABLE_BLOCK);
    for block in points[..n].chunks(TABLE_BLOCK) {
        multiples.clear();
        for p in block {
            let twice = p.double();
            let mut m = *p;
            multiples.push(m);
            for _ in 1..4 {
                m += twice;
                multiples.push(m);
            }
        }
        tables.extend(G::affines(&multiples));
    }
    let digits: Vec<([i8; 65], usize)> = weights[..n].iter().map(|&k| naf(k)).collect();
    let mut out = Vec::with_capacity(runs.len());
    let mut start = 0;
    for &run in runs {
        let end = (start + run).min(n);
        let len = digits[start..end]
            .iter()
            .map(|(_, l)| *l)
            .max()
            .unwrap_or(0);
        let mut acc = G::identity();
        for i in (0..len).rev() {
            acc = acc.double();
            for (k, (d, _)) in digits.iter().enumerate().take(end).skip(start) {
                let d = d[i];
                if d != 0 {
                    let t = &tables[4 * k + d.unsigned_abs() as usize / 2];
                    if d > 0 {
                        acc += t;
                    } else {
                        acc -= t;
                    }
                }
            }
        }
        out.push(acc);
        start = end;
    }
    out
}

/// Up to this many points, [`msm_u64`] takes [`lincomb_u64`]'s way (fewer additions than
/// Pippenger's buckets).
const STRAUS_MAX: usize = 256;

/// The bucket width for `n` points: the one that minimises Pippenger's additions,
/// ⌈64/c⌉ · (n + 2^(c+1)).
fn window(n: usize) -> usize {
    (1..=16)
        .min_by_key(|&c| 64usize.div_ceil(c) * (n + (2usize << c)))
        .unwrap_or(4)
}

/// `Σ weights[i] · points[i]` over affine points: [`lincomb_u64`] for a few hundred, Pippenger's
/// bucket method beyond (per point about one mixed addition per window of [`window`] bits,
/// plus the buckets' sums per window).
pub fn msm_u64<G>(points: &[G::Affine], weights: &[u64]) -> G
where
    G: Affines + for<'a> From<&'a G::Affine>,
{
    let n = points.len().min(weights.len());
    if n <= STRAUS_MAX {
        let proj: Vec<G> = points[..n].iter().map(G::from).collect();
        return lincomb_u64(&proj, &weights[..n]);
    }
    let c = window(n);
    let mask = (1u64 << c) - 1;
    let windows = 64usize.div_ceil(c);
    let mut buckets = vec![G::identity(); (1 << c) - 1];
    let mut acc = G::identity();
    for w in (0..windows).rev() {
        if w + 1 != windows {
            for _ in 0..c {
                acc = acc.double();
            }
        }
        buckets.fill(G::identity());
        let shift = w * c;
        for (p, k) in points[..n].iter().zip(weights) {
            let b = ((k >> shift) & mask) as usize;
            if b != 0 {
                buckets[b - 1] += p;
            }
        }
        // Σ_b b · bucket[b] as running sums from the top bucket down.
        let mut running = G::identity();
        let mut sum = G::identity();
        for b in buckets.iter().rev() {
            running += b;
            sum += running;
        }
        acc += sum;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use blstrs::Scalar;
    use group::Curve;

    fn naive<G: Group<Scalar = Scalar>>(points: &[G], weights: &[u64]) -> G {
        points
            .iter()
            .zip(weights)
            .map(|(p, &k)| *p * Scalar::from(k))
            .sum()
    }

    #[test]
    fn naf_digits_add_up_to_the_scalar() {
        for k in [
            0u64,
            1,
            2,
            7,
            8,
            15,
            16,
            0x5555,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ] {
            let (d, len) = naf(k);
            let mut v = 0i128;
            for i in (0..len).rev() {
                v = 2 * v + i128::from(d[i]);
                assert!(d[i] == 0 || d[i] % 2 != 0, "digit {} of {k}", d[i]);
            }
            assert_eq!(v, i128::from(k), "{k}");
        }
    }

    #[test]
    fn lincomb_and_msm_match_scalar_multiplication_in_g1_and_g2() {
        let w = random_weights(40).unwrap();
        assert!(w.iter().all(|k| k % 2 == 1));
        let g1: Vec<G1Projective> = (1..=40u64)
            .map(|i| G1Projective::generator() * Scalar::from(i * 7919 + 3))
            .collect();
        let g2: Vec<G2Projective> = (1..=40u64)
            .map(|i| G2Projective::generator() * Scalar::from(i * 104_729 + 5))
            .collect();
        let a1: Vec<G1Affine> = g1.iter().map(Curve::to_affine).collect();
        let a2: Vec<G2Affine> = g2.iter().map(Curve::to_affine).collect();
        for n in [0, 1, 2, 5, 7, 8, 9, 33, 40] {
            assert_eq!(G1Projective::affines(&g1[..n]), a1[..n].to_vec());
            assert_eq!(
                lincomb_u64(&g1[..n], &w[..n]),
                naive(&g1[..n], &w[..n]),
                "{n}"
            );
            assert_eq!(
                lincomb_u64(&g2[..n], &w[..n]),
                naive(&g2[..n], &w[..n]),
                "{n}"
            );
            let m1: G1Projective = msm_u64(&a1[..n], &w[..n]);
            let m2: G2Projective = msm_u64(&a2[..n], &w[..n]);
            assert_eq!(m1, naive(&g1[..n], &w[..n]), "{n}");
            assert_eq!(m2, naive(&g2[..n], &w[..n]), "{n}");
        }
        // Extreme weights, and the identity among the points.
        let mut a = a1.clone();
        a[3] = G1Affine::identity();
        let extreme = [u64::MAX, 1, 1 << 63, 0, 12345].repeat(8);
        let got: G1Projective = msm_u64(&a, &extreme);
        let mut p = g1.clone();
        p[3] = G1Projective::identity();
        assert_eq!(got, naive(&p, &extreme));
        assert_eq!(lincomb_u64(&p, &extreme), naive(&p, &extreme));
        let runs = lincombs_u64(&p, &extreme, &[3, 0, 1, 20, 16]);
        assert_eq!(runs.len(), 5);
        let mut at = 0;
        for (run, got) in [3, 0, 1, 20, 16].iter().zip(&runs) {
            assert_eq!(
                *got,
                naive(&p[at..at + run], &extreme[at..at + run]),
                "run at {at}"
            );
            at += run;
        }
        // Beyond Straus: Pippenger's buckets.
        let many: Vec<G1Affine> = a1.iter().cycle().take(300).copied().collect();
        let many_p: Vec<G1Projective> = many.iter().map(G1Projective::from).collect();
        let w = random_weights(300).unwrap();
        let got: G1Projective = msm_u64(&many, &w);
        assert_eq!(got, naive(&many_p, &w));
    }
}
