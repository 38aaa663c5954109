//! The set of terms a principal was seen with: exact while small, Bloom filters after.
//!
//! Budget: 48 bytes inline (11 tagged 32-bit terms of any kind, e.g. 2 networks, 1 user
//! agent, 1 namespace, 7 secrets). The 12th distinct term moves the principal to four Bloom
//! filters, one per kind, of 512 bits (64 bytes) each with 4 hash functions: 256 bytes on the
//! heap plus the 8-byte pointer. A filter answers "never seen" exactly and "seen" with a
//! false-positive rate of about (1 - e^(-4n/512))^4 for n terms of its kind: 2e-6 at 5,
//! 4e-4 at 20, 1% at 50, 9% at 100. A principal with hundreds of terms of a kind (a
//! controller reading every secret) saturates that kind's filter: its novelty can no longer
//! be judged and it stays quiet, which [`Terms::false_positive_rate`] makes visible.

use crate::baseline::terms::{mix64, TermKind};

/// Inline slots: 11 x 4 bytes plus the discriminant fill the 48 bytes the boxed form needs.
pub const INLINE: usize = 11;
/// Bits per Bloom filter.
pub const BLOOM_BITS: u32 = 512;
/// Hash functions per Bloom filter.
pub const BLOOM_K: u32 = 4;
const WORDS: usize = (BLOOM_BITS / 64) as usize;

/// One Bloom filter of 512 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bloom(pub [u64; WORDS]);

