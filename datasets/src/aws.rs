//! The AWS side of the world: two accounts (prod, and dev + staging), their Secrets Manager
//! secrets and Parameter Store parameters, the identities that call them, and CloudTrail
//! records as a trail writes them (one record per line, as EventBridge, a CloudWatch Logs
//! subscription or a Vector/Fluent Bit shipper hands them on).
//!
//! Sources of the shapes (read for this module, not copied):
//! - Record: AWS CloudTrail User Guide, "CloudTrail record contents" (`vpcEndpointId`,
//!   `vpcEndpointAccountId` from event version 1.09, `sessionCredentialFromConsole`) and
//!   "userIdentity element" (`AssumedRole` with `sessionContext.sessionIssuer`,
//!   `attributes.mfaAuthenticated`, `webIdFederationData`; an `IAMUser`'s long-term `AKIA` key
//!   has no `sessionContext`; session keys start with `ASIA`). Secrets Manager User Guide, "Log
//!   AWS Secrets Manager events with AWS CloudTrail": `requestParameters.secretId` is what the
//!   caller passed (name or ARN), `responseElements` is null for reads, rotation is told by
//!   `AwsServiceEvent`s without an identity type, `invokedBy` secretsmanager.amazonaws.com.
//! - Session names: aws-sdk-go-v2 `credentials/stscreds/web_identity_provider.go` (Unix
//!   nanoseconds when `AWS_ROLE_SESSION_NAME` is unset, which the EKS pod-identity webhook does
//!   not set); botocore `credentials.py` (`botocore-session-<Unix seconds>`);
//!   aws-actions/configure-aws-credentials `action.yml` (`GitHubActions`); external-secrets
//!   `providers/v1/aws/auth/auth.go` (`external-secrets-provider-aws` with JWT auth); a Lambda
//!   execution role's session is named after the function.
//! - Identity Center: roles `AWSReservedSSO_<permission set>_<16 hex>` under the path
//!   `aws-reserved/sso.amazonaws.com/<region>/`, the user name as session name,
//!   `mfaAuthenticated` "false" (the IdP's MFA is not the session's).
//! - Through an interface VPC endpoint the caller's private address is recorded (CloudTrail
//!   and KMS developer guides' endpoint samples); through a NAT gateway, its public address.

use rand::Rng;
use serde_json::{json, Value};

use crate::rng::{alnum, string_from, uuid};
use crate::timefmt::{seconds, SEC};
use crate::world::{APPS, ENVS, PROD};

pub const REGION: &str = "eu-west-1";
/// Account of production (the prod namespace's workloads and secrets).
pub const PROD_ACCOUNT: &str = "210987654321";
/// Account of dev and staging.
pub const NONPROD_ACCOUNT: &str = "310987654321";
/// The cluster's IAM OIDC provider (IRSA), registered in both accounts.
pub const EKS_OIDC: &str = "oidc.eks.eu-west-1.amazonaws.com/id/5C2B8F0E61D94A7B3E1F09C8D7A6B5E4";
/// GitHub Actions' OIDC provider (aws-actions/configure-aws-credentials).
pub const GITHUB_OIDC: &str = "token.actions.githubusercontent.com";
/// Public address of the NAT gateway of the non-production VPC (no VPC endpoint there).
pub const NONPROD_NAT_IP: &str = "34.246.17.201";
/// The VPC interface endpoint for Secrets Manager and SSM in the production VPC.
pub const PROD_VPCE: &str = "vpce-0a1b2c3d4e5f60718";
/// Identity Center permission-set roles (`AWSReservedSSO_<set>_<hex>`), under the path
/// `aws-reserved/sso.amazonaws.com/<region>/`.
pub const SSO_PATH: &str = "aws-reserved/sso.amazonaws.com/eu-west-1/";
pub const SSO_POWER_USER: &str = "AWSReservedSSO_PowerUserAccess_6a1f3c9e2b7d4058";
pub const SSO_DEVELOPER: &str = "AWSReservedSSO_DeveloperAccess_91c4e7a2d3b85f60";
/// The Jenkins host that still uses a static IAM user key.
pub const JENKINS_IP: &str = "192.0.2.50";

