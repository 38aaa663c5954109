//! Routine AWS traffic: workloads reading their secrets through IRSA, external-secrets'
//! AWS provider, Parameter Store by path, the RDS rotation Lambda, the nightly Terraform plan
//! from CI, AWS Config's recorder, people in the console and the CLI, and a Jenkins job that
//! still uses a static IAM user key.
//!
//! What each sends, from its own source:
//! - external-secrets (`providers/v1/aws/secretsmanager/secretsmanager.go`): per ExternalSecret
//!   key, `GetSecretValue` with `VersionStage` AWSCURRENT, every `refreshInterval` (default 1h,
//!   `apis/externalsecrets/v1/externalsecret_types.go`).
//! - The AWS Secrets Manager caching clients keep a value for an hour by default, so a pod
//!   reads each of its secrets about hourly, with its own sessions.
//! - The RDS single-user rotation template (aws-samples/aws-secrets-manager-rotation-lambdas,
//!   `SecretsManagerRDSPostgreSQLRotationSingleUser/lambda_function.py`): `DescribeSecret` on
//!   every step; createSecret reads AWSCURRENT, tries AWSPENDING (ResourceNotFound the first
//!   time), `GetRandomPassword`, `PutSecretValue` AWSPENDING; setSecret and testSecret read
//!   AWSPENDING; finishSecret `UpdateSecretVersionStage`.
//! - terraform-provider-aws (`internal/service/secretsmanager/secret.go`, `secret_version.go`):
//!   a refresh of `aws_secretsmanager_secret` is `DescribeSecret` + `GetResourcePolicy`, of
//!   `aws_secretsmanager_secret_version` `GetSecretValue` by id and version; user agent from
//!   `internal/conns/config.go`. GitHub-hosted runners' addresses change with every job.
//! - The console calls from the browser (a browser user agent, `sessionCredentialFromConsole`):
//!   list, then a secret's page (`DescribeSecret`, `GetResourcePolicy`), then "Retrieve secret
//!   value". (The exact console sequence is not documented by AWS; this is the visible one.)
//! - The Secrets Store CSI driver's AWS provider: see `csi_mounts`.
//! - Not modelled yet: EKS Pod Identity sessions (`eks-<cluster>-<pod>-<uuid>`), Azure and GCP.

use rand::Rng;
use serde_json::json;

use crate::aws::{
    account_of, record, service_event, AwsSecret, Call, Caller, Origin, Sdk, CSI_ROLE, EKS_OIDC,
    GITHUB_OIDC, JENKINS_IP, NONPROD_ACCOUNT, PROD_ACCOUNT, SM_APPS, SSO_DEVELOPER, SSO_PATH,
    SSO_POWER_USER, UA_BOTO3, UA_CLI, UA_CONSOLE, UA_CSI, UA_GO_V2, UA_JENKINS, UA_LAMBDA,
    UA_TERRAFORM,
};
use crate::rng::{between, periodic, pick, poisson_count, uuid};
use crate::schedule::{in_work_hours, DayCtx};
use crate::sink::Sink;
use crate::timefmt::{local, DAY, HOUR, MIN, MS, SEC};
use crate::world::{Pod, World, ENVS, PROD};

/// Lifetime of an IRSA session: the SDKs refresh web-identity credentials some minutes before
/// the default one hour expires.
const SESSION_SECS: i64 = 50 * 60;
/// The AWS Secrets Manager caching clients keep a value one hour (their default TTL).
const CACHE_SECS: f64 = 3600.0;
/// external-secrets' default refreshInterval.
const ESO_REFRESH_SECS: f64 = 3600.0;
/// Hour (UTC) of the nightly Terraform plan.
const PLAN_HOUR: i64 = 2;

pub fn generate(ctx: &DayCtx<'_>, sink: &mut Sink) {
    apps(ctx, sink);
    csi_mounts(ctx, sink);
    external_secrets(ctx, sink);
    parameters(ctx, sink);
    rotation(ctx, sink);
    terraform(ctx, sink);
    config_recorder(ctx, sink);
    people(ctx, sink);
    jenkins(ctx, sink);
}

fn push(sink: &mut Sink, rng: &mut impl Rng, call: &Call<'_>) -> String {
    let (id, line) = record(rng, call);
    sink.push_aws(call.t, line);
    id
}

fn node_ip<'w>(w: &'w World, pod: &Pod) -> &'w str {
    &w.nodes[pod.node].ip
}

