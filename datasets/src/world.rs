//! The simulated organisation: one cluster, its workloads, people, and the Vault in front of them.

use rand::Rng;

use crate::aws::AwsWorld;
use crate::principal::{sa_uid_of, Binding, Principal};
use crate::rng::{k8s_suffix, sub_rng, uuid};
use crate::salt::Salt;
use crate::vault_ident::{k8s_auth_metadata, mounts, Login, Mount, MountKind, VaultIdent};

pub const CLUSTER: &str = "prod-eu1";
pub const ENVS: [&str; 3] = ["dev", "staging", "prod"];
pub const PROD: usize = 2;
/// Application workloads present in every environment namespace.
pub const APPS: [&str; 6] = [
    "payments",
    "checkout",
    "webapp",
    "reporting",
    "notifications",
    "inventory",
];
/// The first `VAULT_APPS` apps also read Vault directly (Kubernetes auth).
pub const VAULT_APPS: usize = 4;
/// The first `DB_APPS` apps take dynamic database credentials from Vault.
pub const DB_APPS: usize = 2;
/// Secrets kept in Vault and synced into Kubernetes by external-secrets (`<app>-<key>`).
pub const SYNCED_KEYS: [&str; 4] = ["db-credentials", "api-keys", "redis", "oauth-client"];
/// Secrets living only in Kubernetes (`<app>-<key>`); `tls` is managed by cert-manager.
pub const LOCAL_KEYS: [&str; 3] = ["smtp", "signing-key", "tls"];
/// Secrets of one app mounted by its pods (read by the kubelet).
pub const MOUNTED_KEYS: [&str; 2] = ["db-credentials", "api-keys"];
pub const PULL_SECRET: &str = "ghcr-pull";
pub const REPLICAS: [usize; 3] = [1, 2, 3];
pub const NODE_COUNT: usize = 6;

pub const POD_CIDR: &str = "10.42.0.0/16";
pub const NODE_CIDR: &str = "10.0.0.0/24";
pub const SERVICE_CIDR: &str = "10.43.0.0/16";
pub const OFFICE_CIDR: &str = "203.0.113.0/24";
pub const VPN_CIDR: &str = "198.51.100.0/24";
pub const CONTROL_PLANE_IP: &str = "10.0.0.10";
pub const API_SERVER_SERVICE_IP: &str = "10.43.0.1";

/// The sync operator refreshes prod ExternalSecrets this often, others hourly.
pub const PROD_REFRESH_SECS: i64 = 600;
pub const NONPROD_REFRESH_SECS: i64 = 3600;
/// A Vault write must reach the Kubernetes Secret within this time.
pub const SYNC_SLA_SECS: i64 = 900;

pub const KUBE_VERSION_UA: &str = "v1.31.2 (linux/amd64) kubernetes/5864a46";
pub const UA_KUBELET: &str = "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46";
pub const UA_ES: &str = "external-secrets/v0.10.4";
pub const UA_KUBECTL: &str = "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46";
pub const UA_KUBECTL_MAC: &str = "kubectl/v1.31.1 (darwin/arm64) kubernetes/948afe5";
pub const UA_HELM: &str = "Helm/3.16.2";
pub const UA_RUNNER: &str = "gitlab-runner 17.5.2 (17-5-stable; go1.22.7; linux/amd64)";
pub const UA_GO: &str = "Go-http-client/2.0";
/// (namespace, ServiceAccount, user agent) of the ecosystem's Secret-watching controllers.
pub const ECOSYSTEM: [(&str, &str, &str); 4] = [
    (
        "kube-state-metrics",
        "kube-state-metrics",
        "kube-state-metrics/v2.13.0 (linux/amd64) kubernetes/8dd7a3b",
    ),
    (
        "ingress-nginx",
        "ingress-nginx",
        "nginx-ingress-controller/v1.11.3 (linux/amd64) ingress-nginx/0106de65cfccb74405a6dfa7d9daffc6f0a6ef1a",
    ),
    ("istio-system", "istiod", "pilot-discovery/1.23.2"),
    (
        "argocd",
        "argocd-application-controller",
        "argocd-application-controller/v2.12.4+27d1e64 (linux/amd64)",
    ),
];
pub const UA_VELERO: &str = "velero/v1.15.2 (linux/amd64) 804d73c4f2349e0e3a2a4a5e4f7c4b1d0e9a8b7c";

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub ip: String,
    pub uid: String,
    pub principal: Principal,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    /// Index into `ENVS` for application namespaces.
    pub env: Option<usize>,
    /// Index into `APPS` for application pods.
    pub app: Option<usize>,
    pub node: usize,
    pub ip: String,
    pub principal: Principal,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub name: &'static str,
    pub group: &'static str,
    pub timezone: &'static str,
    /// UTC offset in winter (standard time); local hours follow `timezone`, daylight saving included.
    pub offset_minutes: i32,
    /// Environments whose Kubernetes Secrets the team reads routinely.
    pub secret_envs: &'static [usize],
    /// Reads a prod Secret now and then (business hours only).
    pub prod_secret_reads: bool,
    /// Environments whose pods and logs the team looks at.
    pub pod_envs: &'static [usize],
    /// Environments whose Vault paths the team reads.
    pub vault_envs: &'static [usize],
    /// Restricts the team's Vault reads to one app (index into `APPS`).
    pub vault_app: Option<usize>,
    pub vault_policy: &'static str,
}

