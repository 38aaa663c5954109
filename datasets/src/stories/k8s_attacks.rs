//! Stories that live in the Kubernetes audit log only.

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::k8s::{Level, Req, DEPLOYMENTS, PODS, SECRETS, SERVICEACCOUNTS};
use crate::kube_events::KubeletEvent;
use crate::labels::{Source, StoryRec};
use crate::principal::{user_json, Binding, Principal};
use crate::rng::{alnum, base64, between, uuid};
use crate::schedule::DayCtx;
use crate::sink::Sink;
use crate::stories::plan::DETECTIONS;
use crate::timefmt::{DAY, HOUR, MIN, MS, SEC};
use crate::world::{World, APPS, ENVS, PROD, SYNCED_KEYS, UA_KUBECTL};

fn first_pod(w: &World, env: usize, app: &str) -> usize {
    w.app_pods
        .iter()
        .position(|p| p.env == Some(env) && p.app.map(|a| APPS[a]) == Some(app))
        .unwrap_or(0)
}

/// 1. A dev service account that only manages pods lists Secrets cluster-wide.
pub fn list_cluster_wide(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let p = &ctx.world.build_bot.principal;
    let reason = "RBAC: allowed by ClusterRoleBinding \"build-bot-debug\" of ClusterRole \"secret-viewer\" to ServiceAccount \"build-bot/dev\"";
    let mut s = StoryRec::new(
        DETECTIONS[0],
        Source::Kubernetes,
        &p.username,
        "The dev build-bot service account, which normally only manages build pods, lists Secrets in all namespaces from its pod.",
    );
    s.k8s(
        sink,
        rng,
        Req::on(p, t, "list", &SECRETS, None, None)
            .query("limit=500")
            .ua(UA_KUBECTL)
            .reason(reason),
    );
    let t2 = t + between(rng, 2 * SEC, 5 * SEC);
    let cont = format!(
        "limit=500&continue={}",
        base64(
            format!(
                "{{\"v\":\"meta.k8s.io/v1\",\"rv\":{},\"start\":\"prod/payments-api-keys\"}}",
                rng.random_range(1_000_000..9_000_000)
            )
            .as_bytes()
        )
    );
    s.k8s(
        sink,
        rng,
        Req::on(p, t2, "list", &SECRETS, None, None)
            .query(cont)
            .ua(UA_KUBECTL)
            .reason(reason),
    );
    out.push(s);
}

/// 2. One principal reads 40+ distinct prod Secrets within a few minutes.
pub fn bulk_reads(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let p = &w.app_pods[first_pod(w, PROD, "reporting")].principal;
    let reason = "RBAC: allowed by RoleBinding \"reporting-read-all/prod\" of Role \"secret-reader\" to ServiceAccount \"reporting/prod\"";
    let mut names = w.env_secrets();
    names.shuffle(rng);
    names.truncate(42);
    let mut s = StoryRec::new(
        DETECTIONS[1],
        Source::Kubernetes,
        &p.username,
        "The prod reporting service account reads 42 distinct prod Secrets in about three minutes.",
    );
    let mut at = t;
    for name in &names {
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some("prod"), Some(name)).reason(reason),
        );
        at += between(rng, 2 * SEC, 5 * SEC);
    }
    out.push(s);
}

/// 3. A service account never seen before reads Secrets.
pub fn unknown_principal(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let node = &ctx.world.nodes[2];
    let binding = Binding {
        pod: "debug-pod".to_string(),
        pod_uid: uuid(rng),
        node: node.name.clone(),
        node_uid: node.uid.clone(),
        jti: uuid(rng),
    };
    let sa_uid = uuid(rng);
    let reason = "RBAC: allowed by RoleBinding \"debug/default\" of ClusterRole \"edit\" to ServiceAccount \"debug-pod/default\"";
    let p = Principal::service_account(
        "default",
        "debug-pod",
        &sa_uid,
        Some(&binding),
        "10.42.3.201",
        UA_KUBECTL,
        reason,
    );
    let mut s = StoryRec::new(
        DETECTIONS[2],
        Source::Kubernetes,
        &p.username,
        "A service account never seen before, default:debug-pod, lists and reads Secrets.",
    );
    s.k8s(
        sink,
        rng,
        Req::on(&p, t, "list", &SECRETS, Some("default"), None).query("limit=500"),
    );
    let mut at = t;
    for name in ["db-backup-credentials", "registry-admin"] {
        at += between(rng, 3 * SEC, 30 * SEC);
        s.k8s(
            sink,
            rng,
            Req::on(&p, at, "get", &SECRETS, Some("default"), Some(name)),
        );
    }
    out.push(s);
}

