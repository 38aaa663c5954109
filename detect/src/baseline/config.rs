//! The `[detect.baseline]` section: learning periods, thresholds and bounds of the baselines.

use secretwatch_ingest::PrincipalKind;
use serde::{Deserialize, Serialize};

/// Settings of the per-principal baselines and their six detections.
///
/// ```toml
/// [detect.baseline]
/// learning_days = 7
/// min_hours_for_volume = 24
/// volume_p_value = 1e-6
/// volume_min_reads = 20
/// new_secrets_min = 10
/// unusual_hour_min_slots = 8
/// unusual_hour_min_hours_per_slot = 2.0
/// skip_kinds = ["node", "system_component", "anonymous"]
/// ipv4_prefix = 24
/// ipv6_prefix = 64
/// max_principals = 1000000
/// idle_days = 30
/// roaming_oidc_providers = ["token.actions.githubusercontent.com", "gitlab.com", ...]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Nothing alerts at all until the store holds this many days of event time since its
    /// first event (the store's learning period). Principals must also have been seen for this
    /// long before `new-source-for-principal` and `unusual-hour-for-principal` judge them.
    #[serde(default = "default_learning_days")]
    pub learning_days: u32,
    /// Completed active hours (hours with any event) a principal needs before its secret-read
    /// volume is tested (and a tracked secret before its own is: at most 255 hours).
    #[serde(default = "default_min_hours_for_volume")]
    pub min_hours_for_volume: u32,
    /// `secret-read-volume-anomaly` fires when the chance of reading this many secrets in one
    /// hour, under the principal's own fitted distribution, is below this.
    #[serde(default = "default_volume_p_value")]
    pub volume_p_value: f64,
    /// ... and at least this many secrets were read in the hour.
    #[serde(default = "default_volume_min_reads")]
    pub volume_min_reads: u32,
    /// `new-secrets-for-principal` fires when an established principal reads this many
    /// secrets it never read before within one hour (0 turns it off).
    #[serde(default = "default_new_secrets_min")]
    pub new_secrets_min: u32,
    /// `unusual-hour-for-principal` applies once the principal was active in at least this many
    /// distinct hour slots (hours of the week; hours of the day during its first week).
    #[serde(default = "default_unusual_hour_min_slots")]
    pub unusual_hour_min_slots: u32,
    /// ... and its active hours number at least this many times its distinct hour slots: its
    /// usual hours have repeated, so a new one is a surprise rather than one still being
    /// discovered (a workload active at random hours keeps finding new ones for weeks).
    #[serde(default = "default_unusual_hour_min_hours_per_slot")]
    pub unusual_hour_min_hours_per_slot: f64,
    /// Principal kinds the novelty detections (unknown principal, new source, unusual hour)
    /// skip: nodes come and go with autoscaling and move between addresses, control-plane
    /// components run around the clock, anonymous access has its own rule. The volume test
    /// applies to every kind.
    #[serde(default = "default_skip_kinds")]
    pub skip_kinds: Vec<PrincipalKind>,
    /// Hosts of OpenID Connect providers of hosted CI services. A cloud role session assumed
    /// with a token of one of them (its `oidc-provider/<host>` group) runs on the vendor's
    /// shared runners, whose addresses change with every job (GitHub: "About GitHub-hosted
    /// runners", IP addresses; GitLab.com hosted runners; CircleCI; HCP Terraform; Bitbucket
    /// Pipelines; Buildkite): a new source network is not news for such a principal, and
    /// `new-source-for-principal` judges only its user agent. Matched as a prefix of the host.
    #[serde(default = "default_roaming_oidc_providers")]
    pub roaming_oidc_providers: Vec<String>,
    /// Source addresses are remembered per network of this prefix length (IPv4).
    #[serde(default = "default_ipv4_prefix")]
    pub ipv4_prefix: u8,
    /// Source addresses are remembered per network of this prefix length (IPv6).
    #[serde(default = "default_ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Bound of the store; beyond it the least recently seen principals are forgotten (in
    /// batches of 1/64 of the bound) and counted in `BaselineStore::evicted`.
    #[serde(default = "default_max_principals")]
    pub max_principals: u32,
    /// Principals unseen this long are forgotten (and are unknown again if they come back).
    #[serde(default = "default_idle_days")]
    pub idle_days: u32,
}

