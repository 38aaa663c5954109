//! Stories in the Vault audit log, or in both logs.

use rand::Rng;
use serde_json::json;

use crate::benign::rotation::rotator_write;
use crate::benign::workloads::kv_read;
use crate::k8s::{Level, Req, CLUSTERROLEBINDINGS, CLUSTERROLES, EVENTS, SECRETS};
use crate::labels::{Source, StoryRec};
use crate::rng::{alnum, between, uuid};
use crate::schedule::DayCtx;
use crate::sink::Sink;
use crate::stories::plan::{StoryPlan, DETECTIONS};
use crate::timefmt::{DAY, HOUR, MIN, MS, SEC};
use crate::vault::{CallKind, Token, VaultCall};
use crate::vault_ident::MountKind;
use crate::world::{World, APPS, ENVS, PROD, SYNCED_KEYS, SYNC_SLA_SECS, UA_KUBECTL};

fn first_pod_ip(w: &World, env: usize, app: usize) -> (usize, String) {
    let i = w
        .app_pods
        .iter()
        .position(|p| p.env == Some(env) && p.app == Some(app))
        .unwrap_or(0);
    (i, w.app_pods[i].ip.clone())
}

/// 5. A dev identity reads prod secrets, in Vault and in Kubernetes.
pub fn cross_environment(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let app = 1; // checkout
    let ident = w.app_ident(0, app);
    let (pod, ip) = first_pod_ip(w, 0, app);
    let mut v = StoryRec::new(
        DETECTIONS[4],
        Source::Vault,
        &w.idents[ident].display_name,
        "The dev checkout Vault identity reads prod checkout secrets.",
    );
    let mut at = t;
    for key in [0, 1] {
        let idx = w.sync_index(PROD, app, key);
        v.vault(sink, kv_read(ctx, rng, at, ident, idx, &ip));
        at += between(rng, 300 * MS, 4 * SEC);
    }
    out.push(v);
    let p = &w.app_pods[pod].principal;
    let reason = "RBAC: allowed by ClusterRoleBinding \"checkout-secrets\" of ClusterRole \"secret-reader\" to ServiceAccount \"checkout/dev\"";
    let mut k = StoryRec::new(
        DETECTIONS[4],
        Source::Kubernetes,
        &p.username,
        "The dev checkout service account reads the prod checkout database Secret.",
    );
    let at = at + between(rng, 10 * SEC, 2 * MIN);
    k.k8s(
        sink,
        rng,
        Req::on(
            p,
            at,
            "get",
            &SECRETS,
            Some("prod"),
            Some("checkout-db-credentials"),
        )
        .reason(reason),
    );
    out.push(k);
}

/// 6. An SRE reads prod secrets at about 03:00 local time on a weekend.
pub fn off_hours(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let human = &w.humans[0];
    let ip = human.ips[1].as_str();
    let p = &human.principal;
    let mut k = StoryRec::new(
        DETECTIONS[5],
        Source::Kubernetes,
        &p.username,
        "alice (SRE, Europe/Berlin) reads prod Secrets at about 03:00 local time outside her working hours.",
    );
    let mut at = t;
    for name in [
        "payments-db-credentials",
        "payments-api-keys",
        "checkout-db-credentials",
    ] {
        k.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some("prod"), Some(name)).ip(ip),
        );
        at += between(rng, 10 * SEC, 90 * SEC);
    }
    out.push(k);
    let ident = human.vault;
    let login_t = at + between(rng, MIN, 4 * MIN);
    let token = Token {
        token: format!("hvs.{}", alnum(rng, 24)),
        accessor: alnum(rng, 24),
        issued: login_t,
    };
    let mut v = StoryRec::new(
        DETECTIONS[5],
        Source::Vault,
        &w.idents[ident].display_name,
        "alice logs into Vault at night and reads prod payments secrets.",
    );
    let url_t = login_t - between(rng, 5 * SEC, 20 * SEC);
    let url = VaultCall::new(rng, url_t, ident, "update", MountKind::Oidc, "auth/oidc/oidc/auth_url", ip)
        .kind(CallKind::Unauth)
        .req_data(w.salt.hmac_value(json!({"redirect_uri": "https://vault.example.com/ui/vault/auth/oidc/oidc/callback", "role": "default"})));
    v.vault(sink, url);
    let cb = VaultCall::new(
        rng,
        login_t,
        ident,
        "read",
        MountKind::Oidc,
        "auth/oidc/oidc/callback",
        ip,
    )
    .kind(CallKind::Login)
    .token(token.clone())
    .req_data(
        w.salt
            .hmac_value(json!({"code": alnum(rng, 32), "state": format!("st_{}", alnum(rng, 20))})),
    );
    v.vault(sink, cb);
    let mut at = login_t + between(rng, 20 * SEC, 60 * SEC);
    for key in [0, 1] {
        let idx = w.sync_index(PROD, 0, key);
        v.vault(
            sink,
            kv_read(ctx, rng, at, ident, idx, ip).token(token.clone()),
        );
        at += between(rng, 5 * SEC, 40 * SEC);
    }
    out.push(v);
}

