//! Sigma rules (detections and correlations) through `rsigma-eval`, with our metadata, reference
//! lists from config, and the example events each rule must and must not fire on.

mod detector;
mod examples;
mod rules;
mod view;

pub use detector::{render, CorrelationFacts, Prematch, Prematcher, ReferenceLists, SigmaDetector};
pub use examples::{parse_examples, Examples};
pub use rules::{load, read_dir, RuleError, RuleMeta, RuleSet, RuleSource};
pub use view::{BaselineFields, SigmaView, STATE_FIELD_PREFIXES};

use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};

use crate::detector::Detector;
use crate::history::{History, TermHistory};

/// The rules shipped in `rules/`, built into the binary.
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "rules/k8s-secret-enumeration.yml",
        include_str!("../../../rules/k8s-secret-enumeration.yml"),
    ),
    (
        "rules/secret-read-bursts.yml",
        include_str!("../../../rules/secret-read-bursts.yml"),
    ),
    (
        "rules/k8s-indirect-secret-access.yml",
        include_str!("../../../rules/k8s-indirect-secret-access.yml"),
    ),
    (
        "rules/cloud-secret-stores.yml",
        include_str!("../../../rules/cloud-secret-stores.yml"),
    ),
    (
        "rules/audit-tampering.yml",
        include_str!("../../../rules/audit-tampering.yml"),
    ),
    (
        "rules/rbac-broad-secret-grant.yml",
        include_str!("../../../rules/rbac-broad-secret-grant.yml"),
    ),
    (
        "rules/vault-token-abuse.yml",
        include_str!("../../../rules/vault-token-abuse.yml"),
    ),
];

pub fn builtin_sources() -> Vec<RuleSource> {
    BUILTIN_RULES
        .iter()
        .map(|(name, text)| RuleSource {
            name: name.to_string(),
            text: text.to_string(),
            strict: true,
        })
        .collect()
}

/// One example that did not behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    pub file: String,
    pub rule: String,
    /// `fire[2]` or `quiet[0]`.
    pub case: String,
    pub problem: String,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: rule {}: {}: {}",
            self.file, self.rule, self.case, self.problem
        )
    }
}

