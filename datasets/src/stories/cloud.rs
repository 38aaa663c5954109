//! Stories in CloudTrail.

use rand::Rng;
use serde_json::json;

use crate::aws::{record, AwsSecret, Call, Caller, Origin, PROD_ACCOUNT, SSO_PATH, SSO_POWER_USER};
use crate::labels::{Source, StoryRec};
use crate::rng::between;
use crate::schedule::DayCtx;
use crate::sink::Sink;
use crate::stories::plan::DETECTIONS;
use crate::timefmt::{MS, SEC};
use crate::world::PROD;

/// Where the leaked key is used from: a rented server, with the attacker's own tooling.
pub const LEAK_IP: &str = "185.220.101.47";
const LEAK_UA: &str = "aws-cli/2.17.18 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.11-amd64 md/distrib#kali.2024 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#secretsmanager.list-secrets";

fn emit(sink: &mut Sink, rng: &mut impl Rng, story: &mut StoryRec, call: &Call<'_>) {
    let (id, line) = record(rng, call);
    sink.push_aws(call.t, line);
    story.aws(call.t, id);
}

/// Story 20: the Jenkins job's static IAM user key, pushed to a public repository, is used
/// hours later from a rented server: it lists the secrets of the account, reads every one it
/// can, and is denied the production ones it tries by ARN.
pub fn leaked_key(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let caller = &w.aws.jenkins;
    let origin = Origin::new(LEAK_IP, LEAK_UA);
    let mut story = StoryRec::new(
        DETECTIONS[19],
        Source::Aws,
        &caller.arn(),
        "The static key of IAM user jenkins-legacy, leaked, is used from a rented server: ListSecrets, then every secret it can read, then denied production reads.",
    );
    let list = Call::new(
        t,
        caller,
        &origin,
        ("secretsmanager", "ListSecrets"),
        caller.account(),
        json!({}),
    );
    emit(sink, rng, &mut story, &list);
    let mut at = t + between(rng, 5 * SEC, 40 * SEC);
    let nonprod: Vec<&AwsSecret> = w.aws.secrets.iter().filter(|s| s.env != PROD).collect();
    for s in nonprod {
        at += between(rng, 150 * MS, 900 * MS);
        emit(
            sink,
            rng,
            &mut story,
            &Call::secret(at, caller, &origin, "GetSecretValue", s, false),
        );
    }
    for s in w.aws.secrets_of(PROD).take(4) {
        at += between(rng, 150 * MS, 900 * MS);
        let call = Call::secret(at, caller, &origin, "GetSecretValue", s, true).error(
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: secretsmanager:GetSecretValue on resource: {} because no resource-based policy allows the secretsmanager:GetSecretValue action",
                caller.arn(),
                s.arn
            ),
        );
        emit(sink, rng, &mut story, &call);
    }
    out.push(story);
}

/// Story 21: a person shares a production secret with an account outside the organization
/// through its resource policy.
pub fn shared_outside(
    ctx: &DayCtx<'_>,
    sink: &mut Sink,
    rng: &mut impl Rng,
    t: i64,
    out: &mut Vec<StoryRec>,
) {
    let w = ctx.world;
    let human = &w.humans[0];
    let created = t - between(rng, 10 * 60 * SEC, 90 * 60 * SEC);
    let caller = Caller::session(
        rng,
        PROD_ACCOUNT,
        &format!("{SSO_PATH}{SSO_POWER_USER}"),
        w.aws.role_id(SSO_POWER_USER),
        format!("{}@example.com", human.name),
        None,
        created,
    );
    let origin = Origin::new(&human.ips[0], crate::aws::UA_CLI);
    let secret = w
        .aws
        .secrets_of(PROD)
        .find(|s| s.name.ends_with("datadog-api-key"))
        .unwrap_or(&w.aws.secrets[0]);
    let mut story = StoryRec::new(
        DETECTIONS[20],
        Source::Aws,
        &caller.arn(),
        "A person grants another AWS account read access to a production secret with PutResourcePolicy.",
    );
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }],
    })
    .to_string();
    let call =
        Call::secret(t, &caller, &origin, "PutResourcePolicy", secret, false).params(json!({
            "secretId": secret.name,
            "resourcePolicy": policy,
            "blockPublicPolicy": false,
        }));
    emit(sink, rng, &mut story, &call);
    out.push(story);
}
