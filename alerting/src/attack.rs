//! MITRE ATT&CK references from Sigma-style alert tags (`attack.credential-access`,
//! `attack.t1552.007`), for the ECS `threat.*` fields, OCSF `attacks` and PagerDuty details.

/// An enterprise tactic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tactic {
    /// `TA0006`.
    pub id: &'static str,
    /// `Credential Access`.
    pub name: &'static str,
}

impl Tactic {
    pub fn url(&self) -> String {
        format!("https://attack.mitre.org/tactics/{}/", self.id)
    }
}

/// A technique, with its sub-technique when the tag names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technique {
    /// `T1552`.
    pub id: String,
    pub name: Option<&'static str>,
    /// `T1552.007` and its name.
    pub sub: Option<(String, Option<&'static str>)>,
}

impl Technique {
    pub fn url(&self) -> String {
        technique_url(&self.id)
    }
}

/// `T1552` -> `https://attack.mitre.org/techniques/T1552/`,
/// `T1552.007` -> `https://attack.mitre.org/techniques/T1552/007/`.
pub fn technique_url(id: &str) -> String {
    format!(
        "https://attack.mitre.org/techniques/{}/",
        id.replace('.', "/")
    )
}

const TACTICS: [(&str, &str, &str); 14] = [
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// Names of the techniques our detections and common Kubernetes/Vault rules tag. Others are
/// reported by id alone.
const TECHNIQUES: [(&str, &str); 22] = [
    ("T1070", "Indicator Removal"),
    ("T1078", "Valid Accounts"),
    ("T1078.001", "Default Accounts"),
    ("T1078.004", "Cloud Accounts"),
    ("T1098", "Account Manipulation"),
    ("T1098.006", "Additional Container Cluster Roles"),
    ("T1499", "Endpoint Denial of Service"),
    ("T1528", "Steal Application Access Token"),
    ("T1550", "Use Alternate Authentication Material"),
    ("T1550.001", "Application Access Token"),
    ("T1552", "Unsecured Credentials"),
    ("T1552.001", "Credentials In Files"),
    ("T1552.007", "Container API"),
    ("T1555", "Credentials from Password Stores"),
    ("T1555.006", "Cloud Secrets Management Stores"),
    ("T1562", "Impair Defenses"),
    ("T1562.008", "Disable or Modify Cloud Logs"),
    ("T1609", "Container Administration Command"),
    ("T1610", "Deploy Container"),
    ("T1611", "Escape to Host"),
    ("T1613", "Container and Resource Discovery"),
    ("T1619", "Cloud Storage Object Discovery"),
];

fn technique_name(id: &str) -> Option<&'static str> {
    TECHNIQUES.iter().find(|(t, _)| *t == id).map(|(_, n)| *n)
}

/// Tactics named by `attack.<tactic>` tags (Sigma v2 hyphens or the older underscores), in tag
/// order, without repeats.
pub fn tactics<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<Tactic> {
    let mut out: Vec<Tactic> = Vec::new();
    for tag in tags {
        let Some(rest) = strip_attack(tag) else {
            continue;
        };
        let rest = rest.replace('_', "-");
        if let Some((_, id, name)) = TACTICS.iter().find(|(short, _, _)| *short == rest) {
            if !out.iter().any(|t| t.id == *id) {
                out.push(Tactic { id, name });
            }
        }
    }
    out
}

/// Techniques named by `attack.tNNNN[.NNN]` tags, in tag order, without repeats.
pub fn techniques<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<Technique> {
    let mut out: Vec<Technique> = Vec::new();
    for tag in tags {
        let Some(rest) = strip_attack(tag) else {
            continue;
        };
        let Some(id) = parse_technique(rest) else {
            continue;
        };
        let (base, sub) = match id.split_once('.') {
            Some((b, _)) => (b.to_string(), Some(id.clone())),
            None => (id.clone(), None),
        };
        let t = Technique {
            name: technique_name(&base),
            sub: sub.map(|s| {
                let n = technique_name(&s);
                (s, n)
            }),
            id: base,
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn strip_attack(tag: &str) -> Option<&str> {
    let (ns, rest) = tag.split_once('.')?;
    ns.eq_ignore_ascii_case("attack").then_some(rest)
}

/// `t1552.007` -> `T1552.007`; anything else (groups `g0001`, software `s0002`) -> None.
fn parse_technique(s: &str) -> Option<String> {
    let body = s.strip_prefix(['t', 'T'])?;
    let (main, sub) = match body.split_once('.') {
        Some((m, s)) => (m, Some(s)),
        None => (body, None),
    };
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(main, 4) || !sub.is_none_or(|s| digits(s, 3)) {
        return None;
    }
    Some(match sub {
        Some(s) => format!("T{main}.{s}"),
        None => format!("T{main}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_and_techniques_from_tags() {
        let tags = [
            "attack.credential-access",
            "attack.t1552.007",
            "attack.credential_access",
            "attack.discovery",
            "attack.T1613",
            "attack.g0001",
            "attack.t15",
            "break-glass",
            "attack.t1552.007",
        ];
        let ta = tactics(tags);
        assert_eq!(
            ta,
            vec![
                Tactic {
                    id: "TA0006",
                    name: "Credential Access"
                },
                Tactic {
                    id: "TA0007",
                    name: "Discovery"
                }
            ]
        );
        assert_eq!(ta[0].url(), "https://attack.mitre.org/tactics/TA0006/");
        let te = techniques(tags);
        assert_eq!(te.len(), 2);
        assert_eq!(te[0].id, "T1552");
        assert_eq!(te[0].name, Some("Unsecured Credentials"));
        assert_eq!(
            te[0].sub,
            Some(("T1552.007".to_string(), Some("Container API")))
        );
        assert_eq!(te[1].id, "T1613");
        assert_eq!(te[1].sub, None);
        assert_eq!(
            technique_url("T1552.007"),
            "https://attack.mitre.org/techniques/T1552/007/"
        );
        assert_eq!(te[1].url(), "https://attack.mitre.org/techniques/T1613/");
        let unknown = techniques(["attack.t9999"]);
        assert_eq!(unknown[0].name, None);
    }
}
