//! People and pipelines: engineers with kubectl and the Vault UI in their working hours, and CI deploys.

use rand::Rng;
use serde_json::json;

use crate::benign::rotation::rollout;
use crate::k8s::{
    emit, Level, Req, DEPLOYMENTS, EVENTS, NAMESPACES, NODES, PODS, ROLES, SECRETS,
    SELFSUBJECTACCESSREVIEWS, SERVICEACCOUNTS,
};
use crate::rng::{between, k8s_suffix, pick, poisson_count};
use crate::schedule::DayCtx;
use crate::sink::Sink;
use crate::timefmt::{local, local_hours_in, HOUR, MIN, MS, SEC};
use crate::vault::VaultCall;
use crate::vault_ident::MountKind;
use crate::world::{Human, Pod, World, APPS, ENVS, PROD, SYNCED_KEYS, UA_KUBECTL};

pub fn generate(ctx: &DayCtx<'_>, sink: &mut Sink) {
    for human in &ctx.world.humans {
        humans(ctx, sink, human);
    }
    ci(ctx, sink);
}

/// Local working days of one person whose 09:00 falls in this generated day: their 09:00
/// instants, in their zone's time (a daylight-saving change moves them by an hour in UTC).
pub fn workday_starts(ctx: &DayCtx<'_>, tz: &str) -> Vec<i64> {
    local_hours_in(tz, 9, ctx.start, ctx.end)
        .into_iter()
        .filter(|(_, weekday)| *weekday < 5)
        .map(|(t, _)| t)
        .collect()
}

/// A session start between 09:00 and 17:15 local, rarer over lunch.
fn session_start(rng: &mut impl Rng, nine: i64) -> i64 {
    loop {
        let t = nine + between(rng, 0, 8 * HOUR + 15 * MIN);
        let since = t - nine;
        let lunch = (3 * HOUR..4 * HOUR).contains(&since);
        if !lunch || rng.random_bool(0.3) {
            return t;
        }
    }
}

fn humans(ctx: &DayCtx<'_>, sink: &mut Sink, human: &Human) {
    let w = ctx.world;
    let team = &w.teams[human.team];
    let mut rng = ctx.rng(&format!("people.{}", human.name));
    for nine in workday_starts(ctx, team.timezone) {
        let close = nine + 9 * HOUR;
        let sessions = poisson_count(&mut rng, ctx.scaled(8.0)).max(1);
        let mut starts: Vec<i64> = (0..sessions)
            .map(|_| session_start(&mut rng, nine))
            .collect();
        starts.sort_unstable();
        for (s, start) in starts.into_iter().enumerate() {
            let first = ctx.day == 0 && s == 0;
            session(ctx, sink, &mut rng, human, start, close, first);
        }
    }
}

