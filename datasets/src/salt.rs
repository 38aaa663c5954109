//! Vault audit hashing: `hmac-sha256:<hex>` of tokens, accessors and string values.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::rng::hex;

/// The audit device salt, derived from the dataset seed.
#[derive(Debug, Clone)]
pub struct Salt {
    key: [u8; 32],
}

impl Salt {
    pub fn new(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"secretwatch-datasets/vault-audit-salt\0");
        h.update(seed.to_le_bytes());
        Salt {
            key: h.finalize().into(),
        }
    }

    /// `hmac-sha256:` + hex HMAC-SHA256 of `value`, as Vault's `salt.GetIdentifiedHMAC`.
    pub fn hmac(&self, value: &str) -> String {
        format!(
            "hmac-sha256:{}",
            hex(&hmac_sha256(&self.key, value.as_bytes()))
        )
    }

    /// Replaces every non-empty string in a JSON value by its HMAC (numbers and booleans stay clear).
    pub fn hmac_value(&self, v: Value) -> Value {
        match v {
            Value::String(s) if !s.is_empty() => Value::String(self.hmac(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| self.hmac_value(i)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, self.hmac_value(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// HMAC-SHA256 (RFC 2104) over SHA-256, block size 64.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= block[i];
        opad[i] ^= block[i];
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hashes_strings_only() {
        let s = Salt::new(7);
        let v = s.hmac_value(json!({"a": "x", "n": 3, "b": true, "e": "", "l": ["y"]}));
        assert_eq!(v["a"].as_str(), Some(s.hmac("x").as_str()));
        assert!(v["l"][0].as_str().unwrap().starts_with("hmac-sha256:"));
        assert_eq!(v["a"].as_str().unwrap().len(), "hmac-sha256:".len() + 64);
        assert_eq!(v["n"], 3);
        assert_eq!(v["b"], true);
        assert_eq!(v["e"], "");
    }
}