/// Run every rule's examples through the real parser and a fresh engine with the whole rule
/// set. Returns the number of cases run and the failures.
pub fn run_examples(
    rules: &RuleSet,
    lists: &ReferenceLists,
) -> Result<(usize, Vec<ExampleFailure>), RuleError> {
    let opts = ParseOptions::default();
    let mut metas: Vec<&RuleMeta> = rules.meta.values().filter(|m| m.emits).collect();
    metas.sort_by(|a, b| a.rule.cmp(&b.rule));
    let mut failures = vec![];
    let mut cases = 0;
    for meta in metas {
        for (kind, list, must_fire) in [
            ("fire", &meta.examples.fire, true),
            ("quiet", &meta.examples.quiet, false),
        ] {
            for (i, case) in list.iter().enumerate() {
                cases += 1;
                let fail = |problem: String| ExampleFailure {
                    file: meta.file.clone(),
                    rule: meta.rule.clone(),
                    case: format!("{kind}[{i}]"),
                    problem,
                };
                let mut det = SigmaDetector::new(rules, lists, 60)?;
                // Rules asking for learned state (`first_seen.*`, `baseline.*`) see baselines
                // past learning that know only the case's earlier records; `new_terms` rules a
                // history past learning that knows nothing yet.
                let mut baseline = crate::baseline::detector(&crate::baseline::BaselineConfig {
                    learning_days: 0,
                    ..Default::default()
                });
                let mut history = TermHistory::new(det.new_terms(), 0);
                let mut parser = RecordParser::new(&opts, Format::Auto);
                let mut bad = None;
                let new_terms = matches!(meta.history, History::NewTerms(_));
                // A `new_terms` rule's case runs twice: it must fire the first time only.
                let runs = if must_fire && new_terms { 2 } else { 1 };
                let mut fired_per_run = vec![];
                for _ in 0..runs {
                    let mut alerts = vec![];
                    let mut feed = |ev: &secretwatch_ingest::AccessEvent<'_>,
                                    alerts: &mut Vec<_>| {
                        let from = alerts.len();
                        history.advance(ev.time);
                        det.on_event_with(ev, None, Some(&baseline), alerts);
                        history.judge(ev, alerts, from);
                        baseline.on_event(ev, &mut vec![]);
                    };
                    for rec in case {
                        let text = rec.to_string();
                        parser.parse(&text, &mut |p| match p {
                            Parsed::Event(ev) => feed(&ev, &mut alerts),
                            Parsed::Skipped => {}
                            Parsed::Error(e) => bad = Some(e.to_string()),
                        });
                    }
                    parser.finish(&mut |p| {
                        if let Parsed::Event(ev) = p {
                            feed(&ev, &mut alerts);
                        }
                    });
                    fired_per_run.push(alerts);
                }
                if let Some(e) = bad {
                    failures.push(fail(format!("an example record does not parse: {e}")));
                    continue;
                }
                let alerts = fired_per_run.remove(0);
                if let Some(again) = fired_per_run.first() {
                    let n = again.iter().filter(|a| a.rule == meta.rule).count();
                    if n > 0 {
                        failures.push(fail(format!(
                            "fired {n} time(s) again when the case was replayed: a new_terms rule \
                             must stay quiet on a combination it has seen"
                        )));
                    }
                }
                let fired = alerts.iter().filter(|a| a.rule == meta.rule).count();
                if must_fire && fired == 0 {
                    let others: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
                    failures.push(fail(format!(
                        "did not fire (other rules that fired: {others:?})"
                    )));
                } else if !must_fire && fired > 0 {
                    failures.push(fail(format!("fired {fired} time(s) but must not")));
                }
            }
        }
    }
    Ok((cases, failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule file in `rules/` is built in (a file left out loads nowhere and its
    /// examples never run).
    #[test]
    fn every_rule_file_is_built_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("rules/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|f| f.ends_with(".yml") || f.ends_with(".yaml"))
            .collect();
        files.sort();
        let mut built: Vec<String> = BUILTIN_RULES.iter().map(|(n, _)| n.to_string()).collect();
        built.sort();
        assert_eq!(files, built);
    }

    fn lists() -> ReferenceLists {
        crate::engine::reference_lists(&crate::engine::with_catalogue(
            &crate::DetectConfig::default(),
        ))
    }

    #[test]
    fn shipped_rules_load_and_their_examples_hold() {
        let rules = load(&builtin_sources()).unwrap();
        let (cases, failures) = run_examples(&rules, &lists()).unwrap();
        assert!(cases >= 2 * rules.meta.values().filter(|m| m.emits).count());
        assert!(
            failures.is_empty(),
            "{}",
            failures
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn invalid_rules_fail_at_load_with_file_rule_and_reason() {
        let src = |text: &str| {
            vec![RuleSource {
                name: "rules/x.yml".into(),
                text: text.into(),
                strict: true,
            }]
        };
        let no_examples = "title: T\nid: 6f1d2c1e-0000-4000-8000-000000000001\nname: my-rule\ndescription: d\nlevel: high\ntags: [attack.t1552]\nlogsource: {product: kubernetes, service: audit}\ndetection: {sel: {verb: get}, condition: sel}\n";
        let e = load(&src(no_examples)).unwrap_err().to_string();
        assert!(
            e.contains("rules/x.yml") && e.contains("my-rule") && e.contains("examples.fire"),
            "{e}"
        );
        let bad_condition = no_examples.replace("condition: sel", "condition: sel and nope");
        let e = load(&src(&bad_condition)).unwrap_err().to_string();
        assert!(e.contains("rules/x.yml"), "{e}");
        let no_name = no_examples.replace("name: my-rule\n", "");
        let e = load(&src(&no_name)).unwrap_err().to_string();
        assert!(e.contains("missing `name`"), "{e}");
    }

    #[test]
    fn third_party_rules_load_without_our_metadata() {
        // Written in SigmaHQ's style: no `name`, no examples, fields as the audit log names them.
        let text = "title: Kubernetes Secret Deleted By Anyone\nid: 0c7a1f44-3d61-4c1e-9d7e-5b6d8e9f0a11\nstatus: test\nlogsource:\n  category: application\n  product: kubernetes\n  service: audit\ndetection:\n  selection:\n    verb: delete\n    objectRef.resource: secrets\n  condition: selection\nlevel: medium\n";
        let src = |strict| RuleSource {
            name: "third-party.yml".into(),
            text: text.into(),
            strict,
        };
        assert!(load(&[src(true)]).is_err());
        let rules = load(&[src(false)]).unwrap();
        let meta = rules.meta.values().next().unwrap();
        assert_eq!(meta.rule, "kubernetes-secret-deleted-by-anyone");
        let mut det = SigmaDetector::new(&rules, &lists(), 60).unwrap();
        let opts = ParseOptions::default();
        let mut parser = RecordParser::new(&opts, Format::Auto);
        let mut alerts = vec![];
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"d1","stage":"ResponseComplete","verb":"delete","user":{"username":"oidc:eve"},"objectRef":{"resource":"secrets","namespace":"prod","name":"db"},"responseStatus":{"code":200},"stageTimestamp":"2026-11-03T10:00:00Z"}"#;
        parser.parse(line, &mut |p| {
            if let Parsed::Event(ev) = p {
                det.on_event(&ev, &mut alerts);
            }
        });
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule, "kubernetes-secret-deleted-by-anyone");
    }

    #[test]
    fn a_failing_example_is_reported() {
        let text = "title: T\nid: 6f1d2c1e-0000-4000-8000-000000000002\nname: get-prod\ndescription: d\nlevel: high\ntags: [attack.t1552]\nlogsource: {product: kubernetes, service: audit}\ndetection: {sel: {verb: get, objectRef.namespace: prod}, condition: sel}\nexamples:\n  fire: [{user: u, verb: get, namespace: dev, name: x}]\n  quiet: [{user: u, verb: get, namespace: prod, name: x}]\n";
        let rules = load(&[RuleSource {
            name: "r.yml".into(),
            text: text.into(),
            strict: true,
        }])
        .unwrap();
        let (cases, failures) = run_examples(&rules, &lists()).unwrap();
        assert_eq!(cases, 2);
        let cases: Vec<&str> = failures.iter().map(|f| f.case.as_str()).collect();
        assert_eq!(cases, ["fire[0]", "quiet[0]"]);
    }
}
