//! `secretwatch rules test|list`.

use std::process::ExitCode;

use anyhow::Result;
use secretwatch_detect::engine::{load_rules, reference_lists, with_catalogue};
use secretwatch_detect::sigma::run_examples;

use crate::cli::RulesCommand;
use crate::config::Config;

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::Test { config, dirs } => {
            let mut cfg = Config::load(config.as_deref())?;
            cfg.detect.rules_dirs.extend(dirs.iter().cloned());
            let rules = load_rules(&cfg.detect)?;
            let (cases, failures) =
                run_examples(&rules, &reference_lists(&with_catalogue(&cfg.detect)))?;
            let emitting = rules.meta.values().filter(|m| m.emits).count();
            for f in &failures {
                println!("FAIL {f}");
            }
            println!(
                "{emitting} rules, {cases} examples: {} passed, {} failed",
                cases - failures.len(),
                failures.len()
            );
            Ok(if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RulesCommand::List { config } => {
            let cfg = Config::load(config.as_deref())?;
            let rules = load_rules(&cfg.detect)?;
            let mut metas: Vec<_> = rules.meta.values().filter(|m| m.emits).collect();
            metas.sort_by(|a, b| a.rule.cmp(&b.rule));
            for m in metas {
                println!(
                    "{:<32} {:<9} {:<11} {}  ({})",
                    m.rule,
                    m.severity,
                    if m.correlation {
                        "correlation"
                    } else {
                        "detection"
                    },
                    m.title,
                    m.file
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
