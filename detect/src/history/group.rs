//! Identities that are one workload under changing names, grouped before their history is
//! looked up (`principal.group` in rules):
//!
//! - Kubernetes nodes (`system:node:<name>`), by pool: EKS `ip-10-0-1-23.ec2.internal` ->
//!   `system:node:ip-*.ec2.internal`; GKE `gke-<cluster>-<pool>-<hash>-<suffix>` ->
//!   `system:node:gke-<cluster>-<pool>-*`; AKS `aks-<pool>-<id>-vmss<suffix>` ->
//!   `system:node:aks-<pool>-*`; otherwise trailing name segments that carry digits
//!   (`worker-3`, `node-7f9c2`) become `*`.
//! - AWS role sessions (`arn:aws:sts::<account>:assumed-role/<role>/<session>`), by role: the
//!   session name (often an instance id or a CI job id) becomes `*`.
//! - Service accounts of namespaces made per merge request or preview
//!   (`system:serviceaccount:review-1234:deployer`, `pr-87-web`): a number right after `review`,
//!   `pr`, `mr`, `preview` or `ephemeral` becomes `*` (`review-*`, `pr-*-web`). Other numbered
//!   namespaces (`team-3`, `prod-eu1`) are separate teams and keep their names.
//!
//! Everything else is its own group (its name).

use std::borrow::Cow;

use secretwatch_ingest::AccessEvent;

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// `worker-3` -> `worker-*`; `gke-prod-pool-1-a1b2c3d4-x9z8` handled by the caller.
fn strip_numbered_tail(name: &str) -> Option<String> {
    let segs: Vec<&str> = name.split('-').collect();
    let mut keep = segs.len();
    while keep > 1 && has_digit(segs[keep - 1]) {
        keep -= 1;
    }
    (keep < segs.len()).then(|| format!("{}-*", segs[..keep].join("-")))
}

fn node_group(node: &str) -> Option<String> {
    // EKS/EC2: ip-10-0-1-23.<region>.compute.internal (or .ec2.internal).
    if let Some(rest) = node.strip_prefix("ip-") {
        let (host, domain) = rest.split_once('.').unwrap_or((rest, ""));
        if host
            .split('-')
            .all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(if domain.is_empty() {
                "ip-*".to_string()
            } else {
                format!("ip-*.{domain}")
            });
        }
    }
    let host = node.split('.').next().unwrap_or(node);
    let segs: Vec<&str> = host.split('-').collect();
    // GKE: gke-<cluster>-<pool>-<8 hex>-<4 alnum>.
    if segs.first() == Some(&"gke") && segs.len() >= 5 {
        return Some(format!("{}-*", segs[..segs.len() - 2].join("-")));
    }
    // AKS: aks-<pool>-<digits>-vmss<6 base36>.
    if segs.first() == Some(&"aks") && segs.len() >= 4 && segs[segs.len() - 1].starts_with("vmss") {
        return Some(format!("{}-*", segs[..segs.len() - 2].join("-")));
    }
    strip_numbered_tail(host)
}

/// Words that mark a namespace made per merge request or preview environment when a number
/// follows them (`review-1234`, `pr-87-web`, `mr-12`, `preview-5`).
const PREVIEW_WORDS: [&str; 5] = ["review", "pr", "mr", "preview", "ephemeral"];

fn namespace_group(ns: &str) -> Option<String> {
    let segs: Vec<&str> = ns.split('-').collect();
    let mut changed = false;
    let out: Vec<&str> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let number = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if number && i > 0 && PREVIEW_WORDS.contains(&segs[i - 1]) {
                changed = true;
                "*"
            } else {
                s
            }
        })
        .collect();
    changed.then(|| out.join("-"))
}

/// The group of a principal name (the name itself when it is its own group).
pub fn group_of(name: &str) -> Cow<'_, str> {
    if let Some(node) = name.strip_prefix("system:node:") {
        if let Some(g) = node_group(node) {
            return Cow::Owned(format!("system:node:{g}"));
        }
    }
    if let Some(rest) = name.strip_prefix("system:serviceaccount:") {
        if let Some((ns, sa)) = rest.split_once(':') {
            if let Some(g) = namespace_group(ns) {
                return Cow::Owned(format!("system:serviceaccount:{g}:{sa}"));
            }
        }
    }
    if name.starts_with("arn:aws:sts::") {
        if let Some(at) = name.find(":assumed-role/") {
            let role_and_session = &name[at + ":assumed-role/".len()..];
            if let Some((role, _session)) = role_and_session.split_once('/') {
                return Cow::Owned(format!("{}:assumed-role/{role}/*", &name[..at]));
            }
        }
    }
    Cow::Borrowed(name)
}

/// The group of the event's acting identity.
pub fn principal_group<'e>(ev: &'e AccessEvent<'_>) -> Cow<'e, str> {
    group_of(&ev.principal.name)
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn nodes_group_by_pool() {
        for (name, group) in [
            (
                "system:node:ip-10-0-1-23.ec2.internal",
                "system:node:ip-*.ec2.internal",
            ),
            (
                "system:node:ip-10-0-77-4.eu-west-1.compute.internal",
                "system:node:ip-*.eu-west-1.compute.internal",
            ),
            (
                "system:node:gke-prod-default-pool-1a2b3c4d-x9z8",
                "system:node:gke-prod-default-pool-*",
            ),
            (
                "system:node:aks-nodepool1-12345678-vmss00000a",
                "system:node:aks-nodepool1-*",
            ),
            ("system:node:worker-3", "system:node:worker-*"),
            ("system:node:control-plane", "system:node:control-plane"),
        ] {
            assert_eq!(group_of(name), group, "{name}");
        }
    }

    #[test]
    fn sessions_and_preview_namespaces() {
        assert_eq!(
            group_of("arn:aws:sts::111122223333:assumed-role/app-reader/i-0abc123def456"),
            "arn:aws:sts::111122223333:assumed-role/app-reader/*"
        );
        assert_eq!(
            group_of("system:serviceaccount:review-1234:deployer"),
            "system:serviceaccount:review-*:deployer"
        );
        assert_eq!(
            group_of("system:serviceaccount:pr-87-web:app"),
            "system:serviceaccount:pr-*-web:app"
        );
        for own in [
            "system:serviceaccount:prod-eu1:payments",
            "system:serviceaccount:team-3:app",
            "system:serviceaccount:rogue-50:x",
        ] {
            assert_eq!(group_of(own), own);
        }
        assert_eq!(group_of("oidc:alice@example.com"), "oidc:alice@example.com");
        assert_eq!(
            group_of("arn:aws:iam::1:user/bob"),
            "arn:aws:iam::1:user/bob"
        );
    }
}
