//! Control-plane and platform traffic: leases, node status, informer watches, probes, monitoring.

use rand::Rng;

use crate::k8s::{
    emit, Req, Res, CERTIFICATEREQUESTS, CERTIFICATES, CLUSTERISSUERS, CLUSTERSECRETSTORES,
    CONFIGMAPS, DEPLOYMENTS, ENDPOINTS, ENDPOINTSLICES, EVENTS, EXTERNALSECRETS, JOBS, LEASES,
    NAMESPACES, NODES, PODS, REPLICASETS, SECRETS, SECRETSTORES, SERVICEACCOUNTS,
    SUBJECTACCESSREVIEWS, TOKENREVIEWS,
};
use crate::kube_events::{KubeletEvent, ROUTINE};
use crate::principal::Principal;
use crate::rng::{between, periodic, pick, poisson};
use crate::schedule::DayCtx;
use crate::sink::Sink;
use crate::timefmt::{HOUR, MIN, MS, SEC};
use crate::world::{APPS, ENVS};

pub fn generate(ctx: &DayCtx<'_>, sink: &mut Sink) {
    leases(ctx, sink);
    node_status(ctx, sink);
    informers(ctx, sink);
    monitoring(ctx, sink);
    probes(ctx, sink);
    controllers(ctx, sink);
    velero(ctx, sink);
}

/// Velero's nightly Schedule (`0 1 * * *`): a Backup of every namespace lists each resource
/// type across the cluster through a pager (`--client-page-size`, default 500) — Secrets
/// included, the bodies go to the object store — and the Kopia repository's password Secret
/// is read to open the repository (vmware-tanzu/velero `pkg/backup/item_collector.go`,
/// `pkg/repository/keys`). Its informers watch its own CRDs. The Helm chart binds the server to
/// cluster-admin (see the catalogue's velero entry).
fn velero(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.velero");
    let v = &w.velero.principal;
    let mut t = ctx.start + HOUR + between(&mut rng, 0, 20 * SEC);
    emit(
        sink,
        &mut rng,
        Req::on(
            v,
            t,
            "get",
            &SECRETS,
            Some("velero"),
            Some("velero-repo-credentials"),
        ),
    );
    for res in [
        NAMESPACES,
        SERVICEACCOUNTS,
        CONFIGMAPS,
        SECRETS,
        PODS,
        DEPLOYMENTS,
        REPLICASETS,
    ] {
        t += between(&mut rng, 200 * MS, 3 * SEC);
        emit(
            sink,
            &mut rng,
            Req::on(v, t, "list", &res, None, None).query("limit=500"),
        );
    }
}

/// TokenRequests (`create serviceaccounts/token`): each kubelet refreshes the projected token of
/// every pod on it when 80% of its hour has passed (`pkg/kubelet/token/token_manager.go`
/// `requiresRefresh`), and the kube-controller-manager mints its own controllers' tokens in
/// kube-system (`--use-service-account-credentials`, the dynamic client builder of
/// `k8s.io/controller-manager/pkg/clientbuilder`, expiry 3607 s).
fn token_requests(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.token-requests");
    for pod in &w.app_pods {
        let node = &w.nodes[pod.node];
        let Some(sa) = pod.principal.username.rsplit(':').next() else {
            continue;
        };
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(48.0 * 60.0), 0.1) {
            emit(
                sink,
                &mut rng,
                Req::on(
                    &node.principal,
                    t,
                    "create",
                    &SERVICEACCOUNTS,
                    Some(&pod.namespace),
                    Some(sa),
                )
                .sub("token")
                .code(201)
                .ip(&node.ip),
            );
        }
    }
    for c in &w.controllers {
        let Some(sa) = c.username.rsplit(':').next() else {
            continue;
        };
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(2886.0), 0.05) {
            emit(
                sink,
                &mut rng,
                Req::on(
                    &w.kcm,
                    t,
                    "create",
                    &SERVICEACCOUNTS,
                    Some("kube-system"),
                    Some(sa),
                )
                .sub("token")
                .code(201),
            );
        }
    }
}