/// Apps with secrets in Secrets Manager (indices into `APPS`), and their language's SDK.
pub const SM_APPS: [(usize, Sdk); 3] = [(0, Sdk::GoV2), (1, Sdk::Python), (3, Sdk::Python)];
/// Apps reading Parameter Store by path (indices into `APPS`).
pub const SSM_APPS: [usize; 2] = [2, 5];
/// Secrets of each app in Secrets Manager: `<env>/<app>/<key>`.
pub const SM_KEYS: [&str; 2] = ["rds-credentials", "api-token"];
/// Role of the prod notifications pods, whose platform secrets the Secrets Store CSI driver's
/// AWS provider mounts.
pub const CSI_ROLE: &str = "prod-notifications-irsa";
/// The provider's user agent: the SDK's with the provider's app id
/// (secrets-store-csi-driver-provider-aws `server/server.go` `appID()`).
pub const UA_CSI: &str = "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/secretsmanager#1.34.7 app/secrets-store-csi-driver-provider-aws-1.0.r2-80-g5b3b4a5";
/// Secrets shared by the environment's platform: `<env>/platform/<name>`.
pub const SHARED: [&str; 3] = ["datadog-api-key", "slack-webhook", "sentry-dsn"];

pub const UA_GO_V2: &str = "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/secretsmanager#1.34.7 m/E,g";
pub const UA_BOTO3: &str = "Boto3/1.35.80 md/Botocore#1.35.80 ua/2.0 os/linux#6.1.115 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.80";
pub const UA_LAMBDA: &str = "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.145";
pub const UA_TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/secretsmanager#1.34.7";
pub const UA_CLI: &str = "aws-cli/2.22.12 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#secretsmanager.get-secret-value";
/// The console calls Secrets Manager from the browser session: the browser's user agent
/// (Elastic's `credential_access_new_terms_secretsmanager_getsecretvalue` rule excludes
/// browser agents for this reason).
pub const UA_CONSOLE: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
pub const UA_JENKINS: &str = "aws-cli/1.33.44 md/Botocore#1.34.162 ua/2.0 os/linux#5.15.0-126-generic md/arch#x86_64 lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.34.162";

/// An application's AWS SDK: it decides the user agent and the default web-identity session
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    /// aws-sdk-go-v2: session named by the Unix time in nanoseconds.
    GoV2,
    /// botocore: `botocore-session-<Unix seconds>`.
    Python,
}

impl Sdk {
    pub fn user_agent(self) -> &'static str {
        match self {
            Sdk::GoV2 => UA_GO_V2,
            Sdk::Python => UA_BOTO3,
        }
    }

    pub fn session_name(self, t: i64) -> String {
        match self {
            Sdk::GoV2 => t.to_string(),
            Sdk::Python => format!("botocore-session-{}", t / SEC),
        }
    }
}

/// The account of an environment (index into `ENVS`).
pub fn account_of(env: usize) -> &'static str {
    if env == PROD {
        PROD_ACCOUNT
    } else {
        NONPROD_ACCOUNT
    }
}

/// One Secrets Manager secret.
#[derive(Debug, Clone)]
pub struct AwsSecret {
    pub env: usize,
    /// `<env>/<app or platform>/<key>`.
    pub name: String,
    /// The full ARN, with the six random characters Secrets Manager appends.
    pub arn: String,
    /// Rotated by the RDS rotation Lambda.
    pub rotated: bool,
    /// Index into `APPS` of the app that reads it; `None` for platform secrets.
    pub app: Option<usize>,
}

impl AwsSecret {
    pub fn account(&self) -> &'static str {
        account_of(self.env)
    }
}

