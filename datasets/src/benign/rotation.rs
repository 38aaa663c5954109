//! Secret rotation chains (rotator write, external-secrets sync, rollout restart) and rollouts.

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::benign::workloads::{kv_read, secret_fields};
use crate::k8s::{emit, Req, DEPLOYMENTS, EXTERNALSECRETS, PODS, REPLICASETS, SECRETS};
use crate::principal::Principal;
use crate::rng::{between, k8s_suffix};
use crate::schedule::{DayCtx, Rotation};
use crate::sink::Sink;
use crate::timefmt::{MIN, MS, SEC};
use crate::vault::{kv_write_data, VaultCall};
use crate::vault_ident::MountKind;
use crate::world::{
    World, APPS, ENVS, MOUNTED_KEYS, NODE_COUNT, PROD, PULL_SECRET, REPLICAS, UA_KUBECTL,
};

/// Where the rotator job runs (a CronJob pod in `ci`).
pub const ROTATOR_IP: &str = "10.42.6.61";

pub fn generate(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let mut rng = ctx.rng("rotation");
    for r in ctx.rotations.between(ctx.start, ctx.end) {
        if !r.story {
            sink.push_vault(rotator_write(ctx.world, &mut rng, r));
        }
        sync_and_restart(ctx, sink, &mut rng, r);
    }
}

/// The rotator's KV write of a new version.
pub fn rotator_write(world: &World, rng: &mut impl Rng, r: &Rotation) -> VaultCall {
    let idx = world.sync_index(PROD, r.app, r.key);
    let fields: Map<String, Value> = secret_fields(world, idx, r.version)
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    let req = world
        .salt
        .hmac_value(json!({"data": fields, "options": {"cas": r.version - 1}}));
    VaultCall::new(
        rng,
        r.t,
        world.rotator_ident,
        "update",
        MountKind::Kv,
        world.sync[idx].vault_path.clone(),
        ROTATOR_IP,
    )
    .req_data(req)
    .resp_data(kv_write_data(world, r.version, r.t))
}

fn sync_and_restart(ctx: &DayCtx<'_>, sink: &mut Sink, rng: &mut impl Rng, r: &Rotation) {
    let w = ctx.world;
    let es = &w.external_secrets;
    let idx = w.sync_index(PROD, r.app, r.key);
    let m = &w.sync[idx];
    let read_t = r.sync_t - between(rng, 150 * MS, 900 * MS);
    sink.push_vault(kv_read(ctx, rng, read_t, w.es_ident, idx, &es.ip));
    emit(
        sink,
        rng,
        Req::on(
            &es.principal,
            r.sync_t,
            "update",
            &SECRETS,
            Some(m.namespace),
            Some(&m.secret),
        ),
    );
    let t = r.sync_t + between(rng, 20 * MS, 90 * MS);
    emit(
        sink,
        rng,
        Req::on(
            &es.principal,
            t,
            "update",
            &EXTERNALSECRETS,
            Some(m.namespace),
            Some(&m.secret),
        )
        .sub("status"),
    );
    let restart_t = r.sync_t + between(rng, 2 * MIN, 12 * MIN);
    let ip = World::ephemeral_ip(rng);
    let req = Req::on(
        &w.deployer,
        restart_t,
        "patch",
        &DEPLOYMENTS,
        Some(ENVS[PROD]),
        Some(APPS[r.app]),
    )
    .ip(&ip)
    .ua(UA_KUBECTL);
    emit(sink, rng, req);
    let rt = restart_t + between(rng, 30 * MS, 300 * MS);
    rollout(w, sink, rng, PROD, r.app, rt);
}

/// What the controllers, scheduler and kubelets do after a Deployment changes: a new ReplicaSet,
/// new pods bound to nodes whose kubelets fetch the pods' Secrets, old pods deleted.
pub fn rollout(w: &World, sink: &mut Sink, rng: &mut impl Rng, env: usize, app: usize, t: i64) {
    let ns = ENVS[env];
    let name = APPS[app];
    let [deploy_ctl, rs_ctl, _] = [&w.controllers[0], &w.controllers[1], &w.controllers[2]];
    let rs = format!("{name}-{}", k8s_suffix(rng, 10));
    emit(
        sink,
        rng,
        Req::on(deploy_ctl, t, "create", &REPLICASETS, Some(ns), Some(&rs)).code(201),
    );
    let t1 = t + between(rng, 10 * MS, 60 * MS);
    emit(
        sink,
        rng,
        Req::on(deploy_ctl, t1, "update", &DEPLOYMENTS, Some(ns), Some(name)).sub("status"),
    );
    let mut secrets: Vec<String> = MOUNTED_KEYS.iter().map(|k| format!("{name}-{k}")).collect();
    secrets.push(PULL_SECRET.to_string());
    for i in 0..REPLICAS[env] {
        let pt = t1 + i as i64 * between(rng, 5 * SEC, 20 * SEC) + between(rng, 50 * MS, 400 * MS);
        let pod = format!("{rs}-{}", k8s_suffix(rng, 5));
        emit(
            sink,
            rng,
            Req::on(rs_ctl, pt, "create", &PODS, Some(ns), Some(&pod)).code(201),
        );
        let bt = pt + between(rng, 5 * MS, 50 * MS);
        emit(
            sink,
            rng,
            Req::on(&w.scheduler, bt, "create", &PODS, Some(ns), Some(&pod))
                .sub("binding")
                .code(201),
        );
        let node: &Principal = &w.nodes[rng.random_range(0..NODE_COUNT)].principal;
        let mut kt = bt + between(rng, 300 * MS, 2 * SEC);
        for s in &secrets {
            emit(
                sink,
                rng,
                Req::on(node, kt, "get", &SECRETS, Some(ns), Some(s)),
            );
            kt += between(rng, 2 * MS, 30 * MS);
        }
        kt += between(rng, 3 * SEC, 15 * SEC);
        emit(
            sink,
            rng,
            Req::on(node, kt, "patch", &PODS, Some(ns), Some(&pod)).sub("status"),
        );
        let old = format!("{name}-{}-{}", k8s_suffix(rng, 10), k8s_suffix(rng, 5));
        let dt = kt + between(rng, SEC, 5 * SEC);
        emit(
            sink,
            rng,
            Req::on(rs_ctl, dt, "delete", &PODS, Some(ns), Some(&old)),
        );
    }
}