/// The kubelets' Events about their pods (logged at Request level, with the Event as body):
/// routine ones, some repeated, and now and then the race of a pod that starts before the
/// Secret its new ExternalSecret syncs (a Helm or Argo CD rollout applies both at once): a few
/// `FailedMount` reports, then external-secrets creates the Secret and the mount succeeds.
fn kubelet_events(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.kubelet-events");
    for t in poisson(&mut rng, ctx.start, ctx.end, ctx.every(90.0)) {
        let pod = pick(&mut rng, &w.app_pods);
        let node = &w.nodes[pod.node];
        let app = APPS[pod.app.unwrap_or(0)];
        let total: u32 = ROUTINE.iter().map(|r| r.3).sum();
        let mut roll = rng.random_range(0..total);
        let &(reason, template, warning, _) = ROUTINE
            .iter()
            .find(|r| {
                if roll < r.3 {
                    true
                } else {
                    roll -= r.3;
                    false
                }
            })
            .unwrap_or(&ROUTINE[0]);
        let message = template
            .replace(
                "{image}",
                &format!("registry.example.com/{app}:1.{}", rng.random_range(1..40)),
            )
            .replace("{container}", app)
            .replace("{ip}", &pod.ip)
            .replace(
                "{pod}",
                &format!("{}_{}({}-uid)", pod.name, pod.namespace, pod.name),
            );
        let ev = KubeletEvent {
            node,
            pod,
            reason,
            message,
            warning,
            container: Some(app.to_string()),
        };
        // Probes and back-offs repeat while the condition lasts.
        let mut times = vec![t];
        if warning {
            for _ in 0..rng.random_range(0..6) {
                let last = *times.last().unwrap_or(&t);
                times.push(last + between(&mut rng, 10 * SEC, 60 * SEC));
            }
        }
        ev.write(sink, &mut rng, &times, None);
    }
    // The sync race, about twice a day at scale 1.
    for t in poisson(&mut rng, ctx.start, ctx.end, ctx.every(12.0 * 3600.0)) {
        let pod = pick(&mut rng, &w.app_pods);
        let node = &w.nodes[pod.node];
        let app = APPS[pod.app.unwrap_or(0)];
        let secret = format!("{app}-feature-{}", rng.random_range(1..1000));
        let ev = KubeletEvent {
            node,
            pod,
            reason: "FailedMount",
            message: format!(
                "MountVolume.SetUp failed for volume \"{secret}\" : secret \"{secret}\" not found"
            ),
            warning: true,
            container: None,
        };
        // The volume manager retries with back-off (0.5 s doubling); ESO syncs within a minute.
        let synced = t + between(&mut rng, 5 * SEC, 60 * SEC);
        let mut times = vec![t];
        let mut gap = SEC / 2;
        while *times.last().unwrap_or(&t) + gap < synced {
            let last = *times.last().unwrap_or(&t);
            times.push(last + gap);
            gap *= 2;
        }
        ev.write(sink, &mut rng, &times, None);
        let es = &w.external_secrets;
        emit(
            sink,
            &mut rng,
            Req::on(
                &es.principal,
                synced,
                "create",
                &SECRETS,
                Some(&pod.namespace),
                Some(&secret),
            )
            .code(201)
            .ip(&es.ip),
        );
    }
}

fn leases(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.leases");
    for node in &w.nodes {
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(30.0), 0.05) {
            let req = Req::on(
                &node.principal,
                t,
                "update",
                &LEASES,
                Some("kube-node-lease"),
                Some(&node.name),
            )
            .query("timeout=10s");
            emit(sink, &mut rng, req);
        }
    }
    let leaders: [(&Principal, &str, &str); 4] = [
        (&w.kcm, "kube-system", "kube-controller-manager"),
        (&w.scheduler, "kube-system", "kube-scheduler"),
        (
            &w.cert_manager.principal,
            "kube-system",
            "cert-manager-controller",
        ),
        (
            &w.external_secrets.principal,
            "external-secrets",
            "external-secrets-controller",
        ),
    ];
    let sched_ua = w.scheduler.ua.replace("/scheduler", "/leader-election");
    for (who, ns, name) in leaders {
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(20.0), 0.1) {
            let mut req =
                Req::on(who, t, "update", &LEASES, Some(ns), Some(name)).query("timeout=5s");
            if name == "kube-scheduler" {
                req = req.ua(&sched_ua);
            }
            emit(sink, &mut rng, req);
        }
    }
}

fn node_status(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let mut rng = ctx.rng("platform.nodestatus");
    for node in &ctx.world.nodes {
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(300.0), 0.1) {
            let req = Req::on(&node.principal, t, "patch", &NODES, None, Some(&node.name))
                .sub("status")
                .query("timeout=10s");
            emit(sink, &mut rng, req);
        }
    }
}

/// Resource version shown in watch URLs: grows with time.
fn resource_version(t: i64) -> i64 {
    (t / SEC).rem_euclid(100_000_000) * 3 + 1_000_000
}

fn watch_query(rng: &mut impl Rng, t: i64, selector: Option<&str>, timeout_s: i64) -> String {
    let sel = selector
        .map(|s| format!("fieldSelector={s}&"))
        .unwrap_or_default();
    let rv = resource_version(t) - rng.random_range(0..500);
    format!(
        "allowWatchBookmarks=true&{sel}resourceVersion={rv}&timeout={}m{}s&timeoutSeconds={timeout_s}&watch=true",
        timeout_s / 60,
        timeout_s % 60
    )
}

