//! What the baseline keeps of an event, reduced to hashes: the principal key and the tagged
//! 32-bit terms (source network, user agent, namespace, secret).
//!
//! Every hash here is persisted, so it must not change between runs, builds or platforms:
//! the principal key is SHA-256 (an attacker cannot choose a new identity whose key passes as
//! a known one), terms use FNV-1a with a murmur3 finalizer (fast; at 29 bits a collision can
//! be searched for by anyone who knows a principal's terms, a limit the Bloom filters share).

use std::net::IpAddr;

use ipnet::IpNet;
use secretwatch_ingest::{AccessEvent, SourceSystem};
use sha2::{Digest, Sha256};

/// The kinds of term a principal's set holds. The kind is the top 3 bits of the stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TermKind {
    Network = 1,
    UserAgent = 2,
    Namespace = 3,
    Secret = 4,
}

impl TermKind {
    pub const ALL: [TermKind; 4] = [
        TermKind::Network,
        TermKind::UserAgent,
        TermKind::Namespace,
        TermKind::Secret,
    ];

    /// 0..4, for per-kind arrays.
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// The kind of a stored term.
    pub fn of(term: u32) -> TermKind {
        match term >> 29 {
            1 => TermKind::Network,
            2 => TermKind::UserAgent,
            3 => TermKind::Namespace,
            _ => TermKind::Secret,
        }
    }
}

/// Key of a principal in the store: the first 8 bytes of SHA-256(source, 0, name).
pub fn principal_key(source: SourceSystem, name: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(source.as_str().as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// FNV-1a 64, fed piece by piece.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn byte(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fn bytes(&mut self, bs: &[u8]) {
        for &b in bs {
            self.byte(b);
        }
    }
    /// A separator, so ("ab","c") and ("a","bc") differ.
    fn sep(&mut self) {
        self.byte(0xff);
    }
    fn finish(self) -> u64 {
        mix64(self.0)
    }
}

/// Byte strings hashed as one term (FNV-1a with a separator after each, then [`mix64`]):
/// stable across machines and runs, for keys that are saved.
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h = Fnv::new();
    for p in parts {
        h.bytes(p);
        h.sep();
    }
    h.finish()
}

/// The murmur3 64-bit finalizer: every input bit affects every output bit.
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// A tagged term: kind in the top 3 bits, 29 bits of hash below (never 0).
fn tag(kind: TermKind, h: u64) -> u32 {
    ((kind as u32) << 29) | ((h as u32) & 0x1fff_ffff)
}

/// The network (`/24`, `/64` by default) an address belongs to; `None` when it is not an IP.
pub fn network(ip: &str, v4_prefix: u8, v6_prefix: u8) -> Option<IpNet> {
    network_of(ip.trim().parse().ok()?, v4_prefix, v6_prefix)
}

