//! Deterministic randomness: one ChaCha8 stream per (seed, component, index), plus small helpers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// An independent random stream for one component, so that adding traffic to one component
/// never shifts the choices of another.
pub fn sub_rng(seed: u64, label: &str, index: u64) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"secretwatch-datasets/v1\0");
    h.update(seed.to_le_bytes());
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(index.to_le_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// A random version-4 UUID, e.g. `5f0c2b1e-8a9d-4e3f-b2a1-0c9d8e7f6a5b`.
pub fn uuid(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Random string over an alphabet.
pub fn string_from(rng: &mut impl Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Random alphanumeric string.
pub fn alnum(rng: &mut impl Rng, len: usize) -> String {
    string_from(
        rng,
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        len,
    )
}

/// Suffix alphabet Kubernetes uses for generated names (no vowels, no confusable digits).
pub fn k8s_suffix(rng: &mut impl Rng, len: usize) -> String {
    string_from(rng, b"bcdfghjklmnpqrstvwxz2456789", len)
}

/// Pick one element of a non-empty slice.
pub fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Uniform integer in `[lo, hi)`; `lo` when the range is empty.
pub fn between(rng: &mut impl Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// Exponentially distributed gap with the given mean (nanoseconds), at least 1.
pub fn exp_gap(rng: &mut impl Rng, mean: f64) -> i64 {
    let u: f64 = rng.random::<f64>();
    ((-(1.0 - u).ln()) * mean).max(1.0) as i64
}

/// Times of a Poisson process with mean gap `mean` (nanoseconds) in `[start, end)`.
pub fn poisson(rng: &mut impl Rng, start: i64, end: i64, mean: f64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = start + exp_gap(rng, mean);
    while t < end {
        out.push(t);
        t += exp_gap(rng, mean);
    }
    out
}

/// Longest wait before the first occurrence of a periodic process, so that every process of a day
/// shows up in it even at small scales (baselines learn every benign identity on the first day).
const FIRST_WITHIN: f64 = 12.0 * 3600.0 * 1e9;

/// Times of a jittered periodic process (period `every` nanoseconds, +/- `jitter` of it) in `[start, end)`.
pub fn periodic(rng: &mut impl Rng, start: i64, end: i64, every: f64, jitter: f64) -> Vec<i64> {
    let every = every.max(1.0);
    let mut out = Vec::with_capacity(((end - start) as f64 / every) as usize + 1);
    let mut t = start + (rng.random::<f64>() * every.min(FIRST_WITHIN)) as i64;
    while t < end {
        out.push(t);
        let j = 1.0 + jitter * (2.0 * rng.random::<f64>() - 1.0);
        t += (every * j).max(1.0) as i64;
    }
    out
}

/// Poisson-distributed count with the given mean (Knuth's method, fine for small means).
pub fn poisson_count(rng: &mut impl Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 50.0 {
        let v = mean + mean.sqrt() * (rng.random::<f64>() + rng.random::<f64>() - 1.0) * 2.45;
        return v.round().max(0.0) as u32;
    }
    let l = (-mean).exp();
    let mut k = 0u32;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// Standard base64 (with padding) of some bytes.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        s.push(A[(n >> 18) as usize & 63] as char);
        s.push(A[(n >> 12) as usize & 63] as char);
        s.push(if chunk.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if chunk.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape_and_determinism() {
        let a = uuid(&mut sub_rng(1, "x", 0));
        let b = uuid(&mut sub_rng(1, "x", 0));
        let c = uuid(&mut sub_rng(2, "x", 0));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn processes_stay_in_range() {
        let mut r = sub_rng(3, "p", 0);
        let p = periodic(&mut r, 0, 1000, 10.0, 0.2);
        assert!(p.len() > 80 && p.len() < 130);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && p.iter().all(|t| (0..1000).contains(t)));
        let q = poisson(&mut r, 0, 100_000, 100.0);
        assert!(q.len() > 800 && q.len() < 1200);
    }
}
