//! Where generators put what they produce before it is sorted and written.

use crate::vault::VaultCall;

/// One serialised output line and its sort key.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Sort time (nanoseconds): `stageTimestamp` for Kubernetes, `time` for Vault.
    pub t: i64,
    /// Generation order, the tie breaker that keeps sorting deterministic.
    pub seq: u64,
    pub line: String,
}

/// Output of the generators for the day being generated.
#[derive(Debug, Default)]
pub struct Sink {
    pub k8s: Vec<Rec>,
    /// Vault calls are kept structured until logins are inserted (see `vault::finalize`).
    pub vault: Vec<VaultCall>,
    /// CloudTrail records, sorted by `eventTime`.
    pub aws: Vec<Rec>,
    seq: u64,
}

impl Sink {
    pub fn new() -> Self {
        Sink::default()
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn push_k8s(&mut self, t: i64, line: String) {
        let seq = self.next_seq();
        self.k8s.push(Rec { t, seq, line });
    }

    pub fn push_aws(&mut self, t: i64, line: String) {
        let seq = self.next_seq();
        self.aws.push(Rec { t, seq, line });
    }

    pub fn push_vault(&mut self, call: VaultCall) {
        self.vault.push(call);
    }
}