/// 4. A dev workload reads a Secret in another namespace.
pub fn cross_namespace(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let p = &w.app_pods[first_pod(w, 0, "webapp")].principal;
    let reason = "RBAC: allowed by ClusterRoleBinding \"webapp-secrets\" of ClusterRole \"secret-reader\" to ServiceAccount \"webapp/dev\"";
    let mut s = StoryRec::new(
        DETECTIONS[3],
        Source::Kubernetes,
        &p.username,
        "The dev webapp service account reads webapp Secrets in the staging namespace.",
    );
    let mut at = t;
    for name in ["webapp-db-credentials", "webapp-api-keys"] {
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some("staging"), Some(name)).reason(reason),
        );
        at += between(rng, 200 * MS, 3 * SEC);
    }
    out.push(s);
}

/// 7. A prod service-account token used from outside the cluster with curl.
pub fn token_outside(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let p = &w.app_pods[first_pod(w, PROD, "payments")].principal;
    let mut s = StoryRec::new(
        DETECTIONS[6],
        Source::Kubernetes,
        &p.username,
        "The prod payments service-account token is used from 192.0.2.77, outside the pod and node ranges, with curl to read Secrets.",
    );
    let mut at = t;
    for key in ["db-credentials", "api-keys", "oauth-client"] {
        let name = format!("payments-{key}");
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some("prod"), Some(&name))
                .ip("192.0.2.77")
                .ua("curl/8.5.0"),
        );
        at += between(rng, 4 * SEC, 40 * SEC);
    }
    let req = Req::on(p, at, "list", &SECRETS, Some("prod"), None)
        .code(403)
        .ip("192.0.2.77")
        .ua("curl/8.5.0");
    s.k8s(sink, rng, req);
    out.push(s);
}

/// 9a. A burst of forbidden Secret reads by one service account.
pub fn denied_burst(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let p = &w.app_pods[first_pod(w, 1, "webapp")].principal;
    let mut names: Vec<String> = w
        .env_secrets()
        .into_iter()
        .filter(|n| !n.starts_with("webapp-"))
        .collect();
    names.shuffle(rng);
    names.truncate(34);
    let mut s = StoryRec::new(
        DETECTIONS[8],
        Source::Kubernetes,
        &p.username,
        "The staging webapp service account tries 34 Secrets of other apps in staging within two minutes and is denied every time.",
    );
    let mut at = t;
    for name in &names {
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some("staging"), Some(name)).code(403),
        );
        at += between(rng, 1500 * MS, 3300 * MS);
    }
    out.push(s);
}

/// 10. Anonymous requests for Secrets; one succeeds through a misconfigured binding.
pub fn anonymous(
    _ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let reason = "RBAC: allowed by RoleBinding \"public-read/prod\" of Role \"secret-reader\" to User \"system:anonymous\"";
    let p = Principal::new(
        "system:anonymous",
        None,
        &["system:unauthenticated"],
        "192.0.2.150",
        "python-requests/2.31.0",
        reason,
    );
    let mut s = StoryRec::new(
        DETECTIONS[9],
        Source::Kubernetes,
        &p.username,
        "Unauthenticated requests from 192.0.2.150 probe Secrets; one prod Secret is returned because of a binding to system:anonymous.",
    );
    s.k8s(
        sink,
        rng,
        Req::on(&p, t, "list", &SECRETS, None, None).code(403),
    );
    let targets = [
        ("kube-system", "bootstrap-token-abcdef", 403),
        ("default", "default-token", 403),
        ("prod", "payments-db-credentials", 403),
        ("prod", "checkout-db-credentials", 403),
        ("staging", "webapp-api-keys", 403),
        ("prod", "webapp-api-keys", 200),
        ("prod", "payments-api-keys", 403),
        ("kube-system", "cloud-credentials", 403),
    ];
    let mut at = t;
    for (ns, name, code) in targets {
        at += between(rng, 300 * MS, 4 * SEC);
        s.k8s(
            sink,
            rng,
            Req::on(&p, at, "get", &SECRETS, Some(ns), Some(name)).code(code),
        );
    }
    out.push(s);
}