impl Bloom {
    fn positions(term: u32) -> impl Iterator<Item = u32> {
        let x = mix64(u64::from(term));
        let h1 = x as u32;
        let h2 = ((x >> 32) as u32) | 1;
        (0..BLOOM_K).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % BLOOM_BITS)
    }

    fn contains(&self, term: u32) -> bool {
        Bloom::positions(term).all(|p| self.0[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// True when a bit was newly set (the term was certainly new).
    fn insert(&mut self, term: u32) -> bool {
        let mut new = false;
        for p in Bloom::positions(term) {
            let (w, b) = ((p / 64) as usize, 1u64 << (p % 64));
            new |= self.0[w] & b == 0;
            self.0[w] |= b;
        }
        new
    }

    fn bits_set(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// A principal's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terms {
    /// Exact: non-zero tagged terms from the front, zeros after.
    Inline([u32; INLINE]),
    /// One filter per [`TermKind`], indexed by [`TermKind::index`].
    Blooms(Box<[Bloom; 4]>),
}

impl Default for Terms {
    fn default() -> Self {
        Terms::Inline([0; INLINE])
    }
}

impl Terms {
    pub fn contains(&self, term: u32) -> bool {
        match self {
            Terms::Inline(slots) => slots.contains(&term),
            Terms::Blooms(b) => b[TermKind::of(term).index()].contains(term),
        }
    }

    /// Adds `term`; true when it was not in the set (for a filter: certainly not).
    pub fn insert(&mut self, term: u32) -> bool {
        debug_assert!(term != 0);
        match self {
            Terms::Inline(slots) => {
                if slots.contains(&term) {
                    return false;
                }
                if let Some(free) = slots.iter_mut().find(|s| **s == 0) {
                    *free = term;
                    return true;
                }
                let mut blooms = Box::new([Bloom::default(); 4]);
                for &t in slots.iter() {
                    blooms[TermKind::of(t).index()].insert(t);
                }
                blooms[TermKind::of(term).index()].insert(term);
                *self = Terms::Blooms(blooms);
                true
            }
            Terms::Blooms(b) => b[TermKind::of(term).index()].insert(term),
        }
    }

    /// How many distinct terms of `kind`: exact inline, estimated from the filter's fill
    /// (n = -m/k ln(1 - X/m)) after.
    pub fn count(&self, kind: TermKind) -> f64 {
        match self {
            Terms::Inline(slots) => slots
                .iter()
                .filter(|&&t| t != 0 && TermKind::of(t) == kind)
                .count() as f64,
            Terms::Blooms(b) => {
                let m = f64::from(BLOOM_BITS);
                let x = f64::from(b[kind.index()].bits_set()).min(m - 1.0);
                -m / f64::from(BLOOM_K) * (1.0 - x / m).ln()
            }
        }
    }

    /// Chance that a term of `kind` never inserted is reported as seen: 0 while exact,
    /// (bits set / bits)^k for a filter.
    pub fn false_positive_rate(&self, kind: TermKind) -> f64 {
        match self {
            Terms::Inline(_) => 0.0,
            Terms::Blooms(b) => {
                (f64::from(b[kind.index()].bits_set()) / f64::from(BLOOM_BITS)).powi(BLOOM_K as i32)
            }
        }
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, Terms::Inline(_))
    }

    /// Bytes allocated on the heap.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Terms::Inline(_) => 0,
            Terms::Blooms(_) => std::mem::size_of::<[Bloom; 4]>(),
        }
    }

    /// For persistence: the inline terms, or `None` when filters are in use.
    pub fn inline(&self) -> Option<&[u32]> {
        match self {
            Terms::Inline(slots) => {
                let n = slots.iter().position(|&t| t == 0).unwrap_or(INLINE);
                Some(&slots[..n])
            }
            Terms::Blooms(_) => None,
        }
    }

    /// For persistence: the filter words, kind by kind.
    pub fn bloom_words(&self) -> Option<impl Iterator<Item = u64> + '_> {
        match self {
            Terms::Inline(_) => None,
            Terms::Blooms(b) => Some(b.iter().flat_map(|f| f.0.iter().copied())),
        }
    }

    /// Rebuild from persisted inline terms (at most [`INLINE`], none zero).
    pub fn from_inline(terms: &[u32]) -> Option<Terms> {
        if terms.len() > INLINE || terms.contains(&0) {
            return None;
        }
        let mut slots = [0; INLINE];
        slots[..terms.len()].copy_from_slice(terms);
        Some(Terms::Inline(slots))
    }

    /// Rebuild from persisted filter words (4 x 8).
    pub fn from_bloom_words(words: &[u64]) -> Option<Terms> {
        if words.len() != 4 * WORDS {
            return None;
        }
        let mut blooms = Box::new([Bloom::default(); 4]);
        for (i, f) in blooms.iter_mut().enumerate() {
            f.0.copy_from_slice(&words[i * WORDS..(i + 1) * WORDS]);
        }
        Some(Terms::Blooms(blooms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::terms::{network_term, user_agent_term};

    fn secret(i: u32) -> u32 {
        (4 << 29) | (mix64(u64::from(i)) as u32 & 0x1fff_ffff)
    }

    #[test]
    fn exact_then_bloom_without_forgetting() {
        assert_eq!(std::mem::size_of::<Terms>(), 48);
        let mut t = Terms::default();
        let net = network_term("10.0.0.1", 24, 64);
        let ua = user_agent_term("kubectl/v1.31.0");
        assert!(t.insert(net));
        assert!(!t.insert(net));
        assert!(t.insert(ua));
        for i in 0..9 {
            assert!(t.insert(secret(i)));
        }
        assert!(t.is_exact());
        assert_eq!(t.count(TermKind::Secret), 9.0);
        assert!(t.insert(secret(9)));
        assert!(!t.is_exact());
        assert_eq!(t.heap_bytes(), 256);
        for i in 0..10 {
            assert!(t.contains(secret(i)), "{i}");
        }
        assert!(t.contains(net) && t.contains(ua));
        // Secrets fill their own filter only: the network answer stays exact-ish.
        for i in 10..2000 {
            t.insert(secret(i));
        }
        assert!(t.false_positive_rate(TermKind::Secret) > 0.9);
        assert!(t.false_positive_rate(TermKind::Network) < 1e-8);
        assert!(!t.contains(network_term("192.0.2.1", 24, 64)));
        assert!((t.count(TermKind::Network) - 1.0).abs() < 0.01);
    }

    #[test]
    fn bloom_false_positive_rate_is_as_documented() {
        let mut t = Terms::default();
        for i in 0..50 {
            t.insert(secret(i));
        }
        let fp = (50..100_050).filter(|&i| t.contains(secret(i))).count() as f64 / 100_000.0;
        let predicted = (1.0 - (-4.0f64 * 50.0 / 512.0).exp()).powi(4);
        assert!(
            fp < 2.0 * predicted + 0.002,
            "fp {fp} predicted {predicted}"
        );
        assert!((t.count(TermKind::Secret) - 50.0).abs() < 8.0);
    }
}
