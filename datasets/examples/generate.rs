//! Generates a dataset: `cargo run --release -p secretwatch-datasets --example generate -- OUT [DAYS] [SCALE] [SEED]`.

use std::path::PathBuf;
use std::time::Instant;

use secretwatch_datasets::{generate, GenerateOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "dataset-out".to_string()));
    let days = args.next().map(|a| a.parse()).transpose()?.unwrap_or(7);
    let scale = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1.0);
    let seed = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    let mut opts = GenerateOptions::new(days, seed, out);
    opts.scale = scale;
    let started = Instant::now();
    let s = generate(&opts)?;
    println!(
        "{} k8s events, {} vault entries, {} labels in {:.2?}",
        s.k8s_events,
        s.vault_entries,
        s.stories,
        started.elapsed()
    );
    Ok(())
}