/// 8a. The Vault root token reads secrets and writes a policy.
pub fn root_token(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let ident = w.root_ident;
    let token = Token {
        token: format!("hvs.{}", alnum(rng, 24)),
        accessor: alnum(rng, 24),
        issued: t - 200 * DAY,
    };
    let ip = "203.0.113.250";
    let mut v = StoryRec::new(
        DETECTIONS[7],
        Source::Vault,
        &w.idents[ident].display_name,
        "A Vault root token reads prod secrets and writes the emergency-access policy.",
    );
    let mut at = t;
    for app in [0, 1] {
        let idx = w.sync_index(PROD, app, 0);
        v.vault(
            sink,
            kv_read(ctx, rng, at, ident, idx, ip).token(token.clone()),
        );
        at += between(rng, 10 * SEC, 2 * MIN);
    }
    let policy = w.salt.hmac_value(
        json!({"policy": "path \"secret/data/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n"}),
    );
    v.vault(
        sink,
        VaultCall::new(
            rng,
            at,
            ident,
            "update",
            MountKind::Sys,
            "sys/policies/acl/emergency-access",
            ip,
        )
        .token(token)
        .req_data(policy),
    );
    out.push(v);
}

/// 9b. A burst of denied Vault reads by one workload identity.
pub fn denied_burst_vault(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let app = 2; // webapp
    let ident = w.app_ident(1, app);
    let (_, ip) = first_pod_ip(w, 1, app);
    let mut v = StoryRec::new(
        DETECTIONS[8],
        Source::Vault,
        &w.idents[ident].display_name,
        "The staging webapp Vault identity requests 32 secrets of other apps within two minutes and is denied every time.",
    );
    let mut at = t;
    for i in 0..32 {
        let other = [0usize, 1, 3][i % 3];
        let key = SYNCED_KEYS[(i / 3) % SYNCED_KEYS.len()];
        let path = if i < 24 {
            format!("secret/data/staging/{}/{key}", APPS[other])
        } else {
            format!("secret/data/staging/{}/admin-{}", APPS[other], i - 23)
        };
        v.vault(
            sink,
            VaultCall::new(rng, at, ident, "read", MountKind::Kv, path, &ip).denied(),
        );
        at += between(rng, 1500 * MS, 3300 * MS);
    }
    out.push(v);
}

/// 11. Audit tampering: a Vault audit device is disabled; Kubernetes events are bulk-deleted.
pub fn audit_tampering(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let ident = w.admin_ident;
    let token = Token {
        token: format!("hvs.{}", alnum(rng, 24)),
        accessor: alnum(rng, 24),
        issued: t - between(rng, HOUR, 3 * HOUR),
    };
    let ip = "198.51.100.250";
    let mut v = StoryRec::new(
        DETECTIONS[10],
        Source::Vault,
        &w.idents[ident].display_name,
        "An admin token lists the Vault audit devices and disables the file audit device.",
    );
    let devices = w.salt.hmac_value(json!({"file/": {"type": "file", "path": "file/", "description": "", "options": {"file_path": "/vault/audit/audit.log"}}}));
    v.vault(
        sink,
        VaultCall::new(rng, t, ident, "read", MountKind::Sys, "sys/audit", ip)
            .token(token.clone())
            .resp_data(devices),
    );
    let at = t + between(rng, 5 * SEC, 40 * SEC);
    v.vault(
        sink,
        VaultCall::new(
            rng,
            at,
            ident,
            "delete",
            MountKind::Sys,
            "sys/audit/file",
            ip,
        )
        .token(token),
    );
    out.push(v);
    let human = &w.humans[3];
    let p = &human.principal;
    let reason = "RBAC: allowed by ClusterRoleBinding \"events-cleanup\" of ClusterRole \"events-admin\" to Group \"oidc:dev-team\"";
    let mut k = StoryRec::new(
        DETECTIONS[10],
        Source::Kubernetes,
        &p.username,
        "carol deletes every Event in the prod namespace with a deletecollection request.",
    );
    let at = at + between(rng, MIN, 20 * MIN);
    k.k8s(
        sink,
        rng,
        Req::on(p, at, "deletecollection", &EVENTS, Some("prod"), None).reason(reason),
    );
    out.push(k);
}