/// A caller as CloudTrail's `userIdentity` describes it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A role session (IRSA, Lambda, GitHub OIDC, Identity Center).
    Session {
        account: &'static str,
        role: String,
        role_id: String,
        session: String,
        key: String,
        web_identity: Option<String>,
        created: i64,
    },
    /// An IAM user's long-term access key.
    User {
        account: &'static str,
        user: String,
        user_id: String,
        key: String,
    },
}

fn key_id(rng: &mut impl Rng, prefix: &str) -> String {
    format!(
        "{prefix}{}",
        string_from(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    )
}

/// A stable unique id of an IAM role or user (`AROA`/`AIDA` and 17 characters).
pub fn unique_id(rng: &mut impl Rng, prefix: &str) -> String {
    format!(
        "{prefix}{}",
        string_from(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)
    )
}

impl Caller {
    /// A new session of a role: a fresh `ASIA` key per session; `web_identity` is the host of
    /// the OIDC provider it was assumed through, if any.
    pub fn session(
        rng: &mut impl Rng,
        account: &'static str,
        role: &str,
        role_id: &str,
        session: String,
        web_identity: Option<&str>,
        created: i64,
    ) -> Caller {
        Caller::Session {
            account,
            role: role.to_string(),
            role_id: role_id.to_string(),
            session,
            key: key_id(rng, "ASIA"),
            web_identity: web_identity
                .map(|host| format!("arn:aws:iam::{account}:oidc-provider/{host}")),
            created,
        }
    }

    /// The `userIdentity` element.
    pub fn identity(&self) -> Value {
        match self {
            Caller::Session {
                account,
                role,
                role_id,
                session,
                key,
                web_identity,
                created,
            } => {
                let mut ctx = json!({
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": role_id,
                        "arn": format!("arn:aws:iam::{account}:role/{role}"),
                        "accountId": account,
                        "userName": role.rsplit('/').next().unwrap_or(role),
                    },
                    "attributes": {
                        "creationDate": seconds(*created),
                        "mfaAuthenticated": "false",
                    },
                });
                // Sessions not from a web identity carry an empty element.
                ctx["webIdFederationData"] = match web_identity {
                    Some(p) => json!({"federatedProvider": p, "attributes": {}}),
                    None => json!({}),
                };
                let role_leaf = role.rsplit('/').next().unwrap_or(role);
                json!({
                    "type": "AssumedRole",
                    "principalId": format!("{role_id}:{session}"),
                    "arn": format!("arn:aws:sts::{account}:assumed-role/{role_leaf}/{session}"),
                    "accountId": account,
                    "accessKeyId": key,
                    "sessionContext": ctx,
                })
            }
            Caller::User {
                account,
                user,
                user_id,
                key,
            } => json!({
                "type": "IAMUser",
                "principalId": user_id,
                "arn": format!("arn:aws:iam::{account}:user/{user}"),
                "accountId": account,
                "accessKeyId": key,
                "userName": user,
            }),
        }
    }

    pub fn account(&self) -> &'static str {
        match self {
            Caller::Session { account, .. } | Caller::User { account, .. } => account,
        }
    }

    /// Name as the label files and stories give it.
    pub fn arn(&self) -> String {
        match self {
            Caller::Session {
                account,
                role,
                session,
                ..
            } => {
                let leaf = role.rsplit('/').next().unwrap_or(role);
                format!("arn:aws:sts::{account}:assumed-role/{leaf}/{session}")
            }
            Caller::User { account, user, .. } => format!("arn:aws:iam::{account}:user/{user}"),
        }
    }
}

/// Where a call came from: the address CloudTrail records and the endpoint it went through.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
    pub vpce: Option<&'static str>,
    pub console: bool,
}

impl Origin {
    pub fn new(ip: &str, user_agent: &str) -> Origin {
        Origin {
            ip: ip.to_string(),
            user_agent: user_agent.to_string(),
            vpce: None,
            console: false,
        }
    }