#[derive(Debug, Clone)]
pub struct Human {
    pub name: &'static str,
    pub team: usize,
    pub ips: Vec<String>,
    pub principal: Principal,
    pub vault: usize,
}

/// Vault path kept in sync with a Kubernetes Secret by external-secrets.
#[derive(Debug, Clone)]
pub struct SyncMapping {
    pub env: usize,
    pub app: usize,
    pub key: usize,
    pub vault_path: String,
    pub namespace: &'static str,
    pub secret: String,
    pub refresh_secs: i64,
}

#[derive(Debug, Clone)]
pub struct World {
    pub salt: Salt,
    pub nodes: Vec<Node>,
    pub kcm: Principal,
    pub kcm_informers: Principal,
    /// kube-system controller service accounts: deployment, replicaset, endpointslice.
    pub controllers: Vec<Principal>,
    pub scheduler: Principal,
    pub probe: Principal,
    pub prometheus: Pod,
    pub rbac_proxy: Pod,
    pub cert_manager: Pod,
    /// Velero's server (Helm chart: ServiceAccount `velero-server` in `velero`).
    pub velero: Pod,
    /// The ecosystem's controllers that watch Secrets across the cluster, each under its Helm
    /// chart's ServiceAccount: kube-state-metrics, ingress-nginx, istiod, Argo CD's
    /// application controller (see the catalogue's entries for their RBAC).
    pub ecosystem: Vec<Pod>,
    pub external_secrets: Pod,
    pub build_bot: Pod,
    pub runner: Pod,
    pub deployer: Principal,
    /// Application pods, grouped by env then app.
    pub app_pods: Vec<Pod>,
    pub teams: Vec<Team>,
    pub humans: Vec<Human>,
    pub mounts: Vec<Mount>,
    pub idents: Vec<VaultIdent>,
    pub es_ident: usize,
    pub rotator_ident: usize,
    pub root_ident: usize,
    pub admin_ident: usize,
    pub sync: Vec<SyncMapping>,
    pub aws: AwsWorld,
}

pub const TEAMS: [(&str, &str, &str, i32); 3] = [
    ("sre", "oidc:sre", "Europe/Berlin", 60),
    ("dev-team", "oidc:dev-team", "America/New_York", -300),
    ("data", "oidc:data-team", "Asia/Singapore", 480),
];
/// (name, team index, first IP host byte, on the office (true) or VPN (false) range, kubectl UA).
const HUMANS: [(&str, usize, u8, bool, &str); 6] = [
    ("alice", 0, 21, true, UA_KUBECTL_MAC),
    ("dieter", 0, 22, true, UA_KUBECTL),
    ("bob", 1, 31, false, UA_KUBECTL_MAC),
    ("carol", 1, 32, false, UA_KUBECTL),
    ("chen", 2, 41, false, UA_KUBECTL),
    ("mei", 2, 42, false, UA_KUBECTL_MAC),
];

struct Alloc {
    next_host: [u8; NODE_COUNT],
}

impl Alloc {
    fn pod_ip(&mut self, node: usize) -> String {
        let h = self.next_host[node];
        self.next_host[node] = h.wrapping_add(1).max(10);
        format!("10.42.{}.{}", node + 1, h)
    }
}

struct PodSpec<'a> {
    ns: &'a str,
    sa: &'a str,
    sa_uid: &'a str,
    name: String,
    node: usize,
    ua: &'a str,
    reason: &'a str,
}