/// Story 15: a workload that reads its Secret through the API (client-go `Get`, as apps and
/// operators do; kubelets never GET, they watch) retries every minute a Secret that does not
/// exist in its namespace.
pub fn missing_404(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let pod = &w.app_pods[first_pod(w, PROD, APPS[4])];
    let p = &pod.principal;
    let secret = format!("{}-export-token", APPS[4]);
    let mut s = StoryRec::new(
        DETECTIONS[14],
        Source::Kubernetes,
        &p.username,
        format!("A production workload retries reading its absent Secret {secret} through the API every minute for half an hour and gets 404 each time."),
    );
    let mut at = t;
    for _ in 0..24 {
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some(&pod.namespace), Some(&secret))
                .code(404)
                .ip(&pod.ip),
        );
        at += between(rng, 65 * SEC, 80 * SEC);
    }
    out.push(s);
}

fn fake_secret(rng: &mut impl Rng, ns: &str, name: &str, keys: &[&str], created: i64) -> Value {
    let data: Map<String, Value> = keys
        .iter()
        .map(|k| {
            (
                k.to_string(),
                Value::String(base64(format!("fake-{}", alnum(rng, 18)).as_bytes())),
            )
        })
        .collect();
    json!({
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": uuid(rng),
            "resourceVersion": rng.random_range(1_000_000..9_000_000).to_string(),
            "creationTimestamp": crate::timefmt::seconds(created),
        },
        "type": "Opaque",
        "data": data,
    })
}

/// 13. Secret values end up in the audit log because of a too verbose audit policy.
pub fn secret_values(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let pod = &w.app_pods[first_pod(w, PROD, "payments") + 1];
    let p = &pod.principal;
    let mut s = StoryRec::new(
        DETECTIONS[12],
        Source::Kubernetes,
        &p.username,
        "Prod payments Secret reads are logged at RequestResponse level, so the audit log holds the Secret data.",
    );
    let mut at = t;
    for (key, fields) in [
        ("db-credentials", &["host", "password", "username"][..]),
        ("api-keys", &["api_key"][..]),
        ("redis", &["password"][..]),
    ] {
        let name = format!("payments-{key}");
        let body = fake_secret(rng, "prod", &name, fields, t - 60 * DAY);
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some("prod"), Some(&name))
                .level(Level::RequestResponse)
                .response_object(body),
        );
        at += between(rng, 10 * MS, 2 * SEC);
    }
    out.push(s);
    let d = &w.deployer;
    let name = "checkout-smtp";
    let mut body = fake_secret(rng, "staging", name, &["password"], t);
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| k == "name" || k == "namespace");
    }
    body["stringData"] = json!({"username": "mailer@example.com", "host": "smtp.example.com"});
    let mut s = StoryRec::new(
        DETECTIONS[12],
        Source::Kubernetes,
        &d.username,
        "A staging Secret create by the CI deployer is logged at Request level with data and stringData in requestObject.",
    );
    let ip = format!(
        "10.42.{}.{}",
        1 + rng.random_range(0..6),
        100 + rng.random_range(0..150)
    );
    let ct = at + between(rng, 30 * SEC, 5 * 60 * SEC);
    s.k8s(
        sink,
        rng,
        Req::on(d, ct, "create", &SECRETS, Some("staging"), Some(name))
            .code(201)
            .level(Level::Request)
            .request_object(body)
            .ip(&ip)
            .ua(UA_KUBECTL),
    );
    out.push(s);
}

/// 8b. The break-glass user in system:masters reads prod Secrets and patches a deployment.
pub fn break_glass_masters(
    _ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let reason = "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"";
    let p = Principal::new(
        "break-glass-admin",
        None,
        &["system:masters", "system:authenticated"],
        "203.0.113.250",
        UA_KUBECTL,
        reason,
    );
    let mut s = StoryRec::new(
        DETECTIONS[7],
        Source::Kubernetes,
        &p.username,
        "The break-glass-admin user (group system:masters) reads prod Secrets and patches the payments deployment.",
    );
    let mut at = t;
    for app in ["payments", "checkout", "webapp"] {
        let name = format!("{app}-{}", SYNCED_KEYS[0]);
        s.k8s(
            sink,
            rng,
            Req::on(&p, at, "get", &SECRETS, Some("prod"), Some(&name)),
        );
        at += between(rng, 5 * SEC, 60 * SEC);
    }
    s.k8s(
        sink,
        rng,
        Req::on(
            &p,
            at,
            "patch",
            &DEPLOYMENTS,
            Some("prod"),
            Some("payments"),
        ),
    );
    out.push(s);
}

