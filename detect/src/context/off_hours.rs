//! `off-hours-human-prod-read`: a person reads or lists production secrets outside their team's
//! working days and hours, or on a team holiday, in the team's own timezone (DST-correct).
//!
//! A person is found by Kubernetes username, Vault display name or cloud principal (an AWS ARN,
//! an Azure `upn`, a GCP e-mail) in `teams[].members`; a cloud secret's environment comes from
//! `cloud_environments`. People
//! in no team get `default_team`'s hours when it is set, and are skipped otherwise (their hours
//! are unknown; identities nobody knows are the unknown-principal detection's business).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use secretwatch_ingest::{AccessEvent, Action, PrincipalKind};

use crate::alert::{Alert, Severity};
use crate::context::common::{
    credential_tags, object, outcome_class, remote_ip, verb, went_through, Groups,
};
use crate::context::hours::OffHours;
use crate::context::world::World;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "off-hours-human-prod-read";

pub struct OffHoursHumanProdRead {
    world: Arc<World>,
    groups: Groups,
}

impl OffHoursHumanProdRead {
    pub fn new(world: Arc<World>) -> Self {
        OffHoursHumanProdRead {
            world,
            groups: Groups::default(),
        }
    }
}

impl Detector for OffHoursHumanProdRead {
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
        if ev.principal.kind != PrincipalKind::Human
            || !ev.target.is_secret
            || !matches!(ev.action, Action::Read | Action::List)
        {
            return;
        }
        let Some(env) = self.world.target_env(ev) else {
            return;
        };
        if !self.world.is_production(env) {
            return;
        }
        let Some((team, by_default)) = self.world.team_of(&ev.principal.name) else {
            return;
        };
        let (local, why) = team.check(ev.time);
        let Some(why) = why else { return };
        let w = self.world.window;
        let ws = window_start(ev.time, w);
        let group = format!("{}\u{0}{}", ev.principal.name, outcome_class(ev));
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let when = match why {
            OffHours::Holiday => format!("on team holiday {}", local.format("%Y-%m-%d")),
            OffHours::DayOff | OffHours::OutsideHours => {
                format!("outside {}", team.hours_label())
            }
        };
        let reason = format!(
            "{} ({}team {}, {}) {} {env} {} at {} local time ({}), {when}, from {}",
            ev.principal.name,
            if by_default { "default " } else { "" },
            team.name,
            team.tz.name(),
            verb(ev),
            object(ev),
            local.format("%H:%M %a %Y-%m-%d"),
            ev.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            remote_ip(ev).unwrap_or("an unknown address"),
        );
        let severity = if went_through(ev) {
            Severity::High
        } else {
            Severity::Medium
        };
        out.push(Alert::from_event(
            RULE,
            severity,
            "Production secret read by a person outside working hours",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.credential-access",
                credential_tags(ev.source),
                "attack.t1078",
            ],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.world.window);
    }
}
