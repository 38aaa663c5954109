//! Workload traffic: kubelets fetching pod secrets, apps reading their own secrets in Kubernetes and
//! Vault, external-secrets refreshing synced secrets, cert-manager, and the dev build bot.

use rand::Rng;
use serde_json::json;

use crate::k8s::{emit, Req, Res, CERTIFICATES, CONFIGMAPS, EXTERNALSECRETS, PODS, SECRETS};
use crate::rng::{alnum, between, k8s_suffix, periodic, poisson};
use crate::schedule::DayCtx;
use crate::sink::Sink;
use crate::timefmt::{DAY, MIN, MS, SEC};

use crate::vault::{kv_read_data, VaultCall};
use crate::vault_ident::MountKind;
use crate::world::{
    World, APPS, DB_APPS, ENVS, MOUNTED_KEYS, PULL_SECRET, SYNCED_KEYS, VAULT_APPS,
};

pub fn generate(ctx: &DayCtx<'_>, sink: &mut Sink) {
    kubelet_mounts(ctx, sink);
    app_reads(ctx, sink);
    app_vault(ctx, sink);
    external_secrets(ctx, sink);
    cert_manager(ctx, sink);
    build_bot(ctx, sink);
}

/// Kubelets fetch the Secrets and ConfigMaps their pods use the way the default Watch strategy
/// does (`pkg/kubelet/util/manager/watch_based_manager.go`): a reflector per object, listing it
/// by name once (`fieldSelector=metadata.name=X`, `resourceVersion=0`) and then watching it by
/// name, each watch closed by the server after a random 5 to 10 minutes (client-go
/// `reflector.go`: `minWatchTimeout` times 1 + rand) and opened again at once from the last
/// resource version. They never GET a pod's Secret.
fn kubelet_mounts(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("workloads.kubelet");
    for pod in &w.app_pods {
        let app = APPS[pod.app.unwrap_or(0)];
        let node = &w.nodes[pod.node];
        let mut objects: Vec<(&Res, String)> = MOUNTED_KEYS
            .iter()
            .map(|k| (&SECRETS, format!("{app}-{k}")))
            .collect();
        objects.push((&SECRETS, PULL_SECRET.to_string()));
        objects.push((&CONFIGMAPS, format!("{app}-config")));
        objects.push((&CONFIGMAPS, "kube-root-ca.crt".to_string()));
        for (res, name) in &objects {
            let sel = format!("fieldSelector=metadata.name%3D{name}");
            let mut rv: u64 = rng.random_range(1_000_000..9_000_000);
            let mut t = ctx.start + between(&mut rng, 0, 5 * MIN);
            // The reflector's first list (the pod started before this day: a kubelet restart).
            if ctx.day == 0 {
                emit(
                    sink,
                    &mut rng,
                    Req::on(&node.principal, t, "list", res, Some(&pod.namespace), None)
                        .query(format!("{sel}&limit=500&resourceVersion=0"))
                        .ip(&node.ip),
                );
                t += between(&mut rng, 5 * MS, 50 * MS);
            }
            // At scale 1 each watch lasts 5-10 minutes; scaled datasets stretch them.
            while t < ctx.end {
                let secs = rng.random_range(300..600);
                let dur = (ctx.every(secs as f64) as i64).max(SEC);
                rv += rng.random_range(1..50);
                emit(
                    sink,
                    &mut rng,
                    Req::on(&node.principal, t, "watch", res, Some(&pod.namespace), None)
                        .query(format!(
                            "allowWatchBookmarks=true&{sel}&resourceVersion={rv}&timeout={secs}s&timeoutSeconds={secs}&watch=true"
                        ))
                        .long_running(dur)
                        .ip(&node.ip),
                );
                t += dur + between(&mut rng, 2 * MS, 30 * MS);
            }
        }
    }
}

