//! `manifest.json`: what was generated, and the world the detection engine's config is written from.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::aws;
use crate::benign::rotation::ROTATOR_IP;
use crate::labels::Label;
use crate::options::GenerateOptions;
use crate::schedule::{Rotations, ROTATION_HOURS};
use crate::stories::plan::DETECTIONS;
use crate::timefmt::micros;
use crate::world::{
    World, API_SERVER_SERVICE_IP, APPS, CLUSTER, CONTROL_PLANE_IP, ENVS, NODE_CIDR,
    NONPROD_REFRESH_SECS, OFFICE_CIDR, POD_CIDR, PROD, PROD_REFRESH_SECS, SERVICE_CIDR,
    SYNC_SLA_SECS, VAULT_APPS, VPN_CIDR,
};

pub struct Counts {
    pub k8s_events: u64,
    pub vault_entries: u64,
    pub cloudtrail_records: u64,
    pub labels: u64,
}

const SYSTEM_NAMESPACES: [&str; 13] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "default",
    "external-secrets",
    "ci",
    "monitoring",
    "cert-manager",
    "velero",
    "kube-state-metrics",
    "ingress-nginx",
    "istio-system",
    "argocd",
];

pub fn build(
    opts: &GenerateOptions,
    w: &World,
    rotations: &Rotations,
    labels: &[Label],
    counts: &Counts,
) -> Value {
    let mut per_detection: BTreeMap<&str, u64> = DETECTIONS.iter().map(|d| (*d, 0)).collect();
    for l in labels {
        *per_detection.entry(l.detection).or_insert(0) += 1;
    }
    let stories: Vec<Value> = labels
        .iter()
        .map(|l| {
            json!({
                "story": l.story,
                "detection": l.detection,
                "source": l.source,
                "principal": l.principal,
                "events": l.event_ids.len(),
                "start": l.start,
                "end": l.end,
            })
        })
        .collect();
    json!({
        "generator": {"name": "secretwatch-datasets", "version": env!("CARGO_PKG_VERSION")},
        "options": {
            "days": opts.days,
            "seed": opts.seed,
            "start": opts.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "scale": opts.scale,
            "stories": opts.stories,
        },
        "files": [
            {"name": "k8s-audit.jsonl", "format": "audit.k8s.io/v1 Event JSON lines, sorted by stageTimestamp", "lines": counts.k8s_events},
            {"name": "vault-audit.jsonl", "format": "Vault file audit device JSON lines (request and response), sorted by time", "lines": counts.vault_entries},
            {"name": "cloudtrail.jsonl", "format": "AWS CloudTrail records (Secrets Manager, Parameter Store), one per line, sorted by eventTime", "lines": counts.cloudtrail_records},
            {"name": "labels.jsonl", "format": "one JSON line per story instance", "lines": counts.labels},
        ],
        "counts": {
            "k8s_events": counts.k8s_events,
            "vault_entries": counts.vault_entries,
            "cloudtrail_records": counts.cloudtrail_records,
            "labels": counts.labels,
            "per_detection": per_detection,
        },
        "stories": stories,
        "world": world(w, rotations, opts.start.timestamp_nanos_opt().unwrap_or(0)),
        "sync_mappings": w.sync.iter().map(|m| json!({
            "vault_path": m.vault_path,
            "environment": ENVS[m.env],
            "namespace": m.namespace,
            "secret": m.secret,
            "external_secret": m.secret,
            "refresh_seconds": m.refresh_secs,
        })).collect::<Vec<_>>(),
    })
}

/// The Identity Center session ARNs of a person (the role sessions CloudTrail names them by).
fn aws_sessions(team: &str, name: &str) -> Vec<String> {
    let (role, accounts): (&str, &[&str]) = match team {
        "sre" => (
            aws::SSO_POWER_USER,
            &[aws::NONPROD_ACCOUNT, aws::PROD_ACCOUNT],
        ),
        "dev-team" => (aws::SSO_DEVELOPER, &[aws::NONPROD_ACCOUNT]),
        _ => return vec![],
    };
    accounts
        .iter()
        .map(|a| format!("arn:aws:sts::{a}:assumed-role/{role}/{name}@example.com"))
        .collect()
}

