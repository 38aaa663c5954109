//! `secret-values-in-audit-log`: the audit pipeline itself carries secret values
//! (Kubernetes RequestResponse bodies of Secrets, Vault `log_raw`, tokens in clear).
//! One alert per source and store per day; the values were redacted at ingest.

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Redactions};

use crate::alert::{Alert, Severity};
use crate::builtin::groups::WindowedGroups;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "secret-values-in-audit-log";
const DAY: u32 = 24 * 60;

#[derive(Default)]
pub struct SecretValuesInAuditLog {
    groups: WindowedGroups,
}

impl SecretValuesInAuditLog {
    pub fn new() -> Self {
        Self::default()
    }
}

fn what(r: Redactions) -> String {
    let mut parts = vec![];
    if r.contains(Redactions::SECRET_BODY) {
        parts.push("Secret data in a request/response body");
    }
    if r.contains(Redactions::VAULT_CLEAR_VALUE) {
        parts.push("un-HMAC'd Vault data values");
    }
    if r.contains(Redactions::TOKEN) {
        parts.push("a token in clear");
    }
    if r.contains(Redactions::HEADER) {
        parts.push("a credential header");
    }
    if r.contains(Redactions::URI_CREDENTIAL) {
        parts.push("a credential in a request URI");
    }
    if r.contains(Redactions::CREDENTIAL_IN_BODY) {
        parts.push("credential-like values in a non-Secret body");
    }
    parts.join(", ")
}

impl Detector for SecretValuesInAuditLog {
    fn id(&self) -> &'static str {
        RULE
    }
    fn export_state(&self) -> Option<serde_json::Value> {
        self.groups.export()
    }
    fn import_state(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.groups.import(state)
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if !ev.redactions.removed_secret() {
            return;
        }
        let ws = window_start(ev.time, DAY);
        let group = format!("{}\u{0}{}", ev.source, ev.target.store);
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let reason = format!(
            "the {} audit log of {} contains {} (event {} by {}); secretwatch redacted it, but the log sink holds the values: lower the audit level for Secrets to Metadata (Kubernetes) or disable log_raw / HMAC the keys (Vault)",
            ev.source,
            ev.target.store,
            what(ev.redactions),
            ev.id,
            ev.principal.name,
        );
        out.push(Alert::from_event(
            RULE,
            Severity::High,
            "Secret values written to the audit log",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.credential-access",
                "attack.t1552",
                "compliance.pci-dss.3.4",
            ],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, DAY);
    }
}