/// Apps read a couple of their own Secrets and ConfigMaps through the API.
fn app_reads(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("workloads.apps");
    for pod in &w.app_pods {
        let app = APPS[pod.app.unwrap_or(0)];
        let own = [format!("{app}-signing-key"), format!("{app}-smtp")];
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(3600.0), 0.4) {
            let name = &own[rng.random_range(0..own.len())];
            emit(
                sink,
                &mut rng,
                Req::on(
                    &pod.principal,
                    t,
                    "get",
                    &SECRETS,
                    Some(&pod.namespace),
                    Some(name),
                ),
            );
            let t2 = t + between(&mut rng, 5 * MS, 80 * MS);
            let cm = format!("{app}-config");
            emit(
                sink,
                &mut rng,
                Req::on(
                    &pod.principal,
                    t2,
                    "get",
                    &CONFIGMAPS,
                    Some(&pod.namespace),
                    Some(&cm),
                ),
            );
        }
        // Some apps probe for feature-flag ConfigMaps they may not list: a harmless, isolated denial.
        if rng.random_bool(0.3) {
            let t = ctx.start + between(&mut rng, 0, DAY);
            let req = Req::on(
                &pod.principal,
                t,
                "list",
                &CONFIGMAPS,
                Some(&pod.namespace),
                None,
            )
            .query("labelSelector=feature-flags%3Dtrue")
            .code(403);
            emit(sink, &mut rng, req);
        }
    }
}

/// Fake plaintext fields of a synced secret (only ever written HMAC'd).
pub fn secret_fields(world: &World, sync_idx: usize, version: u32) -> Vec<(&'static str, String)> {
    let m = &world.sync[sync_idx];
    let v = |f: &str| format!("{}:{f}:v{version}", m.vault_path);
    match SYNCED_KEYS[m.key] {
        "db-credentials" => vec![
            ("host", v("host")),
            ("password", v("password")),
            ("username", v("username")),
        ],
        "api-keys" => vec![("api_key", v("api_key"))],
        "redis" => vec![("password", v("password"))],
        _ => vec![
            ("client_id", v("client_id")),
            ("client_secret", v("client_secret")),
        ],
    }
}

/// KV read of a synced path, as seen at time `t`.
pub fn kv_read(
    ctx: &DayCtx<'_>,
    rng: &mut impl Rng,
    t: i64,
    ident: usize,
    sync_idx: usize,
    remote: &str,
) -> VaultCall {
    let w = ctx.world;
    let (version, written) = ctx.rotations.version_at(w, sync_idx, t);
    let created = written.unwrap_or(
        ctx.opts.start.timestamp_nanos_opt().unwrap_or(0) - 40 * DAY + sync_idx as i64 * 7 * MIN,
    );
    let fields = secret_fields(w, sync_idx, version);
    VaultCall::new(
        rng,
        t,
        ident,
        "read",
        MountKind::Kv,
        w.sync[sync_idx].vault_path.clone(),
        remote,
    )
    .resp_data(kv_read_data(w, &fields, version, created))
}

/// Apps with Vault access read their own paths (Vault Agent) and, for databases, lease credentials.
fn app_vault(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("workloads.vault");
    for (env, ns) in ENVS.iter().enumerate() {
        for (app, app_name) in APPS.iter().enumerate().take(VAULT_APPS) {
            let ident = w.app_ident(env, app);
            for (instance, pod) in w.pods_of(env, app).enumerate() {
                let instance = instance as u32;
                for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(3600.0), 0.3) {
                    for (i, key) in [1usize, 3].iter().enumerate() {
                        let idx = w.sync_index(env, app, *key);
                        let call =
                            kv_read(ctx, &mut rng, t + i as i64 * 3 * MS, ident, idx, &pod.ip)
                                .instance(instance);
                        sink.push_vault(call);
                    }
                }
                if app >= DB_APPS {
                    continue;
                }
                let role = format!("{app_name}-{ns}");
                for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(3600.0), 0.2) {
                    let lease = format!("database/creds/{role}/{}", alnum(&mut rng, 24));
                    let creds = json!({"password": format!("A1a-{}", alnum(&mut rng, 20)), "username": format!("v-kubernetes-{role}-{}", alnum(&mut rng, 12))});
                    let call = VaultCall::new(
                        &mut rng,
                        t,
                        ident,
                        "read",
                        MountKind::Database,
                        format!("database/creds/{role}"),
                        &pod.ip,
                    )
                    .instance(instance)
                    .resp_data(w.salt.hmac_value(creds))
                    .lease(lease.clone(), 3600);
                    sink.push_vault(call);
                    let renew_t = t + between(&mut rng, 25 * MIN, 35 * MIN);
                    if renew_t < ctx.end {
                        let call = VaultCall::new(
                            &mut rng,
                            renew_t,
                            ident,
                            "update",
                            MountKind::Sys,
                            "sys/leases/renew",
                            &pod.ip,
                        )
                        .instance(instance)
                        .req_data(
                            w.salt
                                .hmac_value(json!({"increment": 3600, "lease_id": lease})),
                        )
                        .lease(lease, 3600);
                        sink.push_vault(call);
                    }
                }
            }
        }
    }
}