fn make_pod(rng: &mut impl Rng, alloc: &mut Alloc, nodes: &[Node], spec: PodSpec<'_>) -> Pod {
    let uid = uuid(rng);
    let ip = alloc.pod_ip(spec.node);
    let binding = Binding {
        pod: spec.name.clone(),
        pod_uid: uid.clone(),
        node: nodes[spec.node].name.clone(),
        node_uid: nodes[spec.node].uid.clone(),
        jti: uuid(rng),
    };
    Pod {
        principal: Principal::service_account(
            spec.ns,
            spec.sa,
            spec.sa_uid,
            Some(&binding),
            &ip,
            spec.ua,
            spec.reason,
        ),
        name: spec.name,
        namespace: spec.ns.to_string(),
        env: None,
        app: None,
        node: spec.node,
        ip,
    }
}

fn pod_name(rng: &mut impl Rng, workload: &str) -> String {
    format!("{workload}-{}-{}", k8s_suffix(rng, 10), k8s_suffix(rng, 5))
}

fn crb_reason(binding: &str, role: &str, subject: &str) -> String {
    format!(
        "RBAC: allowed by ClusterRoleBinding \"{binding}\" of ClusterRole \"{role}\" to {subject}"
    )
}

impl World {
    pub fn build(seed: u64) -> World {
        let mut rng = sub_rng(seed, "world", 0);
        let salt = Salt::new(seed);
        let nodes: Vec<Node> = (0..NODE_COUNT)
            .map(|i| {
                let name = format!("node-{}", i + 1);
                let ip = format!("10.0.0.{}", 11 + i);
                let principal = Principal::new(
                    &format!("system:node:{name}"),
                    None,
                    &["system:nodes", "system:authenticated"],
                    &ip,
                    UA_KUBELET,
                    "",
                );
                Node {
                    name,
                    ip,
                    uid: uuid(&mut rng),
                    principal,
                }
            })
            .collect();
        let mut alloc = Alloc {
            next_host: [10; NODE_COUNT],
        };
        let kcm_reason = crb_reason(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            "User \"system:kube-controller-manager\"",
        );
        let kcm = Principal::new(
            "system:kube-controller-manager",
            None,
            &["system:authenticated"],
            CONTROL_PLANE_IP,
            &format!("kube-controller-manager/{KUBE_VERSION_UA}/leader-election"),
            &kcm_reason,
        );
        let kcm_informers = Principal {
            ua: format!("kube-controller-manager/{KUBE_VERSION_UA}/shared-informers"),
            ..kcm.clone()
        };
        let controllers = ["deployment-controller", "replicaset-controller", "endpointslice-controller"]
            .iter()
            .map(|c| {
                let uid = uuid(&mut rng);
                Principal::service_account(
                    "kube-system",
                    c,
                    &uid,
                    None,
                    CONTROL_PLANE_IP,
                    &format!("kube-controller-manager/{KUBE_VERSION_UA}/system:serviceaccount:kube-system:{c}"),
                    &crb_reason(
                        &format!("system:controller:{c}"),
                        &format!("system:controller:{c}"),
                        &format!("ServiceAccount \"{c}/kube-system\""),
                    ),
                )
            })
            .collect();
        let scheduler = Principal::new(
            "system:kube-scheduler",
            None,
            &["system:authenticated"],
            CONTROL_PLANE_IP,
            &format!("kube-scheduler/{KUBE_VERSION_UA}/scheduler"),
            &crb_reason(
                "system:kube-scheduler",
                "system:kube-scheduler",
                "User \"system:kube-scheduler\"",
            ),
        );
        let probe = Principal::new(
            "system:anonymous",
            None,
            &["system:unauthenticated"],
            CONTROL_PLANE_IP,
            "kube-probe/1.31",
            &crb_reason(
                "system:public-info-viewer",
                "system:public-info-viewer",
                "Group \"system:unauthenticated\"",
            ),
        );
        let platform = |rng: &mut rand_chacha::ChaCha8Rng,
                        alloc: &mut Alloc,
                        ns: &str,
                        sa: &str,
                        node: usize,
                        ua: &str| {
            let sa_uid = uuid(rng);
            let reason = crb_reason(sa, sa, &format!("ServiceAccount \"{sa}/{ns}\""));
            let name = pod_name(rng, sa);
            make_pod(
                rng,
                alloc,
                &nodes,
                PodSpec {
                    ns,
                    sa,
                    sa_uid: &sa_uid,
                    name,
                    node,
                    ua,
                    reason: &reason,
                },
            )
        };
        let prometheus = platform(
            &mut rng,
            &mut alloc,
            "monitoring",
            "prometheus",
            3,
            "Prometheus/2.54.1",
        );
        let rbac_proxy = platform(
            &mut rng,
            &mut alloc,
            "monitoring",
            "node-exporter",
            4,
            "kube-rbac-proxy/v0.18.1 (linux/amd64) kubernetes/$Format",
        );
        let cert_manager = platform(
            &mut rng,
            &mut alloc,
            "cert-manager",
            "cert-manager",
            1,
            "cert-manager-controller/v1.15.3 (linux/amd64) cert-manager/2b6d7d2ad2c6b2f3b8a9e1a6d0c6f8b2a0f5e4d1",
        );
        let external_secrets = platform(
            &mut rng,
            &mut alloc,
            "external-secrets",
            "external-secrets",
            0,
            UA_ES,
        );
        let runner = platform(&mut rng, &mut alloc, "ci", "gitlab-runner", 5, UA_RUNNER);
        let build_bot = {
            let sa_uid = uuid(&mut rng);
            let reason = "RBAC: allowed by RoleBinding \"build-bot/dev\" of Role \"pod-manager\" to ServiceAccount \"build-bot/dev\"";
            let name = pod_name(&mut rng, "build-bot");
            let mut p = make_pod(
                &mut rng,
                &mut alloc,
                &nodes,
                PodSpec {
                    ns: "dev",
                    sa: "build-bot",
                    sa_uid: &sa_uid,
                    name,
                    node: 2,
                    ua: UA_GO,
                    reason,
                },
            );
            p.env = Some(0);
            p
        };
        let deployer = {
            let uid = uuid(&mut rng);
            Principal::service_account(
                "ci",
                "deployer",
                &uid,
                None,
                "10.42.6.200",
                UA_HELM,
                &crb_reason("ci-deployer", "deployer", "ServiceAccount \"deployer/ci\""),
            )
        };
        let mut app_pods = Vec::new();
        for (env, ns) in ENVS.iter().enumerate() {
            for (app_idx, app) in APPS.iter().enumerate() {
                let sa_uid = uuid(&mut rng);
                let reason = format!(
                    "RBAC: allowed by RoleBinding \"{app}-secrets/{ns}\" of Role \"{app}-secrets\" to ServiceAccount \"{app}/{ns}\""
                );
                let ua = format!("{app}/v0.0.0 (linux/amd64) kubernetes/$Format");
                let rs = k8s_suffix(&mut rng, 10);
                for r in 0..REPLICAS[env] {
                    let node = (app_idx * 2 + r * 3 + env) % NODE_COUNT;
                    let name = format!("{app}-{rs}-{}", k8s_suffix(&mut rng, 5));
                    let mut pod = make_pod(
                        &mut rng,
                        &mut alloc,
                        &nodes,
                        PodSpec {
                            ns,
                            sa: app,
                            sa_uid: &sa_uid,
                            name,
                            node,
                            ua: &ua,
                            reason: &reason,
                        },
                    );
                    pod.env = Some(env);
                    pod.app = Some(app_idx);
                    app_pods.push(pod);
                }
            }
        }
        let teams = vec![
            Team {
                name: TEAMS[0].0,
                group: TEAMS[0].1,
                timezone: TEAMS[0].2,
                offset_minutes: TEAMS[0].3,
                secret_envs: &[0, 1],
                prod_secret_reads: true,
                pod_envs: &[0, 1, 2],
                vault_envs: &[0, 1, 2],
                vault_app: None,
                vault_policy: "sre",
            },
            Team {
                name: TEAMS[1].0,
                group: TEAMS[1].1,
                timezone: TEAMS[1].2,
                offset_minutes: TEAMS[1].3,
                secret_envs: &[0, 1],
                prod_secret_reads: false,
                pod_envs: &[0, 1],
                vault_envs: &[0, 1],
                vault_app: None,
                vault_policy: "dev-team",
            },
            Team {
                name: TEAMS[2].0,
                group: TEAMS[2].1,
                timezone: TEAMS[2].2,
                offset_minutes: TEAMS[2].3,
                secret_envs: &[0, 1],
                prod_secret_reads: false,
                pod_envs: &[1, 2],
                vault_envs: &[1, 2],
                vault_app: Some(3),
                vault_policy: "data-team",
            },
        ];
        let mounts = mounts(&mut rng);
        let mut idents = Vec::new();
        for (env, ns) in ENVS.iter().enumerate() {
            for app in APPS.iter().take(VAULT_APPS) {
                let sa_uid = app_pods
                    .iter()
                    .find(|p| p.env == Some(env) && p.app.map(|a| APPS[a]) == Some(*app))
                    .map(|p| sa_uid_of(&p.principal))
                    .unwrap_or_default();
                let role = format!("{app}-{ns}");
                idents.push(VaultIdent {
                    display_name: format!("kubernetes-{ns}-{app}"),
                    policies: vec!["default".to_string(), role.clone()],
                    metadata: k8s_auth_metadata(&role, app, ns, &sa_uid),
                    entity_id: uuid(&mut rng),
                    ttl_secs: 3600,
                    login: Login::Kubernetes { role },
                    epoch_offset: rng.random_range(0..3600) * crate::timefmt::SEC,
                    env: Some(env),
                    kind: "workload",
                });
            }
        }
        let es_ident = idents.len();
        idents.push(VaultIdent {
            display_name: "kubernetes-external-secrets-external-secrets".to_string(),
            policies: vec!["default".to_string(), "external-secrets".to_string()],
            metadata: k8s_auth_metadata(
                "external-secrets",
                "external-secrets",
                "external-secrets",
                &sa_uid_of(&external_secrets.principal),
            ),
            entity_id: uuid(&mut rng),
            ttl_secs: 3600,
            login: Login::Kubernetes {
                role: "external-secrets".to_string(),
            },
            epoch_offset: rng.random_range(0..3600) * crate::timefmt::SEC,
            env: None,
            kind: "sync-operator",
        });
        let rotator_ident = idents.len();
        idents.push(VaultIdent {
            display_name: "approle-rotator".to_string(),
            policies: vec!["default".to_string(), "rotator".to_string()],
            metadata: vec![("role_name".to_string(), "rotator".to_string())],
            entity_id: uuid(&mut rng),
            ttl_secs: 1200,
            login: Login::AppRole,
            epoch_offset: 0,
            env: None,
            kind: "rotator",
        });
        let mut humans = Vec::new();
        for (name, team, host, office, ua) in HUMANS {
            let email = format!("{name}@example.com");
            let prefix = if office { "203.0.113" } else { "198.51.100" };
            let ips = vec![
                format!("{prefix}.{host}"),
                format!("{prefix}.{}", u16::from(host) + 100),
            ];
            let group = teams[team].group;
            let reason = crb_reason(
                &format!("{}-access", teams[team].name),
                if team == 0 { "admin" } else { "edit" },
                &format!("Group \"{group}\""),
            );
            let principal = Principal::new(
                &format!("oidc:{email}"),
                None,
                &[group, "system:authenticated"],
                &ips[0],
                ua,
                &reason,
            );
            let vault = idents.len();
            idents.push(VaultIdent {
                display_name: format!("oidc-{name}"),
                policies: vec!["default".to_string(), teams[team].vault_policy.to_string()],
                metadata: vec![
                    ("email".to_string(), email.clone()),
                    ("role".to_string(), "default".to_string()),
                ],
                entity_id: uuid(&mut rng),
                ttl_secs: 8 * 3600,
                login: Login::Oidc,
                epoch_offset: i64::from(-teams[team].offset_minutes) * crate::timefmt::MIN
                    + 7 * crate::timefmt::HOUR,
                env: None,
                kind: "human",
            });
            humans.push(Human {
                name,
                team,
                ips,
                principal,
                vault,
            });
        }
        let root_ident = idents.len();
        idents.push(VaultIdent {
            display_name: "root".to_string(),
            policies: vec!["root".to_string()],
            metadata: Vec::new(),
            entity_id: String::new(),
            ttl_secs: 0,
            login: Login::None,
            epoch_offset: 0,
            env: None,
            kind: "break-glass",
        });
        let admin_ident = idents.len();
        idents.push(VaultIdent {
            display_name: "token-vault-admin".to_string(),
            policies: vec!["default".to_string(), "admin".to_string()],
            metadata: Vec::new(),
            entity_id: uuid(&mut rng),
            ttl_secs: 4 * 3600,
            login: Login::None,
            epoch_offset: 0,
            env: None,
            kind: "admin-token",
        });
        let mut sync = Vec::new();
        for (env, ns) in ENVS.iter().enumerate() {
            for (app, app_name) in APPS.iter().enumerate() {
                for (key, key_name) in SYNCED_KEYS.iter().enumerate() {
                    sync.push(SyncMapping {
                        env,
                        app,
                        key,
                        vault_path: format!("secret/data/{ns}/{app_name}/{key_name}"),
                        namespace: ns,
                        secret: format!("{app_name}-{key_name}"),
                        refresh_secs: if env == PROD {
                            PROD_REFRESH_SECS
                        } else {
                            NONPROD_REFRESH_SECS
                        },
                    });
                }
            }
        }
        // Its own stream, after every other pod: adding it shifts nothing above.
        let velero = platform(
            &mut sub_rng(seed, "world.velero", 0),
            &mut alloc,
            "velero",
            "velero-server",
            2,
            UA_VELERO,
        );
        let mut eco_rng = sub_rng(seed, "world.ecosystem", 0);
        let ecosystem = ECOSYSTEM
            .iter()
            .enumerate()
            .map(|(i, (ns, sa, ua))| platform(&mut eco_rng, &mut alloc, ns, sa, i % NODE_COUNT, ua))
            .collect();
        World {
            velero,
            ecosystem,
            salt,
            nodes,
            kcm,
            kcm_informers,
            controllers,
            scheduler,
            probe,
            prometheus,
            rbac_proxy,
            cert_manager,
            external_secrets,
            build_bot,
            runner,
            deployer,
            app_pods,
            teams,
            humans,
            mounts,
            idents,
            es_ident,
            rotator_ident,
            root_ident,
            admin_ident,
            sync,
            // Its own stream, so the AWS side never shifts the choices above.
            aws: AwsWorld::build(&mut sub_rng(seed, "world.aws", 0)),
        }
    }