/// A workload's IRSA sessions over the day: a new one (new name, new key) every
/// `SESSION_SECS`, named by its SDK unless the client names them itself.
struct Sessions {
    account: &'static str,
    role: String,
    role_id: String,
    sdk: Sdk,
    fixed_name: Option<&'static str>,
    current: Option<(i64, Caller)>,
}

impl Sessions {
    fn irsa(w: &World, account: &'static str, role: &str, sdk: Sdk) -> Sessions {
        Sessions {
            account,
            role: role.to_string(),
            role_id: w.aws.role_id(role).to_string(),
            sdk,
            fixed_name: None,
            current: None,
        }
    }

    fn at(&mut self, rng: &mut impl Rng, t: i64) -> &Caller {
        let stale = self
            .current
            .as_ref()
            .is_none_or(|(since, _)| t - since > SESSION_SECS * SEC);
        if stale {
            let created = t - between(rng, 50 * MS, 400 * MS);
            let name = match self.fixed_name {
                Some(n) => n.to_string(),
                None => self.sdk.session_name(created),
            };
            let c = Caller::session(
                rng,
                self.account,
                &self.role,
                &self.role_id,
                name,
                Some(EKS_OIDC),
                created,
            );
            self.current = Some((created, c));
        }
        &self.current.as_ref().expect("session").1
    }
}

/// Application pods reading their own two secrets through the caching client (hourly), each
/// pod with its own sessions.
fn apps(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.apps");
    for (app, sdk) in SM_APPS {
        for pod in w.app_pods.iter().filter(|p| p.app == Some(app)) {
            let env = pod.env.unwrap_or(0);
            let role = format!("{}-{}-irsa", ENVS[env], crate::world::APPS[app]);
            let mut sessions = Sessions::irsa(w, account_of(env), &role, sdk);
            let origin = Origin::from_cluster(node_ip(w, pod), sdk.user_agent());
            let mine: Vec<&AwsSecret> = w
                .aws
                .secrets_of(env)
                .filter(|s| s.app == Some(app))
                .collect();
            for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(CACHE_SECS), 0.1) {
                for (i, s) in mine.iter().enumerate() {
                    let ti = t + i as i64 * between(&mut rng, 5 * MS, 60 * MS);
                    let caller = sessions.at(&mut rng, ti).clone();
                    push(
                        sink,
                        &mut rng,
                        &Call::secret(ti, &caller, &origin, "GetSecretValue", s, false),
                    );
                }
            }
        }
    }
}

/// The Secrets Store CSI driver's AWS provider mounting the prod platform secrets into the
/// notifications pods, with rotation on (`--enable-secret-rotation`, polled every 2 minutes by
/// default, kubernetes-sigs/secrets-store-csi-driver `cmd/secrets-store-csi-driver/main.go`):
/// a `GetSecretValue` at the day's first mount, then a `DescribeSecret` per secret per pod at
/// every poll (`provider/secrets_manager_provider.go` reads the value again only when the
/// version moved; here it never does), under the pod's own role.
fn csi_mounts(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.csi");
    let app = 4; // notifications
    let platform: Vec<&AwsSecret> = w.aws.secrets_of(PROD).filter(|s| s.app.is_none()).collect();
    for pod in w
        .app_pods
        .iter()
        .filter(|p| p.app == Some(app) && p.env == Some(PROD))
    {
        let mut sessions = Sessions::irsa(w, PROD_ACCOUNT, CSI_ROLE, Sdk::GoV2);
        let origin = Origin::from_cluster(node_ip(w, pod), UA_CSI);
        let mount = ctx.start + between(&mut rng, 0, 2 * MIN);
        for s in &platform {
            let caller = sessions.at(&mut rng, mount).clone();
            push(
                sink,
                &mut rng,
                &Call::secret(mount, &caller, &origin, "GetSecretValue", s, false),
            );
        }
        for t in periodic(&mut rng, mount + 2 * MIN, ctx.end, ctx.every(120.0), 0.05) {
            for (i, s) in platform.iter().enumerate() {
                let ti = t + i as i64 * between(&mut rng, 2 * MS, 20 * MS);
                let caller = sessions.at(&mut rng, ti).clone();
                push(
                    sink,
                    &mut rng,
                    &Call::secret(ti, &caller, &origin, "DescribeSecret", s, false),
                );
            }
        }
    }
}

