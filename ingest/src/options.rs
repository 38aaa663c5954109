//! Parser options (the `[ingest]` part of the config, validated by the binary).

/// Kubernetes audit stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];

    pub fn parse(s: &str) -> Option<Stage> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of stages, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSet(u8);

impl StageSet {
    pub fn of(stages: &[Stage]) -> Self {
        StageSet(stages.iter().fold(0, |m, s| m | s.bit()))
    }
    pub fn contains(self, s: Stage) -> bool {
        self.0 & s.bit() != 0
    }
}

impl Default for StageSet {
    fn default() -> Self {
        StageSet::of(&[Stage::ResponseComplete, Stage::Panic])
    }
}

/// How records become events.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Store name given to Kubernetes events (the cluster name).
    pub cluster: String,
    /// Store name given to Vault events (address or instance name); the mount is appended.
    pub vault: String,
    /// Kubernetes stages that count as one access.
    pub final_stages: StageSet,
    /// Size bound of the redacted raw copy kept in each event.
    pub raw_max_bytes: usize,
    /// Longest record accepted.
    pub max_record_bytes: usize,
    /// Vault requests waiting for their response before they are emitted alone.
    pub vault_max_pending: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            cluster: "kubernetes".into(),
            vault: "vault".into(),
            final_stages: StageSet::default(),
            raw_max_bytes: 16 * 1024,
            max_record_bytes: 4 * 1024 * 1024,
            vault_max_pending: 10_000,
        }
    }
}