fn session(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    human: &Human,
    start: i64,
    close: i64,
    first: bool,
) {
    let w = ctx.world;
    let team = &w.teams[human.team];
    let p = &human.principal;
    let ip = human.ips[rng.random_range(0..human.ips.len())].as_str();
    let mut t = start;
    if rng.random_bool(0.5) {
        emit(sink, rng, Req::non_resource(p, t, "/api").ip(ip));
        let t2 = t + between(rng, 5 * MS, 40 * MS);
        emit(sink, rng, Req::non_resource(p, t2, "/apis").ip(ip));
        t += between(rng, 100 * MS, 600 * MS);
    }
    let commands = rng.random_range(5..30);
    for c in 0..commands {
        // Stop a little before 18:00 so that nothing a session does spills past working hours.
        if t >= close - 2 * MIN {
            break;
        }
        let forced = first && c == 0;
        let roll = if forced { 0 } else { rng.random_range(0..100) };
        let secret_ns = ENVS[*pick(rng, team.secret_envs)];
        let pod_env = *pick(rng, team.pod_envs);
        let pod = pick_pod(w, rng, pod_env, team.vault_app);
        match roll {
            0..=9 => {
                let app = team
                    .vault_app
                    .map(|a| APPS[a])
                    .unwrap_or_else(|| *pick(rng, &APPS));
                let name = format!("{app}-{}", pick(rng, &SYNCED_KEYS));
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "get", &SECRETS, Some(secret_ns), Some(&name)).ip(ip),
                );
            }
            10..=14 => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "list", &SECRETS, Some(secret_ns), None)
                        .query("limit=500")
                        .ip(ip),
                );
            }
            15..=39 => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "list", &PODS, Some(&pod.namespace), None)
                        .query("limit=500")
                        .ip(ip),
                );
            }
            40..=54 => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "get", &PODS, Some(&pod.namespace), Some(&pod.name)).ip(ip),
                );
                let t2 = t + between(rng, 20 * MS, 200 * MS);
                let app = APPS[pod.app.unwrap_or(0)];
                let follow = rng.random_bool(0.3);
                let mut req = Req::on(p, t2, "get", &PODS, Some(&pod.namespace), Some(&pod.name))
                    .sub("log")
                    .query(format!(
                        "container={app}{}",
                        if follow {
                            "&follow=true"
                        } else {
                            "&tailLines=200"
                        }
                    ))
                    .ip(ip);
                if follow {
                    req = req.long_running(between(rng, 20 * SEC, 10 * MIN));
                }
                emit(sink, rng, req);
            }
            55..=64 => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "get", &PODS, Some(&pod.namespace), Some(&pod.name)).ip(ip),
                );
                let sel = format!("fieldSelector=involvedObject.name%3D{}", pod.name);
                let t2 = t + between(rng, 10 * MS, 90 * MS);
                emit(
                    sink,
                    rng,
                    Req::on(p, t2, "list", &EVENTS, Some(&pod.namespace), None)
                        .query(sel)
                        .ip(ip),
                );
            }
            65..=74 => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "list", &DEPLOYMENTS, Some(&pod.namespace), None)
                        .query("limit=500")
                        .ip(ip),
                );
            }
            75..=79 if team.pod_envs.contains(&0) && human.team != 2 => {
                let dev_pod = pick_pod(w, rng, 0, None);
                let app = APPS[dev_pod.app.unwrap_or(0)];
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "get", &PODS, Some("dev"), Some(&dev_pod.name)).ip(ip),
                );
                let q = format!("command=sh&container={app}&stdin=true&stdout=true&tty=true");
                let dur = between(rng, 30 * SEC, 15 * MIN);
                let req = Req::on(
                    p,
                    t + between(rng, 20 * MS, 100 * MS),
                    "create",
                    &PODS,
                    Some("dev"),
                    Some(&dev_pod.name),
                )
                .sub("exec")
                .query(q)
                .long_running(dur)
                .ip(ip);
                emit(sink, rng, req);
                t += dur;
            }
            80..=81 if team.prod_secret_reads => {
                let app = *pick(rng, &APPS);
                let name = format!("{app}-{}", pick(rng, &SYNCED_KEYS));
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "get", &SECRETS, Some(ENVS[PROD]), Some(&name)).ip(ip),
                );
            }
            82 => {
                let req = if human.team == 0 {
                    Req::on(p, t, "list", &NAMESPACES, None, None).query("limit=500")
                } else {
                    Req::on(p, t, "list", &NODES, None, None)
                        .query("limit=500")
                        .code(403)
                };
                emit(sink, rng, req.ip(ip));
            }
            83 => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "create", &SELFSUBJECTACCESSREVIEWS, None, None)
                        .code(201)
                        .ip(ip),
                );
            }
            84..=95 => vault_command(ctx, sink, rng, human, t, ip),
            _ => {
                emit(
                    sink,
                    rng,
                    Req::on(p, t, "list", &PODS, Some(&pod.namespace), None)
                        .query("limit=500")
                        .ip(ip),
                );
            }
        }
        if forced {
            let vt = t + between(rng, 20 * SEC, 90 * SEC);
            vault_command(ctx, sink, rng, human, vt, ip);
        }
        t += between(rng, 8 * SEC, 150 * SEC);
    }
}

fn pick_pod<'a>(w: &'a World, rng: &mut impl Rng, env: usize, app: Option<usize>) -> &'a Pod {
    let pods: Vec<&Pod> = w
        .app_pods
        .iter()
        .filter(|p| p.env == Some(env) && app.is_none_or(|a| p.app == Some(a)))
        .collect();
    pods[rng.random_range(0..pods.len())]
}

