//! The arithmetic: Robinson's per-token probability f(w) with a prior, then Fisher's
//! chi-square combining of the most telling tokens (as SpamBayes does). Pure.

use super::store::Stats;
use std::collections::BTreeSet;

/// Spam and ham messages each that must have been learned before the classifier speaks.
pub const MIN_TRAINED: u64 = 10;
/// Robinson's prior: strength `S` of the assumed probability `X` for a rare token.
const S: f64 = 0.45;
const X: f64 = 0.5;
/// Tokens closer than this to 0.5 are ignored.
const MIN_STRENGTH: f64 = 0.1;
/// At most this many tokens (the strongest) are combined.
const MAX_CLUES: usize = 150;

/// The combined spam probability, `None` before `MIN_TRAINED` of each class.
pub fn probability(stats: &Stats, toks: &BTreeSet<String>) -> Option<f64> {
    if stats.spam_messages < MIN_TRAINED || stats.ham_messages < MIN_TRAINED {
        return None;
    }
    let mut clues: Vec<f64> = toks
        .iter()
        .filter_map(|t| stats.tokens.get(t))
        .map(|&(s, h)| token_probability(s, h, stats))
        .filter(|f| (f - 0.5).abs() >= MIN_STRENGTH)
        .collect();
    clues.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
    clues.truncate(MAX_CLUES);
    Some(combine(&clues))
}

/// f(w) = (S·X + n·p) / (S + n), with p the frequency-normalised spam share of the token.
fn token_probability(spam: u64, ham: u64, stats: &Stats) -> f64 {
    let sr = spam as f64 / stats.spam_messages.max(1) as f64;
    let hr = ham as f64 / stats.ham_messages.max(1) as f64;
    if sr + hr == 0.0 {
        return X;
    }
    let p = sr / (sr + hr);
    let n = (spam + ham) as f64;
    ((S * X + n * p) / (S + n)).clamp(0.0001, 0.9999)
}

/// Fisher's method both ways; (1 + spamminess − hamminess) / 2. No clues: 0.5.
fn combine(clues: &[f64]) -> f64 {
    if clues.is_empty() {
        return 0.5;
    }
    let n = clues.len();
    let ln_h: f64 = clues.iter().map(|f| f.ln()).sum();
    let ln_s: f64 = clues.iter().map(|f| (1.0 - f).ln()).sum();
    // Fisher on the ham side (products of f) and the spam side (products of 1-f).
    let h = 1.0 - chi2q(-2.0 * ln_h, 2 * n);
    let s = 1.0 - chi2q(-2.0 * ln_s, 2 * n);
    ((s - h + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// P(chi² ≥ x2) with `v` (even) degrees of freedom.
fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_leans_with_the_clues() {
        assert!(combine(&[0.99, 0.98, 0.95]) > 0.9);
        assert!(combine(&[0.01, 0.02, 0.05]) < 0.1);
        assert!((combine(&[0.99, 0.01]) - 0.5).abs() < 0.01);
        assert_eq!(combine(&[]), 0.5);
    }

    #[test]
    fn chi2q_bounds() {
        assert!((chi2q(0.0, 2) - 1.0).abs() < 1e-12);
        assert!(chi2q(1000.0, 4) < 1e-12);
    }
}