/// 8c. An engineer impersonates system:admin to read Secrets.
pub fn impersonation(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let human = &ctx.world.humans[1];
    let target = user_json(
        "system:admin",
        None,
        &[
            "system:masters".to_string(),
            "system:authenticated".to_string(),
        ],
        None,
    );
    let reason = "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"";
    let p = &human.principal;
    let mut s = StoryRec::new(
        DETECTIONS[7],
        Source::Kubernetes,
        &p.username,
        "dieter impersonates system:admin (system:masters) to read prod Secrets.",
    );
    let mut at = t;
    for app in ["payments", "reporting"] {
        let name = format!("{app}-{}", SYNCED_KEYS[0]);
        s.k8s(
            sink,
            rng,
            Req::on(p, at, "get", &SECRETS, Some(ENVS[PROD]), Some(&name))
                .impersonating(&target)
                .reason(reason),
        );
        at += between(rng, 3 * SEC, 20 * SEC);
    }
    out.push(s);
}

/// Story 16, the users' incident: a new image pull Secret exists in dev only; the prod rollout that
/// needs it fails for hours. The kubelet never GETs the Secret (it fetches pod Secrets through
/// a watch by name); what shows is its Events, logged at Request level.
pub fn missing_secret(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let human = &w.humans[2];
    let secret = "registry-pull-secret";
    let pod = &w.app_pods[first_pod(w, PROD, APPS[1])];
    let node = &w.nodes[pod.node];
    let mut s = StoryRec::new(
        DETECTIONS[15],
        Source::Kubernetes,
        &node.principal.username,
        "bob creates the image pull Secret registry-pull-secret in dev only; the prod rollout that references it fails to pull for two and a half hours, and only the kubelet's Events say so.",
    );
    // The dev Secret, created the same morning (or just before the rollout).
    let created = (ctx.start + 5 * MIN).max(t - 6 * HOUR).min(t - 10 * MIN);
    s.k8s(
        sink,
        rng,
        Req::on(
            &human.principal,
            created,
            "create",
            &SECRETS,
            Some(ENVS[0]),
            Some(secret),
        )
        .code(201)
        .ua(UA_KUBECTL)
        .ip(&human.ips[0]),
    );
    let app = APPS[1];
    let image = format!("registry.example.com/{app}:2.0.0");
    let pull = KubeletEvent {
        node,
        pod,
        reason: "FailedToRetrieveImagePullSecret",
        message: format!("Unable to retrieve some image pull secrets ({secret}); attempting to pull the image may not succeed."),
        warning: true,
        container: None,
    };
    let failed = KubeletEvent {
        node,
        pod,
        reason: "Failed",
        message: format!("Failed to pull image \"{image}\": failed to resolve reference \"{image}\": unexpected status from HEAD request to https://registry.example.com/v2/{app}/manifests/2.0.0: 401 Unauthorized"),
        warning: true,
        container: Some(app.to_string()),
    };
    let backoff = KubeletEvent {
        node,
        pod,
        reason: "BackOff",
        message: format!("Back-off pulling image \"{image}\""),
        warning: false,
        container: Some(app.to_string()),
    };
    // Each pod sync reports the missing pull Secret; the spam filter lets 25 through quickly
    // and then about one per 5 minutes (client-go events_cache.go: burst 25, 1 per 300 s).
    let end = t + 150 * MIN;
    let mut times = vec![];
    let mut at = t;
    while at < end {
        times.push(at);
        at += if times.len() < 25 {
            between(rng, 10 * SEC, 40 * SEC)
        } else {
            between(rng, 290 * SEC, 320 * SEC)
        };
    }
    pull.write(sink, rng, &times, Some(&mut s));
    let pulls: Vec<i64> = times
        .iter()
        .step_by(3)
        .map(|x| x + between(rng, SEC, 3 * SEC))
        .collect();
    failed.write(sink, rng, &pulls, Some(&mut s));
    let backs: Vec<i64> = pulls
        .iter()
        .map(|x| x + between(rng, 2 * SEC, 9 * SEC))
        .collect();
    backoff.write(sink, rng, &backs, Some(&mut s));
    out.push(s);
}

