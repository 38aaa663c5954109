//! Who a Kubernetes username is.

use crate::event::PrincipalKind;

/// Kind of a Kubernetes username, and the namespace of a service account.
pub fn classify_username(name: &str) -> (PrincipalKind, Option<&str>) {
    if let Some(rest) = name.strip_prefix("system:serviceaccount:") {
        let ns = rest.split(':').next().filter(|n| !n.is_empty());
        return (PrincipalKind::ServiceAccount, ns);
    }
    if name == "system:anonymous" {
        return (PrincipalKind::Anonymous, None);
    }
    if name.starts_with("system:node:") {
        return (PrincipalKind::Node, None);
    }
    if name.starts_with("system:") || name.starts_with("eks:") || name.starts_with("aksService") {
        return (PrincipalKind::SystemComponent, None);
    }
    if name.is_empty() || name == "(unknown)" {
        return (PrincipalKind::Unknown, None);
    }
    (PrincipalKind::Human, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            classify_username("system:serviceaccount:prod:payments"),
            (PrincipalKind::ServiceAccount, Some("prod"))
        );
        assert_eq!(
            classify_username("system:anonymous").0,
            PrincipalKind::Anonymous
        );
        assert_eq!(
            classify_username("system:node:node-1").0,
            PrincipalKind::Node
        );
        assert_eq!(
            classify_username("system:kube-controller-manager").0,
            PrincipalKind::SystemComponent
        );
        assert_eq!(
            classify_username("oidc:alice@example.com").0,
            PrincipalKind::Human
        );
        assert_eq!(
            classify_username("arn:aws:iam::111122223333:user/alice").0,
            PrincipalKind::Human
        );
    }
}