/// external-secrets' AWS provider: every ExternalSecret of a platform secret, re-read every
/// refreshInterval by the operator's IRSA role in each account.
fn external_secrets(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.external-secrets");
    let es = &w.external_secrets;
    for account in [NONPROD_ACCOUNT, PROD_ACCOUNT] {
        let mut sessions = Sessions::irsa(w, account, "external-secrets-irsa", Sdk::GoV2);
        // The provider's JWT auth assumes the role itself with this session name.
        sessions.fixed_name = Some("external-secrets-provider-aws");
        let origin = Origin::from_cluster(node_ip(w, es), UA_GO_V2);
        let platform: Vec<&AwsSecret> = w
            .aws
            .secrets
            .iter()
            .filter(|s| s.app.is_none() && s.account() == account)
            .collect();
        for s in platform {
            for t in periodic(
                &mut rng,
                ctx.start,
                ctx.end,
                ctx.every(ESO_REFRESH_SECS),
                0.02,
            ) {
                let caller = sessions.at(&mut rng, t).clone();
                push(
                    sink,
                    &mut rng,
                    &Call::secret(t, &caller, &origin, "GetSecretValue", s, false).params(json!({
                        "secretId": s.name,
                        "versionStage": "AWSCURRENT",
                    })),
                );
            }
        }
    }
}

/// Apps that read their configuration from Parameter Store, by path with decryption, every
/// 15 minutes (as external-secrets' `find` by path and most config libraries do).
fn parameters(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.parameters");
    for &(env, app, ref path) in &w.aws.ssm_paths {
        let role = format!("{}-{}-irsa", ENVS[env], crate::world::APPS[app]);
        for pod in w
            .app_pods
            .iter()
            .filter(|p| p.app == Some(app) && p.env == Some(env))
        {
            let mut sessions = Sessions::irsa(w, account_of(env), &role, Sdk::Python);
            let origin = Origin::from_cluster(node_ip(w, pod), UA_BOTO3);
            for t in periodic(&mut rng, ctx.start, ctx.end, ctx.every(900.0), 0.2) {
                let caller = sessions.at(&mut rng, t).clone();
                let call = Call::new(
                    t,
                    &caller,
                    &origin,
                    ("ssm", "GetParametersByPath"),
                    account_of(env),
                    json!({"path": path, "recursive": true, "withDecryption": true}),
                );
                push(sink, &mut rng, &call);
            }
        }
    }
}

/// The RDS single-user rotation Lambda: each rotated secret on its own day of the week, the
/// four steps as four invocations (`createSecret`, `setSecret`, `testSecret`, `finishSecret`).
fn rotation(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.rotation");
    let weekday = local(ctx.start, 0).0 as usize;
    for (i, s) in w.aws.secrets.iter().filter(|s| s.rotated).enumerate() {
        if i % 7 != weekday {
            continue;
        }
        let t0 = ctx.start + between(&mut rng, 3 * HOUR, 7 * HOUR);
        rotate(w, sink, &mut rng, s, t0);
    }
}

/// One rotation of `s` starting at `t0`; returns the eventIDs written.
pub fn rotate(
    w: &World,
    sink: &mut Sink,
    rng: &mut impl Rng,
    s: &AwsSecret,
    t0: i64,
) -> Vec<String> {
    let mut ids = Vec::new();
    let (id, line) = service_event(rng, t0, "RotationStarted", s);
    sink.push_aws(t0, line);
    ids.push(id);
    let account = s.account();
    let role = "SecretsManagerRDSRotation-role";
    let function = format!(
        "SecretsManagerRDSPostgreSQLRotationSingleUser-{}",
        ENVS[s.env]
    );
    let caller = Caller::session(rng, account, role, w.aws.role_id(role), function, None, t0);
    let ip = if s.env == PROD {
        format!("10.0.2.{}", rng.random_range(20..240))
    } else {
        crate::aws::NONPROD_NAT_IP.to_string()
    };
    let mut origin = Origin::new(&ip, UA_LAMBDA);
    if s.env == PROD {
        origin.vpce = Some(crate::aws::PROD_VPCE);
    }
    let token = uuid(rng);
    let current = uuid(rng);
    let arn = s.arn.as_str();
    let not_yet = (
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret value for VersionStage: AWSPENDING"
            .to_string(),
    );
    let pending = json!({"secretId": arn, "versionId": token, "versionStage": "AWSPENDING"});
    let current_stage = json!({"secretId": arn, "versionStage": "AWSCURRENT"});
    let describe = json!({"secretId": arn});
    // (a new invocation starts, call, parameters, error)
    let steps = [
        // createSecret
        (true, "DescribeSecret", describe.clone(), None),
        (false, "GetSecretValue", current_stage.clone(), None),
        (false, "GetSecretValue", pending.clone(), Some(not_yet)),
        (
            false,
            "GetRandomPassword",
            json!({"excludeCharacters": ":/@\"'\\", "passwordLength": 32}),
            None,
        ),
        (
            false,
            "PutSecretValue",
            json!({"secretId": arn, "clientRequestToken": token, "secretString": "HIDDEN_DUE_TO_SECURITY_REASONS", "versionStages": ["AWSPENDING"]}),
            None,
        ),
        // setSecret
        (true, "DescribeSecret", describe.clone(), None),
        (false, "GetSecretValue", pending.clone(), None),
        (false, "GetSecretValue", current_stage, None),
        // testSecret
        (true, "DescribeSecret", describe.clone(), None),
        (false, "GetSecretValue", pending, None),
        // finishSecret
        (true, "DescribeSecret", describe, None),
        (
            false,
            "UpdateSecretVersionStage",
            json!({"secretId": arn, "versionStage": "AWSCURRENT", "moveToVersionId": token, "removeFromVersionId": current}),
            None,
        ),
    ];
    let mut t = t0;
    for (invocation, name, params, err) in steps {
        t += if invocation {
            between(rng, SEC, 3 * SEC)
        } else {
            between(rng, 40 * MS, 400 * MS)
        };
        let mut c = Call::secret(t, &caller, &origin, name, s, true).params(params);
        if let Some((code, msg)) = err {
            c = c.error(code, msg);
        }
        ids.push(push(sink, rng, &c));
    }
    let t_end = t + between(rng, 200 * MS, 2 * SEC);
    let (id, line) = service_event(rng, t_end, "RotationSucceeded", s);
    sink.push_aws(t_end, line);
    ids.push(id);
    ids
}

