//! The vector math after the model: pooling token vectors into one, Matryoshka truncation
//! and L2 normalisation. Pure functions on slices; no model, no I/O.

use std::fmt;
use std::str::FromStr;

/// How the token vectors of one text become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The vector of the last real (unmasked) token: decoder models such as Qwen3-Embedding.
    LastToken,
    /// The mean over the real tokens: BERT-style sentence-transformers such as MiniLM.
    Mean,
    /// The first token (`[CLS]`).
    Cls,
}

impl Pooling {
    /// The name used in flags and output (`last-token`, `mean`, `cls`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LastToken => "last-token",
            Self::Mean => "mean",
            Self::Cls => "cls",
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last-token" | "last_token" | "lasttoken" => Ok(Self::LastToken),
            "mean" => Ok(Self::Mean),
            "cls" => Ok(Self::Cls),
            other => Err(format!("unknown pooling `{other}` (expected last-token, mean or cls)")),
        }
    }
}

/// Pools one text's token vectors. `hidden` holds `mask.len()` rows of `dim` values; `mask`
/// marks real tokens with 1 and padding with 0. A text without any real token pools to zeros.
pub fn pool(pooling: Pooling, hidden: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    debug_assert_eq!(hidden.len(), mask.len() * dim);
    let row = |i: usize| &hidden[i * dim..(i + 1) * dim];
    match pooling {
        Pooling::Cls => mask.iter().position(|&m| m != 0).map_or_else(|| vec![0.0; dim], |i| row(i).to_vec()),
        Pooling::LastToken => {
            mask.iter().rposition(|&m| m != 0).map_or_else(|| vec![0.0; dim], |i| row(i).to_vec())
        }
        Pooling::Mean => {
            let mut sum = vec![0.0f32; dim];
            let mut count = 0usize;
            for (i, _) in mask.iter().enumerate().filter(|(_, &m)| m != 0) {
                for (s, x) in sum.iter_mut().zip(row(i)) {
                    *s += x;
                }
                count += 1;
            }
            if count > 0 {
                let n = count as f32;
                sum.iter_mut().for_each(|s| *s /= n);
            }
            sum
        }
    }
}

/// Scales `v` to unit length in place; a zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Matryoshka truncation: keeps the first `dims` values and normalises again (the TypeScript
/// server normalises the full vector, truncates, then normalises the truncated one).
pub fn truncate(mut v: Vec<f32>, dims: usize) -> Vec<f32> {
    v.truncate(dims);
    l2_normalize(&mut v);
    v
}

/// The whole tail of the pipeline for one pooled vector: normalise, truncate to `dims`,
/// normalise again.
pub fn finish(mut v: Vec<f32>, dims: usize) -> Vec<f32> {
    l2_normalize(&mut v);
    truncate(v, dims)
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        (dot / (na.sqrt() * nb.sqrt())) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Three tokens of dimension 2; the last one is padding.
    const HIDDEN: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
    const MASK: [i64; 3] = [1, 1, 0];

    #[test]
    fn mean_pooling_ignores_padding() {
        assert_eq!(pool(Pooling::Mean, &HIDDEN, &MASK, 2), vec![2.0, 3.0]);
    }

    #[test]
    fn last_token_pooling_takes_the_last_real_token() {
        assert_eq!(pool(Pooling::LastToken, &HIDDEN, &MASK, 2), vec![3.0, 4.0]);
        // Left padding: the last row is the last real token.
        assert_eq!(pool(Pooling::LastToken, &HIDDEN, &[0, 1, 1], 2), vec![100.0, 100.0]);
    }

    #[test]
    fn cls_pooling_takes_the_first_real_token() {
        assert_eq!(pool(Pooling::Cls, &HIDDEN, &[0, 1, 1], 2), vec![3.0, 4.0]);
    }

    #[test]
    fn all_padding_pools_to_zeros() {
        for p in [Pooling::Mean, Pooling::LastToken, Pooling::Cls] {
            assert_eq!(pool(p, &HIDDEN, &[0, 0, 0], 2), vec![0.0, 0.0]);
        }
    }

    #[test]
    fn truncation_keeps_the_prefix_direction_at_unit_length() {
        let v = truncate(vec![3.0, 4.0, 12.0], 2);
        assert_eq!(v.len(), 2);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn finish_normalises_truncates_and_normalises_again() {
        let v = finish(vec![0.0, 5.0, 1.0, 1.0], 2);
        assert_eq!(v, vec![0.0, 1.0]);
    }

    #[test]
    fn zero_vector_stays_zero() {
        let mut v = vec![0.0; 4];
        l2_normalize(&mut v);
        assert_eq!(v, vec![0.0; 4]);
        assert_eq!(cosine(&v, &[1.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn pooling_names_round_trip() {
        for p in [Pooling::Mean, Pooling::LastToken, Pooling::Cls] {
            assert_eq!(p.as_str().parse::<Pooling>(), Ok(p));
        }
        assert!("max".parse::<Pooling>().is_err());
    }

    proptest! {
        #[test]
        fn normalised_vectors_have_unit_length(v in prop::collection::vec(-1000.0f32..1000.0, 1..64)) {
            prop_assume!(v.iter().any(|x| x.abs() > 1e-3));
            let mut n = v.clone();
            l2_normalize(&mut n);
            let len: f32 = n.iter().map(|x| x * x).sum::<f32>().sqrt();
            prop_assert!((len - 1.0).abs() < 1e-4, "length {len}");
            // Same direction: cosine with the original is 1.
            prop_assert!((cosine(&v, &n) - 1.0).abs() < 1e-4);
        }

        #[test]
        fn normalising_twice_changes_nothing(v in prop::collection::vec(-10.0f32..10.0, 1..64)) {
            let mut once = v.clone();
            l2_normalize(&mut once);
            let mut twice = once.clone();
            l2_normalize(&mut twice);
            for (a, b) in once.iter().zip(&twice) {
                prop_assert!((a - b).abs() < 1e-6);
            }
        }

        #[test]
        fn truncation_gives_the_requested_length(v in prop::collection::vec(-10.0f32..10.0, 1..64), dims in 1usize..64) {
            let t = finish(v.clone(), dims);
            prop_assert_eq!(t.len(), dims.min(v.len()));
        }
    }
}