/// Story 17: a person execs into a production pod and prints its service-account token (the token is
/// a credential of its own; no Secret is read).
pub fn exec_token(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let human = &w.humans[3];
    let pod = &w.app_pods[first_pod(w, PROD, APPS[0])];
    let app = APPS[0];
    let mut s = StoryRec::new(
        DETECTIONS[16],
        Source::Kubernetes,
        &human.principal.username,
        "carol execs into a production pod and prints its service-account token.",
    );
    let q = format!("command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container={app}&stderr=true&stdout=true");
    let session = between(rng, 300 * MS, 2 * SEC);
    s.k8s(
        sink,
        rng,
        Req::on(
            &human.principal,
            t,
            "create",
            &PODS,
            Some(&pod.namespace),
            Some(&pod.name),
        )
        .sub("exec")
        .query(q)
        .long_running(session)
        .ua(UA_KUBECTL)
        .ip(&human.ips[0]),
    );
    out.push(s);
}

/// Story 18: a person mints a token of a production service account (`kubectl create token`).
pub fn mint_token(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let human = &w.humans[4];
    let pod = &w.app_pods[first_pod(w, PROD, APPS[2])];
    let sa = pod
        .principal
        .username
        .rsplit(':')
        .next()
        .unwrap_or("default");
    let mut s = StoryRec::new(
        DETECTIONS[17],
        Source::Kubernetes,
        &human.principal.username,
        "chen mints a token of a production service account with kubectl create token.",
    );
    s.k8s(
        sink,
        rng,
        Req::on(
            &human.principal,
            t,
            "create",
            &SERVICEACCOUNTS,
            Some(&pod.namespace),
            Some(sa),
        )
        .sub("token")
        .code(201)
        .ua(UA_KUBECTL)
        .ip(&human.ips[0]),
    );
    out.push(s);
}

/// Story 19: a person reads a production Helm release's stored values (`helm get values`): the
/// release Secret holds the chart values, passwords included. The deploy pipeline upgraded the
/// release two hours earlier (its own bookkeeping, quiet).
pub fn helm_values(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let human = &w.humans[1];
    let release = format!("{}-api", APPS[3]);
    let ns = ENVS[PROD];
    let sel = format!("labelSelector=name%3D{release}%2Cowner%3Dhelm");
    let mut s = StoryRec::new(
        DETECTIONS[18],
        Source::Kubernetes,
        &human.principal.username,
        "dieter reads the stored values of the production Helm release the pipeline deployed (helm get values).",
    );
    let d = &w.deployer;
    let ip = World::ephemeral_ip(rng);
    let deploy = t - 2 * HOUR;
    for (i, (verb, name)) in [
        ("list", None),
        ("get", Some(format!("sh.helm.release.v1.{release}.v6"))),
        ("create", Some(format!("sh.helm.release.v1.{release}.v7"))),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = Req::on(
            d,
            deploy + i as i64 * SEC,
            verb,
            &SECRETS,
            Some(ns),
            name.as_deref(),
        )
        .ip(&ip);
        if verb == "list" {
            r = r.query(sel.clone());
        }
        if verb == "create" {
            r = r.code(201);
        }
        crate::k8s::emit(sink, rng, r);
    }
    s.k8s(
        sink,
        rng,
        Req::on(&human.principal, t, "list", &SECRETS, Some(ns), None)
            .query(sel)
            .ua("Helm/3.16.2")
            .ip(&human.ips[0]),
    );
    let t2 = t + between(rng, 100 * MS, 400 * MS);
    s.k8s(
        sink,
        rng,
        Req::on(
            &human.principal,
            t2,
            "get",
            &SECRETS,
            Some(ns),
            Some(&format!("sh.helm.release.v1.{release}.v7")),
        )
        .ua("Helm/3.16.2")
        .ip(&human.ips[0]),
    );
    out.push(s);
}