/// 12. A broad Secret-reading grant: a ClusterRole bound to all service accounts, and a Vault policy.
pub fn rbac_grant(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let d = &w.deployer;
    let ip = World::ephemeral_ip(rng);
    let mut k = StoryRec::new(
        DETECTIONS[11],
        Source::Kubernetes,
        &d.username,
        "The CI deployer creates a ClusterRole that reads all Secrets and binds it to the group system:serviceaccounts.",
    );
    let uid = uuid(rng);
    let created = crate::timefmt::seconds(t);
    let role = json!({
        "kind": "ClusterRole",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "secret-reader-all"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}]
    });
    let mut role_resp = role.clone();
    role_resp["metadata"] = json!({"name": "secret-reader-all", "uid": uid, "resourceVersion": rng.random_range(1_000_000..9_000_000).to_string(), "creationTimestamp": created});
    let req = Req::on(
        d,
        t,
        "create",
        &CLUSTERROLES,
        None,
        Some("secret-reader-all"),
    )
    .code(201)
    .level(Level::RequestResponse)
    .request_object(role)
    .response_object(role_resp)
    .ip(&ip)
    .ua(UA_KUBECTL);
    k.k8s(sink, rng, req);
    let binding = json!({
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "secret-reader-all"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader-all"}
    });
    let mut binding_resp = binding.clone();
    binding_resp["metadata"] = json!({"name": "secret-reader-all", "uid": uuid(rng), "resourceVersion": rng.random_range(1_000_000..9_000_000).to_string(), "creationTimestamp": created});
    let at = t + between(rng, 300 * MS, 3 * SEC);
    let req = Req::on(
        d,
        at,
        "create",
        &CLUSTERROLEBINDINGS,
        None,
        Some("secret-reader-all"),
    )
    .code(201)
    .level(Level::RequestResponse)
    .request_object(binding)
    .response_object(binding_resp)
    .ip(&ip)
    .ua(UA_KUBECTL);
    k.k8s(sink, rng, req);
    out.push(k);
    let human = &w.humans[1];
    let ident = human.vault;
    let mut v = StoryRec::new(
        DETECTIONS[11],
        Source::Vault,
        &w.idents[ident].display_name,
        "dieter writes the Vault policy read-all-secrets granting read on every KV path.",
    );
    let policy = w.salt.hmac_value(json!({"policy": "path \"secret/data/*\" {\n  capabilities = [\"read\", \"list\"]\n}\npath \"secret/metadata/*\" {\n  capabilities = [\"list\"]\n}\n"}));
    let at = at + between(rng, 2 * MIN, 15 * MIN);
    v.vault(
        sink,
        VaultCall::new(
            rng,
            at,
            ident,
            "update",
            MountKind::Sys,
            "sys/policies/acl/read-all-secrets",
            &human.ips[0],
        )
        .req_data(policy),
    );
    out.push(v);
}

/// 14. The rotator writes a prod secret that external-secrets does not sync within the SLA.
pub fn rotation_gap(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    plan: &StoryPlan,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let Some((t, app, key)) = plan.gap_rotation else {
        return;
    };
    let Some(r) = ctx
        .rotations
        .list
        .iter()
        .find(|r| r.story && r.t == t && r.app == app && r.key == key)
    else {
        return;
    };
    let m = &w.sync[w.sync_index(PROD, app, key)];
    let gap_min = (r.sync_t - r.t) / MIN;
    let mut v = StoryRec::new(
        DETECTIONS[13],
        Source::Vault,
        &w.idents[w.rotator_ident].display_name,
        format!(
            "The rotator writes {} but external-secrets updates Secret {}/{} only {gap_min} minutes later (SLA {} minutes).",
            m.vault_path,
            ENVS[PROD],
            m.secret,
            SYNC_SLA_SECS / 60
        ),
    );
    v.vault(sink, rotator_write(w, rng, r));
    out.push(v);
}

/// Infrastructure secrets in Vault that no workload syncs: written once by the platform team,
/// read by people in an emergency, and inside the sync operator's `secret/data/*` policy.
pub const INFRA_PATHS: [&str; 12] = [
    "terraform-state-backend",
    "rds-master",
    "redis-master",
    "aws-root-access-key",
    "gcp-billing-sa",
    "github-app-private-key",
    "pagerduty-api",
    "smtp-relay",
    "ldap-bind",
    "backup-encryption-key",
    "registry-admin",
    "vpn-ca-key",
];

/// Story 22: the sync operator's Vault token, taken from its pod, is used to read the
/// infrastructure secrets no ExternalSecret names: an identity whose bulk reads are routine
/// reading a dozen secrets it never read.
pub fn sync_token_harvest(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let ident = w.es_ident;
    let mut v = StoryRec::new(
        DETECTIONS[21],
        Source::Vault,
        &w.idents[ident].display_name,
        "The external-secrets Vault identity reads twelve infrastructure secrets that no ExternalSecret names, within minutes.",
    );
    let created = ctx.opts.start.timestamp_nanos_opt().unwrap_or(0) - 90 * DAY;
    let mut at = t;
    for (i, name) in INFRA_PATHS.iter().enumerate() {
        let fields = [("value", format!("{}-{}", name, alnum(rng, 24)))];
        let call = VaultCall::new(
            rng,
            at,
            ident,
            "read",
            MountKind::Kv,
            format!("secret/data/infra/{name}"),
            &w.external_secrets.ip,
        )
        .resp_data(crate::vault::kv_read_data(
            w,
            &fields,
            1 + i as u32 % 3,
            created,
        ));
        v.vault(sink, call);
        at += between(rng, 2 * SEC, 20 * SEC);
    }
    out.push(v);
}