    /// A workload in the cluster: the cluster runs in the production VPC, whose interface
    /// endpoint carries every call of its pods (to either account): CloudTrail records the
    /// node's private address (the CNI SNATs pod traffic) and the endpoint.
    pub fn from_cluster(node_ip: &str, user_agent: &str) -> Origin {
        Origin {
            ip: node_ip.to_string(),
            user_agent: user_agent.to_string(),
            vpce: Some(PROD_VPCE),
            console: false,
        }
    }
}

/// One API call to record.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub t: i64,
    pub caller: &'a Caller,
    pub origin: &'a Origin,
    /// `secretsmanager` or `ssm`.
    pub service: &'static str,
    pub name: &'static str,
    pub params: Value,
    /// The account whose resource is called (the caller's for same-account calls).
    pub account: &'static str,
    pub resources: Value,
    pub error: Option<(&'static str, String)>,
    pub read_only: bool,
}

impl<'a> Call<'a> {
    /// A call of `service` in `account` with its `requestParameters`.
    pub fn new(
        t: i64,
        caller: &'a Caller,
        origin: &'a Origin,
        (service, name): (&'static str, &'static str),
        account: &'static str,
        params: Value,
    ) -> Call<'a> {
        Call {
            t,
            caller,
            origin,
            service,
            name,
            params,
            account,
            resources: Value::Null,
            error: None,
            read_only: is_read_only(name),
        }
    }

    /// A Secrets Manager call on one secret, by name or by ARN as the caller passed it.
    pub fn secret(
        t: i64,
        caller: &'a Caller,
        origin: &'a Origin,
        name: &'static str,
        secret: &AwsSecret,
        by_arn: bool,
    ) -> Call<'a> {
        let id = if by_arn { &secret.arn } else { &secret.name };
        Call::new(
            t,
            caller,
            origin,
            ("secretsmanager", name),
            secret.account(),
            json!({"secretId": id}),
        )
    }

    pub fn params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }

    pub fn error(mut self, code: &'static str, message: String) -> Self {
        self.error = Some((code, message));
        self
    }
}

fn is_read_only(name: &str) -> bool {
    name.starts_with("Get")
        || name.starts_with("List")
        || name.starts_with("Describe")
        || name.starts_with("BatchGet")
}

/// The CloudTrail record of a call; returns (eventID, line).
pub fn record(rng: &mut impl Rng, c: &Call<'_>) -> (String, String) {
    let event_id = uuid(rng);
    let host = format!("{}.{REGION}.amazonaws.com", c.service);
    let mut rec = json!({
        "eventVersion": "1.09",
        "userIdentity": c.caller.identity(),
        "eventTime": seconds(c.t),
        "eventSource": format!("{}.amazonaws.com", c.service),
        "eventName": c.name,
        "awsRegion": REGION,
        "sourceIPAddress": c.origin.ip,
        "userAgent": c.origin.user_agent,
        "requestParameters": c.params,
        "responseElements": Value::Null,
        "requestID": uuid(rng),
        "eventID": event_id,
        "readOnly": c.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": c.account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host,
        },
    });
    let m = rec.as_object_mut().expect("object");
    if let Some((code, message)) = &c.error {
        m.insert("errorCode".into(), json!(code));
        m.insert("errorMessage".into(), json!(message));
    }
    if !c.resources.is_null() {
        m.insert("resources".into(), c.resources.clone());
    }
    if let Some(v) = c.origin.vpce {
        m.insert("vpcEndpointId".into(), json!(v));
        m.insert("vpcEndpointAccountId".into(), json!(PROD_ACCOUNT));
    }
    if c.origin.console {
        m.insert("sessionCredentialFromConsole".into(), json!("true"));
    }
    (event_id, rec.to_string())
}