/// external-secrets refreshes every ExternalSecret: a Vault read, then a status update in Kubernetes.
fn external_secrets(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let es = &w.external_secrets;
    let mut rng = ctx.rng("workloads.external-secrets");
    for (idx, m) in w.sync.iter().enumerate() {
        for t in periodic(
            &mut rng,
            ctx.start,
            ctx.end,
            ctx.every(m.refresh_secs as f64),
            0.05,
        ) {
            if ctx.rotations.blacked_out(w, idx, t) {
                continue;
            }
            sink.push_vault(kv_read(ctx, &mut rng, t, w.es_ident, idx, &es.ip));
            let t2 = t + between(&mut rng, 15 * MS, 120 * MS);
            let req = Req::on(
                &es.principal,
                t2,
                "update",
                &EXTERNALSECRETS,
                Some(m.namespace),
                Some(&m.secret),
            )
            .sub("status");
            emit(sink, &mut rng, req);
        }
    }
}

/// cert-manager checks the TLS Secrets of its Certificates and renews one now and then.
fn cert_manager(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let cm = &ctx.world.cert_manager.principal;
    let mut rng = ctx.rng("workloads.cert-manager");
    for ns in ENVS {
        for app in APPS {
            let secret = format!("{app}-tls");
            for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(7200.0), 0.3) {
                emit(
                    sink,
                    &mut rng,
                    Req::on(cm, t, "get", &SECRETS, Some(ns), Some(&secret)),
                );
                let t2 = t + between(&mut rng, 5 * MS, 40 * MS);
                let cert = format!("{app}-tls");
                emit(
                    sink,
                    &mut rng,
                    Req::on(cm, t2, "update", &CERTIFICATES, Some(ns), Some(&cert)).sub("status"),
                );
                if rng.random_bool(0.01) {
                    let t3 = t2 + between(&mut rng, 2 * SEC, 20 * SEC);
                    emit(
                        sink,
                        &mut rng,
                        Req::on(cm, t3, "update", &SECRETS, Some(ns), Some(&secret)),
                    );
                }
            }
        }
    }
}

/// The dev build bot only manages build pods in `dev`.
fn build_bot(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let bot = &ctx.world.build_bot.principal;
    let mut rng = ctx.rng("workloads.build-bot");
    for t in poisson(&mut rng, ctx.start, ctx.end, ctx.every(600.0)) {
        let pod = format!("build-{}", k8s_suffix(&mut rng, 5));
        emit(
            sink,
            &mut rng,
            Req::on(bot, t, "list", &PODS, Some("dev"), None).query("labelSelector=app%3Dbuild"),
        );
        let mut t = t + between(&mut rng, 50 * MS, 400 * MS);
        emit(
            sink,
            &mut rng,
            Req::on(bot, t, "create", &PODS, Some("dev"), Some(&pod)).code(201),
        );
        for _ in 0..rng.random_range(2..6) {
            t += between(&mut rng, 5 * SEC, 40 * SEC);
            emit(
                sink,
                &mut rng,
                Req::on(bot, t, "get", &PODS, Some("dev"), Some(&pod)),
            );
        }
        t += between(&mut rng, SEC, 5 * SEC);
        emit(
            sink,
            &mut rng,
            Req::on(bot, t, "get", &PODS, Some("dev"), Some(&pod))
                .sub("log")
                .query("container=build"),
        );
        t += between(&mut rng, SEC, 3 * SEC);
        emit(
            sink,
            &mut rng,
            Req::on(bot, t, "delete", &PODS, Some("dev"), Some(&pod)),
        );
    }
}