fn default_learning_days() -> u32 {
    7
}
fn default_min_hours_for_volume() -> u32 {
    24
}
fn default_volume_p_value() -> f64 {
    1e-6
}
fn default_volume_min_reads() -> u32 {
    20
}
fn default_new_secrets_min() -> u32 {
    10
}
fn default_unusual_hour_min_slots() -> u32 {
    8
}
fn default_unusual_hour_min_hours_per_slot() -> f64 {
    2.0
}
fn default_skip_kinds() -> Vec<PrincipalKind> {
    vec![
        PrincipalKind::Node,
        PrincipalKind::SystemComponent,
        PrincipalKind::Anonymous,
    ]
}
fn default_roaming_oidc_providers() -> Vec<String> {
    [
        "token.actions.githubusercontent.com",
        "gitlab.com",
        "oidc.circleci.com",
        "app.terraform.io",
        "api.bitbucket.org",
        "agent.buildkite.com",
    ]
    .map(String::from)
    .to_vec()
}
fn default_ipv4_prefix() -> u8 {
    24
}
fn default_ipv6_prefix() -> u8 {
    64
}
fn default_max_principals() -> u32 {
    1_000_000
}
fn default_idle_days() -> u32 {
    30
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            learning_days: default_learning_days(),
            min_hours_for_volume: default_min_hours_for_volume(),
            volume_p_value: default_volume_p_value(),
            volume_min_reads: default_volume_min_reads(),
            new_secrets_min: default_new_secrets_min(),
            unusual_hour_min_slots: default_unusual_hour_min_slots(),
            unusual_hour_min_hours_per_slot: default_unusual_hour_min_hours_per_slot(),
            skip_kinds: default_skip_kinds(),
            ipv4_prefix: default_ipv4_prefix(),
            ipv6_prefix: default_ipv6_prefix(),
            max_principals: default_max_principals(),
            idle_days: default_idle_days(),
            roaming_oidc_providers: default_roaming_oidc_providers(),
        }
    }
}

impl BaselineConfig {
    /// Every problem at once, each naming its key relative to `detect.baseline.` (the caller
    /// prefixes it).
    pub fn validate(&self) -> Vec<String> {
        let mut errs = vec![];
        if !(1..=365).contains(&self.learning_days) {
            errs.push("learning_days: must be between 1 and 365".to_string());
        }
        if self.min_hours_for_volume > 24 * 365 {
            errs.push("min_hours_for_volume: must be at most 8760".to_string());
        }
        if !(self.volume_p_value > 0.0 && self.volume_p_value < 0.5) {
            errs.push("volume_p_value: must be above 0 and below 0.5".to_string());
        }
        if self.volume_min_reads == 0 {
            errs.push("volume_min_reads: must be at least 1".to_string());
        }
        if self.unusual_hour_min_slots > 168 {
            errs.push("unusual_hour_min_slots: must be at most 168".to_string());
        }
        if !(1.0..=1000.0).contains(&self.unusual_hour_min_hours_per_slot) {
            errs.push("unusual_hour_min_hours_per_slot: must be between 1 and 1000".to_string());
        }
        if !(8..=32).contains(&self.ipv4_prefix) {
            errs.push("ipv4_prefix: must be between 8 and 32".to_string());
        }
        if !(16..=128).contains(&self.ipv6_prefix) {
            errs.push("ipv6_prefix: must be between 16 and 128".to_string());
        }
        if self.max_principals < 64 {
            errs.push("max_principals: must be at least 64".to_string());
        }
        if self.idle_days < self.learning_days.max(1) || self.idle_days > 3650 {
            errs.push(
                "idle_days: must be at least learning_days (principals would be forgotten \
                 before they are learned) and at most 3650"
                    .to_string(),
            );
        }
        errs
    }

    pub(crate) fn skips(&self, kind: PrincipalKind) -> bool {
        self.skip_kinds.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_every_problem_is_reported() {
        assert!(BaselineConfig::default().validate().is_empty());
        let bad = BaselineConfig {
            learning_days: 0,
            volume_p_value: 0.0,
            volume_min_reads: 0,
            ipv4_prefix: 40,
            max_principals: 1,
            idle_days: 0,
            ..BaselineConfig::default()
        };
        let errs = bad.validate();
        assert_eq!(errs.len(), 6, "{errs:#?}");
        assert!(errs[0].starts_with("learning_days:"), "{errs:#?}");
    }

    #[test]
    fn parses_with_defaults_and_rejects_unknown_keys() {
        let cfg: BaselineConfig =
            serde_json::from_str(r#"{"learning_days":3,"skip_kinds":["node"]}"#).unwrap();
        assert_eq!(cfg.learning_days, 3);
        assert_eq!(cfg.skip_kinds, vec![PrincipalKind::Node]);
        assert_eq!(cfg.volume_min_reads, 20);
        assert!(serde_json::from_str::<BaselineConfig>(r#"{"learnin_days":3}"#).is_err());
    }
}