/// Back-to-back cluster-wide watches of one informer over the day.
fn watch_stream(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    who: &Principal,
    res: &Res,
    selector: Option<&str>,
) {
    let mut t = ctx.start + between(rng, 0, 5 * MIN);
    while t < ctx.end {
        let timeout_s = between(rng, 300, 600);
        let duration = ((timeout_s * SEC) as f64 / ctx.opts.scale) as i64;
        let req = Req::on(who, t, "watch", res, None, None)
            .query(watch_query(rng, t, selector, timeout_s))
            .long_running(duration);
        emit(sink, rng, req);
        t += duration + between(rng, 20 * MS, 900 * MS);
    }
}

fn informers(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.informers");
    let kcm = [
        SECRETS,
        SERVICEACCOUNTS,
        PODS,
        NODES,
        DEPLOYMENTS,
        REPLICASETS,
        ENDPOINTSLICES,
        NAMESPACES,
        CONFIGMAPS,
        JOBS,
    ];
    for res in &kcm {
        watch_stream(ctx, sink, &mut rng, &w.kcm_informers, res, None);
    }
    for res in [PODS, NODES, NAMESPACES] {
        watch_stream(ctx, sink, &mut rng, &w.scheduler, &res, None);
    }
    for res in [SECRETS, EXTERNALSECRETS, SECRETSTORES, CLUSTERSECRETSTORES] {
        watch_stream(
            ctx,
            sink,
            &mut rng,
            &w.external_secrets.principal,
            &res,
            None,
        );
    }
    for res in [CERTIFICATES, CERTIFICATEREQUESTS, CLUSTERISSUERS] {
        watch_stream(ctx, sink, &mut rng, &w.cert_manager.principal, &res, None);
    }
    // Secret informers of the ecosystem's controllers (their own stream: adding them shifts
    // nothing above).
    let mut eco = ctx.rng("platform.ecosystem");
    for pod in &w.ecosystem {
        for res in [SECRETS, CONFIGMAPS, NAMESPACES] {
            watch_stream(ctx, sink, &mut eco, &pod.principal, &res, None);
        }
    }
    for node in &w.nodes {
        let sel = format!("spec.nodeName%3D{}", node.name);
        watch_stream(ctx, sink, &mut rng, &node.principal, &PODS, Some(&sel));
    }
}

fn monitoring(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.monitoring");
    let prom = &w.prometheus.principal;
    for res in [PODS, ENDPOINTS, NODES] {
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(60.0), 0.05) {
            let req =
                Req::on(prom, t, "list", &res, None, None).query("limit=500&resourceVersion=0");
            emit(sink, &mut rng, req);
        }
    }
    for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(30.0), 0.02) {
        emit(sink, &mut rng, Req::non_resource(prom, t, "/metrics"));
    }
    let proxy = &w.rbac_proxy.principal;
    for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(60.0), 0.1) {
        emit(
            sink,
            &mut rng,
            Req::on(proxy, t, "create", &TOKENREVIEWS, None, None).code(201),
        );
        let t2 = t + between(&mut rng, 2 * MS, 20 * MS);
        emit(
            sink,
            &mut rng,
            Req::on(proxy, t2, "create", &SUBJECTACCESSREVIEWS, None, None).code(201),
        );
    }
}

fn probes(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let mut rng = ctx.rng("platform.probes");
    for path in ["/healthz", "/livez", "/readyz"] {
        for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(30.0), 0.01) {
            emit(sink, &mut rng, Req::non_resource(&ctx.world.probe, t, path));
        }
    }
}

fn controllers(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("platform.controllers");
    let endpointslice = &w.controllers[2];
    for t in poisson(&mut rng, ctx.start, ctx.end, ctx.every(60.0)) {
        let ns = *pick(&mut rng, &ENVS);
        let app = *pick(&mut rng, &APPS);
        let name = format!("{app}-{}", crate::rng::k8s_suffix(&mut rng, 5));
        emit(
            sink,
            &mut rng,
            Req::on(
                endpointslice,
                t,
                "update",
                &ENDPOINTSLICES,
                Some(ns),
                Some(&name),
            ),
        );
    }
    kubelet_events(ctx, sink);
    token_requests(ctx, sink);
    for t in poisson(&mut rng, ctx.start, ctx.end, ctx.every(120.0)) {
        let pod = pick(&mut rng, &w.app_pods);
        let node = &w.nodes[pod.node];
        let req = Req::on(
            &node.principal,
            t,
            "patch",
            &PODS,
            Some(&pod.namespace),
            Some(&pod.name),
        )
        .sub("status");
        emit(sink, &mut rng, req);
    }
    for t in poisson(&mut rng, ctx.start, ctx.end, ctx.every(600.0)) {
        let ns = *pick(&mut rng, &ENVS);
        emit(
            sink,
            &mut rng,
            Req::on(&w.kcm, t, "create", &EVENTS, Some(ns), None).code(201),
        );
    }
}