    pub fn mount(&self, kind: MountKind) -> &Mount {
        self.mounts
            .iter()
            .find(|m| m.kind == kind)
            .unwrap_or(&self.mounts[0])
    }

    /// Vault identity of an application (only the first `VAULT_APPS` apps have one).
    pub fn app_ident(&self, env: usize, app: usize) -> usize {
        env * VAULT_APPS + app
    }

    /// Pods of one app in one environment.
    pub fn pods_of(&self, env: usize, app: usize) -> impl Iterator<Item = &Pod> {
        self.app_pods
            .iter()
            .filter(move |p| p.env == Some(env) && p.app == Some(app))
    }

    /// Every Secret name that exists in an environment namespace.
    pub fn env_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for app in APPS {
            for key in SYNCED_KEYS.iter().chain(LOCAL_KEYS.iter()) {
                out.push(format!("{app}-{key}"));
            }
        }
        out.push(PULL_SECRET.to_string());
        out.push("wildcard-example-com-tls".to_string());
        out
    }

    /// Index of the sync mapping of (env, app, key).
    pub fn sync_index(&self, env: usize, app: usize, key: usize) -> usize {
        (env * APPS.len() + app) * SYNCED_KEYS.len() + key
    }

    /// A fresh pod IP on a random node (ephemeral CI job pods, rollouts).
    pub fn ephemeral_ip(rng: &mut impl Rng) -> String {
        format!(
            "10.42.{}.{}",
            rng.random_range(1..=NODE_COUNT),
            rng.random_range(100..250)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_is_deterministic_and_consistent() {
        let a = World::build(5);
        let b = World::build(5);
        assert_eq!(a.app_pods.len(), APPS.len() * 6);
        assert_eq!(a.app_pods[0].name, b.app_pods[0].name);
        assert_eq!(
            a.idents[a.app_ident(2, 0)].display_name,
            "kubernetes-prod-payments"
        );
        assert_eq!(
            a.sync[a.sync_index(2, 1, 3)].vault_path,
            "secret/data/prod/checkout/oauth-client"
        );
        assert!(a.env_secrets().len() >= 42);
        for p in &a.app_pods {
            assert!(p.ip.starts_with("10.42."));
            assert!(p
                .principal
                .user
                .get()
                .contains("authentication.kubernetes.io/pod-name"));
        }
        let m = &a.idents[a.app_ident(0, 2)].metadata;
        assert!(m.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(!m[4].1.is_empty());
    }
}
