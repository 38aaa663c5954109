//! Command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, DEFAULT_TOML};

#[derive(Parser, Debug)]
#[command(
    name = "secretwatch",
    version,
    about = "Watches who touches secrets: Kubernetes audit and Vault audit logs to alerts."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read audit logs from files (plain, .gz, or - for stdin) and print alerts as JSON lines.
    Scan(ScanArgs),
    /// Sample data.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Measure throughput (events/s) and memory.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run the live service: HTTP ingest (audit webhook, JSON lines), files given here, alerts to
    /// DATA_DIR/alerts.jsonl, health and metrics. Stops on SIGTERM or Ctrl-C, saving state.
    Serve {
        /// TOML config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides serve.listen (use 127.0.0.1:0 for any free port).
        #[arg(long)]
        listen: Option<String>,
        /// Overrides serve.data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Files or directories to read at start (e.g. the sample data).
        files: Vec<PathBuf>,
    },
    /// A compliance report (SOC 2 / PCI-DSS evidence of secret access) over a period, from the
    /// data directory of `serve` (its event store, alerts and triage).
    Report {
        /// TOML config file (report settings, environments, sync mappings).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides serve.data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Start of the period: RFC 3339 or YYYY-MM-DD (UTC); default 7 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// End of the period (excluded): RFC 3339 or YYYY-MM-DD (UTC); default now.
        #[arg(long)]
        to: Option<String>,
        /// html, md, csv or json.
        #[arg(long, default_value = "html")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Precision and recall per detection over a labeled dataset (labels.jsonl from `datasets generate`).
    Eval {
        /// labels.jsonl
        #[arg(long)]
        labels: PathBuf,
        /// TOML config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Event files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Load rules and run the example events each carries: those that must fire and those that
    /// must not. Without DIR: the rules of the config (built-in and detect.rules_dirs).
    Test {
        /// TOML config file (its reference lists are used).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Test only these directories' rules (the built-in rules are still loaded beside them).
        dirs: Vec<PathBuf>,
    },
    /// List the rules that can alert.
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Input format: auto (per record), k8s-audit, vault, cloudtrail, azure-keyvault, gcp-audit,
    /// cloudwatch-logs, k8s-events (Kubernetes Event objects). Overrides ingest.format.
    #[arg(long)]
    pub format: Option<String>,
    /// TOML config file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where records that cannot be parsed go. Overrides ingest.dead_letter.
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Directory of learned state (baselines): read at start if present, written at the end, so
    /// a second scan continues where the first stopped.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Files or directories (all files inside, sorted) to read; - is stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum DatasetsCommand {
    /// Generate a labeled dataset: a cluster and a Vault with benign traffic and attack stories.
    Generate {
        /// Days of traffic.
        #[arg(long, default_value_t = 2)]
        days: u32,
        /// Random seed (same seed, same bytes).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Multiplies traffic rates (1.0 is about 80k Kubernetes events a day).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Benign traffic only.
        #[arg(long)]
        no_stories: bool,
        /// Compress the event files with gzip.
        #[arg(long)]
        gzip: bool,
        /// First day (UTC midnight, YYYY-MM-DD; default 2026-11-02, a Monday). A start before
        /// 2026-10-25 spans Europe's and America's daylight-saving changes.
        #[arg(long)]
        start: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// The yardstick: stream files line by line through bare serde_json into borrowed structs,
    /// and nothing else (compare with `scan` over the same files, e.g. with farm-bench).
    Serde {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Scan throughput against bare serde_json parsing of the same lines into borrowed structs.
    Scan {
        /// JSON-lines files (plain); read into memory first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Repeat the measurement this many times and report the best.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// Kafka to alerts: produce lines of FILES to a new topic, then time a real `serve`
    /// consuming them (events/s, alerts, peak memory). Needs a running broker.
    Kafka {
        /// Bootstrap servers.
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
        /// At most this many lines of the files.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// A config whose [ingest]/[detect] sections describe the data's world (e.g. the
        /// generator's secretwatch.toml); the bench adds the [kafka] section.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run the service in scale-out mode (state per partition in a changelog topic),
        /// records keyed by principal.
        #[arg(long)]
        scale_out: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Detection state at scale: N principals through one engine; memory per principal and
    /// the size of its snapshot (what scale-out writes to the changelog topic).
    State {
        #[arg(long, default_value_t = 100_000)]
        principals: usize,
    },
    /// The event store at scale: write N synthetic events to Parquet with the store's writer,
    /// then time an accesses-per-principal-per-hour group-by over all of them in DataFusion.
    Query {
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Keep the Parquet files in this directory (default: a temporary one).
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Event-to-alert latency through the HTTP ingest at a fixed rate, to a webhook sink.
    Latency {
        /// Events per second offered.
        #[arg(long, default_value_t = 2000)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u32,
        /// One event in this many raises an alert at once.
        #[arg(long, default_value_t = 100)]
        every: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print every key with its default.
    Defaults,
    /// Load and validate a config file (with environment overrides).
    Check { path: PathBuf },
}

fn init_tracing(level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => {
            let mut cfg = Config::load(args.config.as_deref())?;
            if let Some(f) = &args.format {
                cfg.ingest.format = f.clone();
                let errs = cfg.validate();
                if !errs.is_empty() {
                    anyhow::bail!("--format: {}", errs.join("; "));
                }
            }
            if let Some(d) = &args.dead_letter {
                cfg.ingest.dead_letter = d.clone();
            }
            init_tracing(&cfg.log.level);
            crate::scan::run(&cfg, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Datasets(DatasetsCommand::Generate {
            days,
            seed,
            out,
            scale,
            no_stories,
            gzip,
            start,
        }) => {
            init_tracing("info");
            let mut opts = secretwatch_datasets::GenerateOptions::new(days, seed, out.clone());
            opts.scale = scale;
            opts.stories = !no_stories;
            if let Some(day) = start {
                opts.start = day.and_time(chrono::NaiveTime::MIN).and_utc();
            }
            let started = std::time::Instant::now();
            let summary = secretwatch_datasets::generate(&opts)
                .with_context(|| format!("generating into {}", out.display()))?;
            let cfg_path = crate::sample_config::write(&out)?;
            if gzip {
                for f in &summary.files {
                    if f.extension().is_some_and(|e| e == "jsonl")
                        && f.file_name().is_some_and(|n| n != "labels.jsonl")
                    {
                        gzip_in_place(f)?;
                    }
                }
            }
            eprintln!(
                "generated {} Kubernetes events, {} Vault entries, {} CloudTrail records, {} stories into {} in {:.1} s; config for it: {}",
                summary.k8s_events,
                summary.vault_entries,
                summary.cloudtrail_records,
                summary.stories,
                out.display(),
                started.elapsed().as_secs_f64(),
                cfg_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Serde { files }) => {
            crate::bench::serde_stream(&files)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Scan { files, rounds }) => {
            init_tracing("error");
            crate::bench::scan(&files, rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Kafka {
            brokers,
            events,
            config,
            scale_out,
            files,
        }) => {
            init_tracing("error");
            crate::bench_live::kafka(&brokers, &files, events, config.as_deref(), scale_out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::State { principals }) => {
            init_tracing("error");
            crate::bench_state::run(principals)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Query { events, keep }) => {
            init_tracing("error");
            crate::bench_query::run(events, keep.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Latency {
            rate,
            seconds,
            every,
        }) => {
            init_tracing("error");
            crate::bench_live::latency(rate, seconds, every.max(1))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(cmd) => crate::rules_cmd::run(cmd),
        Command::Serve {
            config,
            listen,
            data_dir,
            files,
        } => {
            let mut cfg = Config::load(config.as_deref())?;
            if let Some(l) = listen {
                cfg.serve.listen = l;
            }
            if let Some(d) = data_dir {
                cfg.serve.data_dir = d;
            }
            let errs = cfg.validate();
            if !errs.is_empty() {
                anyhow::bail!("{}", errs.join("; "));
            }
            init_tracing(if cfg.log.level == "warn" {
                "info"
            } else {
                &cfg.log.level
            });
            crate::serve::run(cfg, files)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            config,
            data_dir,
            from,
            to,
            format,
            out,
        } => {
            let mut cfg = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                cfg.serve.data_dir = d;
            }
            let errs = cfg.validate();
            if !errs.is_empty() {
                anyhow::bail!("{}", errs.join("; "));
            }
            init_tracing(&cfg.log.level);
            crate::report::command::run(
                cfg,
                from.as_deref(),
                to.as_deref(),
                &format,
                out.as_deref(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            labels,
            config,
            files,
        } => {
            let cfg = Config::load(config.as_deref())?;
            init_tracing(&cfg.log.level);
            crate::eval::run(&cfg, &labels, &files)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Defaults) => {
            print!("{DEFAULT_TOML}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { path }) => {
            Config::load(Some(&path))?;
            eprintln!("{}: ok", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `x.jsonl` -> `x.jsonl.gz`.
fn gzip_in_place(path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let gz_path = path.with_extension("jsonl.gz");
    let f = std::fs::File::create(&gz_path)
        .with_context(|| format!("creating {}", gz_path.display()))?;
    let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::best());
    enc.write_all(&data)?;
    enc.finish()?;
    std::fs::remove_file(path)?;
    Ok(())
}