/// One interaction with Vault through the UI or CLI: capabilities check, list, read.
fn vault_command(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    human: &Human,
    t: i64,
    ip: &str,
) {
    let w = ctx.world;
    let team = &w.teams[human.team];
    let env = ENVS[*pick(rng, team.vault_envs)];
    let app = team
        .vault_app
        .map(|a| APPS[a])
        .unwrap_or_else(|| *pick(rng, &APPS));
    let key = *pick(rng, &SYNCED_KEYS);
    let id = human.vault;
    let meta = format!("secret/metadata/{env}/{app}");
    let caps = w
        .salt
        .hmac_value(json!({"paths": [format!("secret/data/{env}/{app}/{key}")]}));
    sink.push_vault(
        VaultCall::new(
            rng,
            t,
            id,
            "update",
            MountKind::Sys,
            "sys/capabilities-self",
            ip,
        )
        .req_data(caps),
    );
    if rng.random_bool(0.03) && human.team != 0 {
        let dt = t + between(rng, 50 * MS, 300 * MS);
        sink.push_vault(
            VaultCall::new(rng, dt, id, "read", MountKind::Sys, "sys/mounts", ip).denied(),
        );
        return;
    }
    let keys = w.salt.hmac_value(json!({"keys": SYNCED_KEYS}));
    let lt = t + between(rng, 200 * MS, 2 * SEC);
    sink.push_vault(VaultCall::new(rng, lt, id, "list", MountKind::Kv, meta, ip).resp_data(keys));
    let rt = lt + between(rng, 2 * SEC, 20 * SEC);
    let data = w.salt.hmac_value(
        json!({"data": {"value": format!("{env}/{app}/{key}")}, "metadata": {"version": 3}}),
    );
    sink.push_vault(
        VaultCall::new(
            rng,
            rt,
            id,
            "read",
            MountKind::Kv,
            format!("secret/data/{env}/{app}/{key}"),
            ip,
        )
        .resp_data(data),
    );
}

/// CI deploys with Helm from job pods in `ci`, on weekdays during working hours.
fn ci(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("people.ci");
    let (weekday, _) = local(ctx.start + 12 * HOUR, 0);
    if weekday >= 5 && ctx.day != 0 {
        return;
    }
    let n = poisson_count(&mut rng, ctx.scaled(14.0)).max(if ctx.day == 0 { 1 } else { 0 });
    let mut times: Vec<i64> = (0..n)
        .map(|_| ctx.start + between(&mut rng, 8 * HOUR, 21 * HOUR + 30 * MIN))
        .collect();
    times.sort_unstable();
    for (k, t) in times.into_iter().enumerate() {
        let env = match rng.random_range(0..10) {
            0..=4 => 0,
            5..=7 => 1,
            _ => PROD,
        };
        let env = if ctx.day == 0 && k == 0 { PROD } else { env };
        let app = rng.random_range(0..APPS.len());
        let rev = 100 + ctx.day * 24 + k as u32;
        pipeline(w, sink, &mut rng, env, app, rev, t);
    }
    // Now and then the pipeline installs a new workload: its service account and Secret, then
    // its pods read their own Secret within a minute (a new identity, expected).
    for _ in 0..poisson_count(&mut rng, ctx.scaled(0.7)) {
        let t = ctx.start + between(&mut rng, 9 * HOUR, 18 * HOUR);
        let env = rng.random_range(0..ENVS.len());
        let app = APPS[rng.random_range(0..APPS.len())];
        let name = format!("{app}-worker-{}", k8s_suffix(&mut rng, 4));
        new_workload(w, sink, &mut rng, ENVS[env], &name, t, ctx.end);
    }
    if rng.random_bool(0.3 * ctx.opts.scale.min(1.0)) {
        let t = ctx.start + between(&mut rng, 9 * HOUR, 17 * HOUR);
        let app = APPS[rng.random_range(0..APPS.len())];
        let name = format!("{app}-config-reader");
        let role = json!({
            "kind": "Role",
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": name, "namespace": "dev"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
        });
        let ip = World::ephemeral_ip(&mut rng);
        let req = Req::on(&w.deployer, t, "update", &ROLES, Some("dev"), Some(&name))
            .level(Level::RequestResponse)
            .request_object(role.clone())
            .response_object(role)
            .ip(&ip)
            .ua(UA_KUBECTL);
        emit(sink, &mut rng, req);
    }
}

