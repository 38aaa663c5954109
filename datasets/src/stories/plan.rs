//! Where and when each story happens: after the first day (so baselines can learn), at times that fit it.

use rand::Rng;

use crate::labels::StoryRec;
use crate::options::GenerateOptions;
use crate::rng::{between, sub_rng};
use crate::schedule::{in_work_hours, DayCtx, ROTATION_HOURS};
use crate::sink::Sink;
use crate::stories::{cloud, k8s_attacks, mixed};
use crate::timefmt::{local, local_in, DAY, HOUR, MIN};
use crate::world::{APPS, SYNCED_KEYS, TEAMS};

/// Detection ids, in the order of the story catalogue.
pub const DETECTIONS: [&str; 22] = [
    "k8s-secrets-list-cluster-wide",
    "bulk-secret-reads",
    "unknown-principal-secret-access",
    "cross-namespace-secret-read",
    "cross-environment-secret-access",
    "off-hours-human-prod-read",
    "sa-token-outside-cluster",
    "break-glass-use",
    "denied-secret-burst",
    "anonymous-secret-access",
    "audit-tampering",
    "rbac-broad-secret-grant",
    "secret-values-in-audit-log",
    "rotation-sync-gap",
    "missing-secret-404",
    "missing-secret",
    "exec-reads-credential-files",
    "sa-token-minted",
    "helm-release-read-by-non-deployer",
    "cloud-secret-store-enumerated",
    "secret-shared-outside",
    "new-secrets-for-principal",
];

/// One story scenario (some detections have several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ListClusterWide,
    BulkReads,
    UnknownPrincipal,
    CrossNamespace,
    CrossEnvironment,
    OffHours,
    TokenOutside,
    BreakGlassRoot,
    BreakGlassMasters,
    BreakGlassImpersonation,
    DeniedBurstK8s,
    DeniedBurstVault,
    Anonymous,
    AuditTampering,
    RbacGrant,
    SecretValues,
    RotationGap,
    Missing404,
    MissingSecret,
    ExecToken,
    MintToken,
    HelmValues,
    LeakedKey,
    SharedOutside,
    SyncTokenHarvest,
}

const ALL: [Kind; 25] = [
    Kind::ListClusterWide,
    Kind::BulkReads,
    Kind::UnknownPrincipal,
    Kind::CrossNamespace,
    Kind::CrossEnvironment,
    Kind::OffHours,
    Kind::TokenOutside,
    Kind::BreakGlassRoot,
    Kind::BreakGlassMasters,
    Kind::BreakGlassImpersonation,
    Kind::DeniedBurstK8s,
    Kind::DeniedBurstVault,
    Kind::Anonymous,
    Kind::AuditTampering,
    Kind::RbacGrant,
    Kind::SecretValues,
    Kind::RotationGap,
    Kind::Missing404,
    Kind::MissingSecret,
    Kind::ExecToken,
    Kind::MintToken,
    Kind::HelmValues,
    Kind::LeakedKey,
    Kind::SharedOutside,
    Kind::SyncTokenHarvest,
];

/// When a story may happen.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// Any day, 01:00 to 21:00 UTC.
    Any,
    /// Working hours (weekday 09:30 to 16:30) of a team (index into `TEAMS`).
    Work(usize),
    /// Weekday, within the rotator's hours.
    Rotation,
    /// About 03:00 in Berlin on a weekend.
    BerlinWeekendNight,
}

fn window(kind: Kind) -> Window {
    match kind {
        Kind::OffHours => Window::BerlinWeekendNight,
        Kind::BreakGlassImpersonation | Kind::RbacGrant => Window::Work(0),
        Kind::ExecToken => Window::Work(1),
        Kind::MintToken => Window::Work(2),
        Kind::HelmValues => Window::Work(0),
        Kind::SharedOutside => Window::Work(0),
        Kind::AuditTampering => Window::Work(1),
        Kind::SecretValues => Window::Work(0),
        Kind::RotationGap => Window::Rotation,
        _ => Window::Any,
    }
}

fn fits(w: Window, t: i64) -> bool {
    match w {
        Window::Any => {
            let (_, since) = local(t, 0);
            (HOUR..21 * HOUR).contains(&since)
        }
        Window::Work(team) => {
            let tz = TEAMS[team].2;
            let (_, since) = local_in(t, tz);
            in_work_hours(t, tz) && (9 * HOUR + 30 * MIN..16 * HOUR + 30 * MIN).contains(&since)
        }
        Window::Rotation => {
            let (weekday, since) = local(t, 0);
            weekday < 5
                && (ROTATION_HOURS.0 * HOUR + 30 * MIN..ROTATION_HOURS.1 * HOUR).contains(&since)
        }
        Window::BerlinWeekendNight => {
            let (weekday, since) = local_in(t, TEAMS[0].2);
            weekday >= 5 && (2 * HOUR + 50 * MIN..3 * HOUR + 20 * MIN).contains(&since)
        }
    }
}