/// The network of a parsed address.
fn network_of(addr: IpAddr, v4_prefix: u8, v6_prefix: u8) -> Option<IpNet> {
    let addr = addr.to_canonical();
    let len = match addr {
        IpAddr::V4(_) => v4_prefix.min(32),
        IpAddr::V6(_) => v6_prefix.min(128),
    };
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

/// The network term of a source address (a source that is not an IP is its own term).
pub fn network_term(ip: &str, v4_prefix: u8, v6_prefix: u8) -> u32 {
    network_term_parsed(ip, ip.trim().parse().ok(), v4_prefix, v6_prefix)
}

/// [`network_term`] of `ip` already parsed into `addr` (`None`: not an IP).
pub fn network_term_parsed(ip: &str, addr: Option<IpAddr>, v4_prefix: u8, v6_prefix: u8) -> u32 {
    let mut h = Fnv::new();
    match addr.and_then(|a| network_of(a, v4_prefix, v6_prefix)) {
        Some(IpNet::V4(n)) => {
            h.bytes(&n.network().octets());
            h.byte(n.prefix_len());
        }
        Some(IpNet::V6(n)) => {
            h.bytes(&n.network().octets());
            h.byte(n.prefix_len());
        }
        None => {
            h.sep();
            h.bytes(ip.trim().as_bytes());
        }
    }
    tag(TermKind::Network, h.finish())
}

/// How a source address is shown in reasons: its network, or the raw text.
pub fn network_label(ip: &str, v4_prefix: u8, v6_prefix: u8) -> String {
    match network(ip, v4_prefix, v6_prefix) {
        Some(n) => n.to_string(),
        None => ip.trim().to_string(),
    }
}

/// A user agent reduced to product and major version, lowercase:
/// `kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46` -> `kubectl/v1`, `curl/8.5.0` -> `curl/8`.
/// Patch and minor upgrades of a client are not a new client; a different tool is.
pub fn user_agent_parts(ua: &str) -> (&str, &str) {
    let first = ua.split_whitespace().next().unwrap_or("");
    let first = &first[..floor_char_boundary(first, 64)];
    let (product, version) = first.split_once('/').unwrap_or((first, ""));
    let major = version.split('.').next().unwrap_or("");
    (product, major)
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub fn user_agent_term(ua: &str) -> u32 {
    let (product, major) = user_agent_parts(ua);
    let mut h = Fnv::new();
    for b in product.bytes() {
        h.byte(b.to_ascii_lowercase());
    }
    h.sep();
    for b in major.bytes() {
        h.byte(b.to_ascii_lowercase());
    }
    tag(TermKind::UserAgent, h.finish())
}

pub fn user_agent_label(ua: &str) -> String {
    let (product, major) = user_agent_parts(ua);
    let mut s = product.to_ascii_lowercase();
    if !major.is_empty() {
        s.push('/');
        s.push_str(&major.to_ascii_lowercase());
    }
    s
}

/// The namespace touched (Kubernetes namespace, Vault namespace), with its store.
pub fn namespace_term(store: &str, ns: &str) -> u32 {
    let mut h = Fnv::new();
    h.bytes(store.as_bytes());
    h.sep();
    h.bytes(ns.as_bytes());
    tag(TermKind::Namespace, h.finish())
}

/// One named secret: store, namespace, resource and name.
pub fn secret_term(ev: &AccessEvent<'_>) -> Option<u32> {
    let t = &ev.target;
    let name = t.name.as_deref()?;
    let mut h = Fnv::new();
    h.bytes(t.store.as_bytes());
    for part in [&t.namespace, &t.resource] {
        h.sep();
        h.bytes(part.as_deref().unwrap_or("").as_bytes());
    }
    h.sep();
    h.bytes(name.as_bytes());
    Some(tag(TermKind::Secret, h.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_group_addresses() {
        let a = network_term("10.42.3.7", 24, 64);
        assert_eq!(a, network_term("10.42.3.200", 24, 64));
        assert_ne!(a, network_term("10.42.4.7", 24, 64));
        assert_eq!(network_label("10.42.3.7", 24, 64), "10.42.3.0/24");
        assert_eq!(network_label("2001:db8::1", 24, 64), "2001:db8::/64");
        assert_eq!(network_label("::ffff:10.1.2.3", 24, 64), "10.1.2.0/24");
        assert_eq!(
            network_term("2001:db8::1", 24, 64),
            network_term("2001:db8::ffff", 24, 64)
        );
        assert_eq!(network_label("unix", 24, 64), "unix");
        assert_eq!(TermKind::of(a), TermKind::Network);
    }

    #[test]
    fn user_agents_keep_product_and_major_version() {
        let k = "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46";
        assert_eq!(user_agent_label(k), "kubectl/v1");
        assert_eq!(
            user_agent_term(k),
            user_agent_term("kubectl/v1.30.0 (darwin/arm64) kubernetes/aaaa")
        );
        assert_ne!(user_agent_term(k), user_agent_term("curl/8.5.0"));
        assert_eq!(user_agent_label("curl/8.5.0"), "curl/8");
        assert_eq!(user_agent_label("Go-http-client/1.1"), "go-http-client/1");
        assert_eq!(TermKind::of(user_agent_term(k)), TermKind::UserAgent);
    }

    #[test]
    fn hashes_are_stable() {
        // Persisted state depends on these values: they must never change.
        assert_eq!(
            principal_key(SourceSystem::Kubernetes, "alice"),
            principal_key(SourceSystem::Kubernetes, "alice")
        );
        assert_ne!(
            principal_key(SourceSystem::Kubernetes, "alice"),
            principal_key(SourceSystem::Vault, "alice")
        );
        assert_eq!(mix64(1), 0xb456_bcfc_34c2_cb2c);
        assert_eq!(user_agent_term("curl/8.5.0"), 1_289_177_317);
    }
}