/// The nightly `terraform plan` of each account from GitHub Actions (OIDC): it refreshes every
/// secret it manages (DescribeSecret, GetResourcePolicy) and the versions it manages
/// (GetSecretValue by ARN), from whichever hosted runner the job got.
fn terraform(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.terraform");
    for account in [NONPROD_ACCOUNT, PROD_ACCOUNT] {
        let t0 = ctx.start + PLAN_HOUR * HOUR + between(&mut rng, 0, 6 * MIN);
        let role = "github-terraform-plan";
        let caller = Caller::session(
            &mut rng,
            account,
            role,
            w.aws.role_id(role),
            "GitHubActions".into(),
            Some(GITHUB_OIDC),
            t0,
        );
        // GitHub-hosted runners run in Azure: a different public address every night.
        let ip = format!(
            "20.{}.{}.{}",
            rng.random_range(36..240),
            rng.random_range(0..256),
            rng.random_range(1..255)
        );
        let origin = Origin::new(&ip, UA_TERRAFORM);
        let mut t = t0 + between(&mut rng, 20 * SEC, 60 * SEC);
        let managed: Vec<&AwsSecret> = w
            .aws
            .secrets
            .iter()
            .filter(|s| s.account() == account)
            .collect();
        for s in managed {
            t += between(&mut rng, 30 * MS, 250 * MS);
            push(
                sink,
                &mut rng,
                &Call::secret(t, &caller, &origin, "DescribeSecret", s, true),
            );
            t += between(&mut rng, 10 * MS, 120 * MS);
            push(
                sink,
                &mut rng,
                &Call::secret(t, &caller, &origin, "GetResourcePolicy", s, true),
            );
            // Versions of the secrets whose values Terraform writes (not the rotated ones).
            if !s.rotated {
                t += between(&mut rng, 10 * MS, 120 * MS);
                let version = uuid(&mut rng);
                push(
                    sink,
                    &mut rng,
                    &Call::secret(t, &caller, &origin, "GetSecretValue", s, true)
                        .params(json!({"secretId": s.arn, "versionId": version})),
                );
            }
        }
    }
}

/// AWS Config's recorder describing the secrets of each account once a day (its
/// service-linked role, called from the service's own address).
fn config_recorder(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.config");
    for account in [NONPROD_ACCOUNT, PROD_ACCOUNT] {
        let t0 = ctx.start + between(&mut rng, 0, DAY - HOUR);
        let role = "aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig";
        let caller = Caller::session(
            &mut rng,
            account,
            role,
            w.aws.role_id(role),
            "AWSConfig-Describe".into(),
            None,
            t0,
        );
        let origin = Origin::new("config.amazonaws.com", "config.amazonaws.com");
        let list = Call::new(
            t0,
            &caller,
            &origin,
            ("secretsmanager", "ListSecrets"),
            account,
            json!({"maxResults": 100}),
        );
        push(sink, &mut rng, &list);
        let mut t = t0;
        for s in w.aws.secrets.iter().filter(|s| s.account() == account) {
            t += between(&mut rng, 50 * MS, 400 * MS);
            push(
                sink,
                &mut rng,
                &Call::secret(t, &caller, &origin, "DescribeSecret", s, true),
            );
        }
    }
}