/// A Helm install of a new workload by the CI deployer: service account, Secret, Deployment;
/// then the new pods (a service account nobody has seen) read their Secret, now and then until
/// the day ends.
fn new_workload(
    w: &World,
    sink: &mut Sink,
    rng: &mut impl Rng,
    ns: &str,
    name: &str,
    t: i64,
    end: i64,
) {
    let ip = World::ephemeral_ip(rng);
    let d = &w.deployer;
    let mut at = t;
    for (verb, res, obj) in [
        ("create", &SERVICEACCOUNTS, name.to_string()),
        ("create", &SECRETS, format!("{name}-config")),
        ("create", &SECRETS, format!("sh.helm.release.v1.{name}.v1")),
        ("create", &DEPLOYMENTS, name.to_string()),
    ] {
        at += between(rng, 50 * MS, 600 * MS);
        emit(
            sink,
            rng,
            Req::on(d, at, verb, res, Some(ns), Some(&obj))
                .code(201)
                .ip(&ip),
        );
    }
    let pod_ip = format!(
        "10.42.{}.{}",
        rng.random_range(0..6),
        rng.random_range(2..250)
    );
    let sa = crate::principal::Principal::service_account(
        ns,
        name,
        &crate::rng::uuid(rng),
        None,
        &pod_ip,
        "worker/1.0",
        &format!("RBAC: allowed by RoleBinding \"{name}\" of Role \"{name}\" to ServiceAccount \"{name}/{ns}\""),
    );
    let secret = format!("{name}-config");
    let mut at = at + between(rng, 20 * SEC, 90 * SEC);
    while at < end {
        emit(
            sink,
            rng,
            Req::on(&sa, at, "get", &SECRETS, Some(ns), Some(&secret)).ip(&pod_ip),
        );
        at += between(rng, 40 * MIN, 80 * MIN);
    }
}

fn pipeline(
    w: &World,
    sink: &mut Sink,
    rng: &mut impl Rng,
    env: usize,
    app: usize,
    rev: u32,
    t: i64,
) {
    let ns = ENVS[env];
    let name = APPS[app];
    let runner = &w.runner.principal;
    let job = format!(
        "runner-{}-project-42-concurrent-0-{}",
        k8s_suffix(rng, 8),
        k8s_suffix(rng, 5)
    );
    emit(
        sink,
        rng,
        Req::on(runner, t, "create", &PODS, Some("ci"), Some(&job)).code(201),
    );
    let mut t = t;
    for _ in 0..3 {
        t += between(rng, 2 * SEC, 6 * SEC);
        emit(
            sink,
            rng,
            Req::on(runner, t, "get", &PODS, Some("ci"), Some(&job)),
        );
    }
    let ip = World::ephemeral_ip(rng);
    let d = &w.deployer;
    t += between(rng, 20 * SEC, 90 * SEC);
    let sel = format!("labelSelector=name%3D{name}%2Cowner%3Dhelm");
    emit(
        sink,
        rng,
        Req::on(d, t, "list", &SECRETS, Some(ns), None)
            .query(sel)
            .ip(&ip),
    );
    let old = format!("sh.helm.release.v1.{name}.v{rev}");
    let new = format!("sh.helm.release.v1.{name}.v{}", rev + 1);
    t += between(rng, 100 * MS, 600 * MS);
    emit(
        sink,
        rng,
        Req::on(d, t, "get", &SECRETS, Some(ns), Some(&old)).ip(&ip),
    );
    t += between(rng, 500 * MS, 3 * SEC);
    emit(
        sink,
        rng,
        Req::on(d, t, "create", &SECRETS, Some(ns), Some(&new))
            .code(201)
            .ip(&ip),
    );
    t += between(rng, 100 * MS, 800 * MS);
    emit(
        sink,
        rng,
        Req::on(d, t, "patch", &DEPLOYMENTS, Some(ns), Some(name)).ip(&ip),
    );
    let rt = t + between(rng, 30 * MS, 300 * MS);
    rollout(w, sink, rng, env, app, rt);
    t += between(rng, 200 * MS, 900 * MS);
    emit(
        sink,
        rng,
        Req::on(d, t, "update", &SECRETS, Some(ns), Some(&old)).ip(&ip),
    );
    for _ in 0..3 {
        t += between(rng, 2 * SEC, 10 * SEC);
        emit(
            sink,
            rng,
            Req::on(d, t, "get", &DEPLOYMENTS, Some(ns), Some(name))
                .ip(&ip)
                .ua(UA_KUBECTL),
        );
    }
    t += between(rng, 5 * SEC, 30 * SEC);
    emit(
        sink,
        rng,
        Req::on(runner, t, "delete", &PODS, Some("ci"), Some(&job)),
    );
}