/// A Secrets Manager service event (rotation steps), as the service writes it.
pub fn service_event(
    rng: &mut impl Rng,
    t: i64,
    name: &str,
    secret: &AwsSecret,
) -> (String, String) {
    let event_id = uuid(rng);
    let rec = json!({
        "eventVersion": "1.09",
        "userIdentity": {"accountId": secret.account(), "invokedBy": "secretsmanager.amazonaws.com"},
        "eventTime": seconds(t),
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "secretsmanager.amazonaws.com",
        "userAgent": "secretsmanager.amazonaws.com",
        "requestParameters": Value::Null,
        "responseElements": Value::Null,
        "additionalEventData": {"SecretId": secret.arn},
        "requestID": format!("Rotation-{}-{}", secret.arn, uuid(rng)),
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": secret.account(),
        "eventCategory": "Management",
    });
    (event_id, rec.to_string())
}

/// Everything of the AWS world that stays the same all dataset long.
#[derive(Debug, Clone)]
pub struct AwsWorld {
    pub secrets: Vec<AwsSecret>,
    /// Role unique ids by role name.
    pub role_ids: Vec<(String, String)>,
    /// The Jenkins IAM user's key (nonprod).
    pub jenkins: Caller,
    /// Parameter Store paths of the SSM apps: `/<env>/<app>/`.
    pub ssm_paths: Vec<(usize, usize, String)>,
}

impl AwsWorld {
    pub fn build(rng: &mut impl Rng) -> AwsWorld {
        let mut secrets = Vec::new();
        for (env, env_name) in ENVS.iter().enumerate() {
            let mut add = |name: String, rotated: bool, app: Option<usize>| {
                let arn = format!(
                    "arn:aws:secretsmanager:{REGION}:{}:secret:{name}-{}",
                    account_of(env),
                    alnum(rng, 6)
                );
                secrets.push(AwsSecret {
                    env,
                    name,
                    arn,
                    rotated,
                    app,
                });
            };
            for (app, _) in SM_APPS {
                for key in SM_KEYS {
                    add(
                        format!("{env_name}/{}/{key}", APPS[app]),
                        key == "rds-credentials",
                        Some(app),
                    );
                }
            }
            for s in SHARED {
                add(format!("{env_name}/platform/{s}"), false, None);
            }
        }
        let mut role_ids = Vec::new();
        for name in role_names() {
            role_ids.push((name, unique_id(rng, "AROA")));
        }
        let jenkins = Caller::User {
            account: NONPROD_ACCOUNT,
            user: "jenkins-legacy".into(),
            user_id: unique_id(rng, "AIDA"),
            key: key_id(rng, "AKIA"),
        };
        let ssm_paths = (0..ENVS.len())
            .flat_map(|env| {
                SSM_APPS.map(|app| (env, app, format!("/{}/{}/", ENVS[env], APPS[app])))
            })
            .collect();
        AwsWorld {
            secrets,
            role_ids,
            jenkins,
            ssm_paths,
        }
    }

    pub fn role_id(&self, role: &str) -> &str {
        self.role_ids
            .iter()
            .find(|(n, _)| n == role)
            .map(|(_, id)| id.as_str())
            .unwrap_or("AROAUNKNOWNROLE0000000")
    }

    /// Secrets of an environment.
    pub fn secrets_of(&self, env: usize) -> impl Iterator<Item = &AwsSecret> {
        self.secrets.iter().filter(move |s| s.env == env)
    }
}

/// Every role name the world uses (for stable unique ids).
fn role_names() -> Vec<String> {
    let mut out = Vec::new();
    for env in ENVS {
        for (app, _) in SM_APPS {
            out.push(format!("{env}-{}-irsa", APPS[app]));
        }
        for app in SSM_APPS {
            out.push(format!("{env}-{}-irsa", APPS[app]));
        }
    }
    for r in [
        "external-secrets-irsa",
        "SecretsManagerRDSRotation-role",
        "github-terraform-plan",
        SSO_POWER_USER,
        SSO_DEVELOPER,
        "aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
    ] {
        out.push(r.to_string());
    }
    // The Secrets Store CSI driver's mounts of the notifications pods (their own role).
    out.push(CSI_ROLE.to_string());
    out
}