/// People through IAM Identity Center: the SRE team (power users in both accounts) and the
/// dev team (developers in the non-production account), in the console and the CLI.
fn people(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    for human in &w.humans {
        let team = &w.teams[human.team];
        let (role, accounts): (&str, &[&'static str]) = match team.name {
            "sre" => (SSO_POWER_USER, &[NONPROD_ACCOUNT, PROD_ACCOUNT]),
            "dev-team" => (SSO_DEVELOPER, &[NONPROD_ACCOUNT]),
            _ => continue,
        };
        let mut rng = ctx.rng(&format!("aws.people.{}", human.name));
        for nine in crate::benign::people::workday_starts(ctx, team.timezone) {
            for _ in 0..poisson_count(&mut rng, ctx.scaled(1.5)) {
                let t0 = nine + between(&mut rng, 15 * MIN, 8 * HOUR);
                if t0 < ctx.start || t0 >= ctx.end || !in_work_hours(t0, team.timezone) {
                    continue;
                }
                let account = *pick(&mut rng, accounts);
                let env = if account == PROD_ACCOUNT {
                    PROD
                } else {
                    rng.random_range(0..2)
                };
                let session = format!("{}@example.com", human.name);
                let created = t0 - between(&mut rng, 0, 2 * HOUR);
                let caller = Caller::session(
                    &mut rng,
                    account,
                    &format!("{SSO_PATH}{role}"),
                    w.aws.role_id(role),
                    session,
                    None,
                    created,
                );
                let ip = pick(&mut rng, &human.ips).clone();
                let secrets: Vec<&AwsSecret> = w.aws.secrets_of(env).collect();
                let s = *pick(&mut rng, &secrets);
                if rng.random_bool(0.6) {
                    console(sink, &mut rng, &caller, &ip, account, s, t0);
                } else {
                    let origin = Origin::new(&ip, UA_CLI);
                    push(
                        sink,
                        &mut rng,
                        &Call::secret(t0, &caller, &origin, "GetSecretValue", s, false),
                    );
                }
            }
        }
    }
}

/// Opening the Secrets Manager console, a secret's page, and (sometimes) "Retrieve secret value".
fn console(
    sink: &mut Sink,
    rng: &mut impl Rng,
    caller: &Caller,
    ip: &str,
    account: &'static str,
    s: &AwsSecret,
    t0: i64,
) {
    let mut origin = Origin::new(ip, UA_CONSOLE);
    origin.console = true;
    let list = Call::new(
        t0,
        caller,
        &origin,
        ("secretsmanager", "ListSecrets"),
        account,
        json!({"maxResults": 100, "sortOrder": "asc", "includePlannedDeletion": false}),
    );
    push(sink, rng, &list);
    let mut t = t0 + between(rng, 3 * SEC, 40 * SEC);
    push(
        sink,
        rng,
        &Call::secret(t, caller, &origin, "DescribeSecret", s, true),
    );
    t += between(rng, 100 * MS, 600 * MS);
    push(
        sink,
        rng,
        &Call::secret(t, caller, &origin, "GetResourcePolicy", s, true),
    );
    if rng.random_bool(0.5) {
        t += between(rng, 2 * SEC, 30 * SEC);
        push(
            sink,
            rng,
            &Call::secret(t, caller, &origin, "GetSecretValue", s, true),
        );
    }
}

/// A nightly Jenkins job on a VM outside the cluster that reads two staging secrets with the
/// long-term key of IAM user `jenkins-legacy`.
fn jenkins(ctx: &DayCtx<'_>, sink: &mut Sink) {
    let w = ctx.world;
    let mut rng = ctx.rng("aws.jenkins");
    let origin = Origin::new(JENKINS_IP, UA_JENKINS);
    let t0 = ctx.start + 3 * HOUR + between(&mut rng, 0, 20 * MIN);
    let mut t = t0;
    for s in w
        .aws
        .secrets_of(1)
        .filter(|s| s.name.ends_with("/api-token"))
    {
        t += between(&mut rng, 300 * MS, 2 * SEC);
        let call = Call::secret(t, &w.aws.jenkins, &origin, "GetSecretValue", s, false);
        push(sink, &mut rng, &call);
    }
}