fn aws_world(w: &World) -> Value {
    json!({
        "region": aws::REGION,
        "accounts": [
            {"id": aws::NONPROD_ACCOUNT, "environment": "dev", "environments": ["dev", "staging"], "note": "secret names start with their environment"},
            {"id": aws::PROD_ACCOUNT, "environment": "prod", "environments": ["prod"]},
        ],
        "vpc_endpoint": aws::PROD_VPCE,
        "nonprod_nat_ip": aws::NONPROD_NAT_IP,
        "secrets": w.aws.secrets.iter().map(|s| json!({
            "name": s.name,
            "arn": s.arn,
            "environment": ENVS[s.env],
            "rotated_by_lambda": s.rotated,
            "app": s.app.map(|a| APPS[a]),
        })).collect::<Vec<_>>(),
        "parameter_paths": w.aws.ssm_paths.iter().map(|(e, _, p)| json!({"path": p, "environment": ENVS[*e]})).collect::<Vec<_>>(),
        "static_key_user": w.aws.jenkins.arn(),
        "static_key_source_ip": aws::JENKINS_IP,
    })
}

fn world(w: &World, rotations: &Rotations, start: i64) -> Value {
    let mut namespaces: Vec<Value> = ENVS
        .iter()
        .map(|e| json!({"name": e, "environment": e, "kind": "application"}))
        .collect();
    namespaces.extend(
        SYSTEM_NAMESPACES
            .iter()
            .map(|n| json!({"name": n, "environment": null, "kind": "platform"})),
    );
    let teams: Vec<Value> = w
        .teams
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let members: Vec<Value> = w
                .humans
                .iter()
                .filter(|h| h.team == i)
                .map(|h| {
                    json!({
                        "name": h.name,
                        "kubernetes_user": h.principal.username,
                        "vault_display_name": w.idents[h.vault].display_name,
                        "source_ips": h.ips,
                        "aws_sessions": aws_sessions(t.name, h.name),
                    })
                })
                .collect();
            json!({
                "name": t.name,
                "group": t.group,
                "timezone": t.timezone,
                "utc_offset_minutes": crate::timefmt::zone_offset(t.timezone, start),
                "work_hours": {"start": "09:00", "end": "18:00", "days": ["Mon", "Tue", "Wed", "Thu", "Fri"]},
                "members": members,
                "kubernetes_secret_environments": t.secret_envs.iter().map(|e| ENVS[*e]).collect::<Vec<_>>(),
                "prod_secret_reads_in_work_hours": t.prod_secret_reads,
                "pod_environments": t.pod_envs.iter().map(|e| ENVS[*e]).collect::<Vec<_>>(),
                "vault_environments": t.vault_envs.iter().map(|e| ENVS[*e]).collect::<Vec<_>>(),
                "vault_app": t.vault_app.map(|a| APPS[a]),
                "vault_policy": t.vault_policy,
            })
        })
        .collect();
    let workloads: Vec<Value> = ENVS
        .iter()
        .enumerate()
        .flat_map(|(e, ns)| {
            APPS.iter().enumerate().map(move |(a, app)| {
                json!({
                    "kubernetes_user": format!("system:serviceaccount:{ns}:{app}"),
                    "namespace": ns,
                    "environment": ns,
                    "app": app,
                    "vault_display_name": (a < VAULT_APPS).then(|| format!("kubernetes-{ns}-{app}")),
                    "vault_role": (a < VAULT_APPS).then(|| format!("{app}-{ns}")),
                    "vault_paths": format!("secret/data/{ns}/{app}/*"),
                    "pod_ips": [],
                    "_env_index": e,
                })
            })
        })
        .map(|mut v| {
            let env = v["_env_index"].as_u64().unwrap_or(0) as usize;
            let app = v["app"].as_str().unwrap_or("").to_string();
            let ips: Vec<&str> = w
                .app_pods
                .iter()
                .filter(|p| p.env == Some(env) && p.app.map(|a| APPS[a]) == Some(app.as_str()))
                .map(|p| p.ip.as_str())
                .collect();
            v["pod_ips"] = json!(ips);
            if let Some(o) = v.as_object_mut() {
                o.remove("_env_index");
            }
            v
        })
        .collect();
    let platform_pods: Vec<Value> = [&w.prometheus, &w.rbac_proxy, &w.cert_manager, &w.external_secrets, &w.build_bot, &w.runner, &w.velero]
        .into_iter()
        .chain(&w.ecosystem)
        .map(|p| json!({"kubernetes_user": p.principal.username, "namespace": p.namespace, "pod": p.name, "ip": p.ip}))
        .collect();
    let identities: Vec<Value> = w
        .idents
        .iter()
        .map(|i| {
            json!({
                "display_name": i.display_name,
                "kind": i.kind,
                "environment": i.env.map(|e| ENVS[e]),
                "policies": i.policies,
                "entity_id": i.entity_id,
                "token_ttl_seconds": i.ttl_secs,
            })
        })
        .collect();
    let rotation_list: Vec<Value> = rotations
        .list
        .iter()
        .map(|r| {
            let m = &w.sync[w.sync_index(PROD, r.app, r.key)];
            json!({
                "time": micros(r.t),
                "vault_path": m.vault_path,
                "version": r.version,
                "kubernetes_secret": format!("{}/{}", m.namespace, m.secret),
                "synced_at": micros(r.sync_t),
                "story": r.story,
            })
        })
        .collect();
    json!({
        "cluster": CLUSTER,
        "kubernetes_version": "v1.31.2",
        "environments": ENVS,
        "namespaces": namespaces,
        "cidrs": {
            "pod": POD_CIDR,
            "node": NODE_CIDR,
            "service": SERVICE_CIDR,
            "office": OFFICE_CIDR,
            "vpn": VPN_CIDR,
            "internal": [POD_CIDR, NODE_CIDR, SERVICE_CIDR],
            "human": [OFFICE_CIDR, VPN_CIDR],
        },
        "control_plane_ip": CONTROL_PLANE_IP,
        "api_server_service_ip": API_SERVER_SERVICE_IP,
        "nodes": w.nodes.iter().enumerate().map(|(i, n)| json!({
            "name": n.name,
            "kubernetes_user": n.principal.username,
            "ip": n.ip,
            "pod_cidr": format!("10.42.{}.0/24", i + 1),
        })).collect::<Vec<_>>(),
        "timezones": {
            "note": "People keep their local hours in their IANA zone, daylight saving included (a world that spans a change sees their hours move by an hour in UTC); the offsets are those at the dataset's start.",
            "offsets_minutes": w.teams.iter().map(|t| (t.timezone.to_string(), json!(crate::timefmt::zone_offset(t.timezone, start)))).collect::<serde_json::Map<_, _>>(),
        },
        "teams": teams,
        "break_glass": {
            "kubernetes_users": ["break-glass-admin"],
            "kubernetes_groups": ["system:masters"],
            "impersonation_targets": ["system:admin"],
            "vault_display_names": ["root"],
            "vault_policies": ["root"],
        },
        "kubernetes": {
            "cluster_wide_secret_readers": [w.kcm.username, w.external_secrets.principal.username],
            "multi_namespace_secret_readers": [
                w.external_secrets.principal.username,
                w.cert_manager.principal.username,
                w.deployer.username,
            ],
            "node_group": "system:nodes",
            "control_plane_users": [w.kcm.username, w.scheduler.username],
            "controller_service_accounts": w.controllers.iter().map(|c| c.username.clone()).collect::<Vec<_>>(),
            "ci_identities": [w.deployer.username, w.runner.principal.username],
            "health_checks": {"user": "system:anonymous", "paths": ["/healthz", "/livez", "/readyz"], "source_ip": CONTROL_PLANE_IP},
            "workloads": workloads,
            "platform_pods": platform_pods,
            "audit_levels": "Metadata for everything except RBAC objects (RequestResponse); about 5% of short requests also log a RequestReceived stage; watches, exec and log follow log ResponseStarted and ResponseComplete.",
        },
        "vault": {
            "mounts": w.mounts.iter().map(|m| json!({"path": m.point, "type": m.mount_type, "accessor": m.accessor})).collect::<Vec<_>>(),
            "identities": identities,
            "sync_operator": w.idents[w.es_ident].display_name,
            "rotator": w.idents[w.rotator_ident].display_name,
            "rotator_ip": ROTATOR_IP,
            "hmac": "hmac-sha256:<hex> with a salt derived from the seed; tokens, accessors and string data values",
        },
        "aws": aws_world(w),
        "sync": {
            "operator_kubernetes_user": w.external_secrets.principal.username,
            "operator_vault_display_name": w.idents[w.es_ident].display_name,
            "sla_seconds": SYNC_SLA_SECS,
            "refresh_seconds": {"prod": PROD_REFRESH_SECS, "staging": NONPROD_REFRESH_SECS, "dev": NONPROD_REFRESH_SECS},
            "rotation_hours_utc": [ROTATION_HOURS.0, ROTATION_HOURS.1],
            "restart_after_sync": "the CI deployer patches the Deployment 2 to 12 minutes after the sync",
        },
        "rotations": rotation_list,
    })
}