/// Weaker window used when the dataset has no slot for the preferred one.
fn relaxed(w: Window, t: i64) -> bool {
    match w {
        Window::BerlinWeekendNight => {
            let (_, since) = local_in(t, TEAMS[0].2);
            (2 * HOUR + 50 * MIN..3 * HOUR + 20 * MIN).contains(&since)
        }
        Window::Work(team) => {
            let (_, since) = local_in(t, TEAMS[team].2);
            (9 * HOUR + 30 * MIN..16 * HOUR + 30 * MIN).contains(&since)
        }
        Window::Rotation => {
            let (_, since) = local(t, 0);
            (ROTATION_HOURS.0 * HOUR..ROTATION_HOURS.1 * HOUR).contains(&since)
        }
        Window::Any => true,
    }
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub kind: Kind,
    pub t: i64,
}

/// All stories of the dataset.
#[derive(Debug, Clone, Default)]
pub struct StoryPlan {
    pub slots: Vec<Slot>,
    /// (time, app, key) of the prod rotation whose sync comes late.
    pub gap_rotation: Option<(i64, usize, usize)>,
}

impl StoryPlan {
    pub fn build(opts: &GenerateOptions, start: i64) -> Self {
        if !opts.stories {
            return StoryPlan::default();
        }
        let mut rng = sub_rng(opts.seed, "stories.plan", 0);
        let days = i64::from(opts.days);
        // After the first day when there is one; the last hour of the last day stays free.
        let from = if days >= 2 { start + DAY } else { start };
        let to = start + days * DAY - HOUR;
        let mut slots = Vec::new();
        for kind in ALL {
            let w = window(kind);
            let t = sample(&mut rng, from, to, |t| fits(w, t))
                .or_else(|| sample(&mut rng, from, to, |t| relaxed(w, t)))
                .unwrap_or_else(|| between(&mut rng, from, to));
            slots.push(Slot { kind, t });
        }
        let gap_rotation = slots.iter().find(|s| s.kind == Kind::RotationGap).map(|s| {
            let app = rng.random_range(0..APPS.len());
            let key = rng.random_range(0..SYNCED_KEYS.len());
            (s.t, app, key)
        });
        StoryPlan {
            slots,
            gap_rotation,
        }
    }
}

fn sample(rng: &mut impl Rng, from: i64, to: i64, ok: impl Fn(i64) -> bool) -> Option<i64> {
    (0..20_000).map(|_| between(rng, from, to)).find(|t| ok(*t))
}

/// Writes the stories that start on this day.
pub fn generate_day(ctx: &DayCtx<'_>, plan: &StoryPlan, sink: &mut Sink, out: &mut Vec<StoryRec>) {
    for slot in plan
        .slots
        .iter()
        .filter(|s| s.t >= ctx.start && s.t < ctx.end)
    {
        let mut rng = ctx.rng(&format!("story.{:?}", slot.kind));
        let t = slot.t;
        match slot.kind {
            Kind::ListClusterWide => k8s_attacks::list_cluster_wide(ctx, sink, &mut rng, t, out),
            Kind::BulkReads => k8s_attacks::bulk_reads(ctx, sink, &mut rng, t, out),
            Kind::UnknownPrincipal => k8s_attacks::unknown_principal(ctx, sink, &mut rng, t, out),
            Kind::CrossNamespace => k8s_attacks::cross_namespace(ctx, sink, &mut rng, t, out),
            Kind::TokenOutside => k8s_attacks::token_outside(ctx, sink, &mut rng, t, out),
            Kind::DeniedBurstK8s => k8s_attacks::denied_burst(ctx, sink, &mut rng, t, out),
            Kind::Anonymous => k8s_attacks::anonymous(ctx, sink, &mut rng, t, out),
            Kind::Missing404 => k8s_attacks::missing_404(ctx, sink, &mut rng, t, out),
            Kind::MissingSecret => k8s_attacks::missing_secret(ctx, sink, &mut rng, t, out),
            Kind::ExecToken => k8s_attacks::exec_token(ctx, sink, &mut rng, t, out),
            Kind::MintToken => k8s_attacks::mint_token(ctx, sink, &mut rng, t, out),
            Kind::HelmValues => k8s_attacks::helm_values(ctx, sink, &mut rng, t, out),
            Kind::LeakedKey => cloud::leaked_key(ctx, sink, &mut rng, t, out),
            Kind::SharedOutside => cloud::shared_outside(ctx, sink, &mut rng, t, out),
            Kind::SyncTokenHarvest => mixed::sync_token_harvest(ctx, sink, &mut rng, t, out),
            Kind::SecretValues => k8s_attacks::secret_values(ctx, sink, &mut rng, t, out),
            Kind::BreakGlassMasters => {
                k8s_attacks::break_glass_masters(ctx, sink, &mut rng, t, out)
            }
            Kind::BreakGlassImpersonation => {
                k8s_attacks::impersonation(ctx, sink, &mut rng, t, out)
            }
            Kind::CrossEnvironment => mixed::cross_environment(ctx, sink, &mut rng, t, out),
            Kind::OffHours => mixed::off_hours(ctx, sink, &mut rng, t, out),
            Kind::BreakGlassRoot => mixed::root_token(ctx, sink, &mut rng, t, out),
            Kind::DeniedBurstVault => mixed::denied_burst_vault(ctx, sink, &mut rng, t, out),
            Kind::AuditTampering => mixed::audit_tampering(ctx, sink, &mut rng, t, out),
            Kind::RbacGrant => mixed::rbac_grant(ctx, sink, &mut rng, t, out),
            Kind::RotationGap => mixed::rotation_gap(ctx, sink, &mut rng, plan, out),
        }
    }
}
