//! The generation run: world, plans, then one day at a time into sorted files.

use std::path::PathBuf;

use crate::benign::{aws, people, platform, rotation, workloads};
use crate::error::DatasetError;
use crate::labels::{finish, Label};
use crate::manifest;
use crate::options::{GenerateOptions, GenerateSummary};
use crate::output::{write_file, SortedWriter};
use crate::rng::sub_rng;
use crate::schedule::{DayCtx, Rotations};
use crate::sink::Sink;
use crate::stories::plan::{self, StoryPlan};
use crate::timefmt::{DAY, HOUR};
use crate::vault::{finalize, LoginState};
use crate::world::World;

pub const K8S_FILE: &str = "k8s-audit.jsonl";
pub const VAULT_FILE: &str = "vault-audit.jsonl";
pub const CLOUDTRAIL_FILE: &str = "cloudtrail.jsonl";
pub const LABELS_FILE: &str = "labels.jsonl";
pub const MANIFEST_FILE: &str = "manifest.json";

/// Generates the dataset described by `opts` into `opts.out`.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary, DatasetError> {
    opts.validate()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| DatasetError::io(&opts.out, e))?;
    let start = opts.start.timestamp_nanos_opt().unwrap_or(0);
    let world = World::build(opts.seed);
    let story_plan = StoryPlan::build(opts, start);
    let rotations = Rotations::build(opts, &world, start, story_plan.gap_rotation);

    let paths: Vec<PathBuf> = [
        K8S_FILE,
        VAULT_FILE,
        LABELS_FILE,
        MANIFEST_FILE,
        CLOUDTRAIL_FILE,
    ]
    .iter()
    .map(|f| opts.out.join(f))
    .collect();
    let mut k8s_out = SortedWriter::create(&paths[0])?;
    let mut vault_out = SortedWriter::create(&paths[1])?;
    let mut aws_out = SortedWriter::create(&paths[4])?;
    let mut sink = Sink::new();
    let mut logins = LoginState::default();
    let mut stories = Vec::new();

    for day in 0..opts.days {
        let day_start = start + i64::from(day) * DAY;
        let ctx = DayCtx {
            world: &world,
            opts,
            rotations: &rotations,
            day,
            start: day_start,
            end: day_start + DAY,
        };
        platform::generate(&ctx, &mut sink);
        workloads::generate(&ctx, &mut sink);
        people::generate(&ctx, &mut sink);
        rotation::generate(&ctx, &mut sink);
        aws::generate(&ctx, &mut sink);
        plan::generate_day(&ctx, &story_plan, &mut sink, &mut stories);

        let calls = std::mem::take(&mut sink.vault);
        let mut rng = sub_rng(opts.seed, "vault.logins", u64::from(day));
        let vault_recs = finalize(&world, &mut logins, &mut rng, calls, || sink.next_seq());
        // Later days only produce events from their own start (minus a few seconds), so
        // everything more than an hour before the end of this day is final.
        let horizon = Some(ctx.end - HOUR);
        k8s_out.absorb(std::mem::take(&mut sink.k8s), horizon)?;
        vault_out.absorb(vault_recs, horizon)?;
        aws_out.absorb(std::mem::take(&mut sink.aws), horizon)?;
    }
    let k8s_events = k8s_out.finish()?;
    let vault_entries = vault_out.finish()?;
    let cloudtrail_records = aws_out.finish()?;

    let labels: Vec<Label> = finish(stories);
    let mut buf = Vec::new();
    for l in &labels {
        serde_json::to_writer(&mut buf, l).map_err(|e| DatasetError::io(&paths[2], e.into()))?;
        buf.push(b'\n');
    }
    write_file(&paths[2], &buf)?;

    let counts = manifest::Counts {
        k8s_events,
        vault_entries,
        cloudtrail_records,
        labels: labels.len() as u64,
    };
    let m = manifest::build(opts, &world, &rotations, &labels, &counts);
    let mut bytes =
        serde_json::to_vec_pretty(&m).map_err(|e| DatasetError::io(&paths[3], e.into()))?;
    bytes.push(b'\n');
    write_file(&paths[3], &bytes)?;

    Ok(GenerateSummary {
        k8s_events,
        vault_entries,
        cloudtrail_records,
        stories: labels.len() as u64,
        files: paths,
    })
}
