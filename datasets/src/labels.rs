//! Ground truth: one `labels.jsonl` line per injected story instance.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::k8s::{emit, Req};
use crate::sink::Sink;
use crate::timefmt::micros;
use crate::vault::VaultCall;

/// Which log a story's events are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Kubernetes,
    Vault,
    Aws,
}

/// One line of `labels.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    pub story: String,
    pub detection: &'static str,
    pub source: Source,
    pub principal: String,
    pub event_ids: Vec<String>,
    pub start: String,
    pub end: String,
    pub description: String,
}

/// A story being written: records the ids and time span of the events it emits.
#[derive(Debug, Clone)]
pub struct StoryRec {
    pub detection: &'static str,
    pub source: Source,
    pub principal: String,
    pub description: String,
    pub ids: Vec<String>,
    pub start: i64,
    pub end: i64,
}

impl StoryRec {
    pub fn new(
        detection: &'static str,
        source: Source,
        principal: &str,
        description: impl Into<String>,
    ) -> Self {
        StoryRec {
            detection,
            source,
            principal: principal.to_string(),
            description: description.into(),
            ids: Vec::new(),
            start: i64::MAX,
            end: i64::MIN,
        }
    }

    fn span(&mut self, from: i64, to: i64) {
        self.start = self.start.min(from);
        self.end = self.end.max(to);
    }

    /// Emits a Kubernetes request as part of the story.
    pub fn k8s(&mut self, sink: &mut Sink, rng: &mut impl rand::Rng, req: Req<'_>) -> String {
        let t = req.t;
        let before = sink.k8s.len();
        let id = emit(sink, rng, req);
        let end = sink.k8s[before..].iter().map(|r| r.t).max().unwrap_or(t);
        self.span(t, end);
        self.ids.push(id.clone());
        id
    }

    /// Adds a CloudTrail record (already in the sink) as part of the story.
    pub fn aws(&mut self, t: i64, id: String) {
        self.span(t, t);
        self.ids.push(id);
    }

    /// Adds a Vault call as part of the story.
    pub fn vault(&mut self, sink: &mut Sink, call: VaultCall) -> String {
        self.span(call.t, call.t + call.latency);
        let id = call.id.clone();
        self.ids.push(id.clone());
        sink.push_vault(call);
        id
    }
}

/// Numbers the stories per detection in time order and turns them into label lines.
pub fn finish(mut stories: Vec<StoryRec>) -> Vec<Label> {
    stories.sort_by(|a, b| {
        (a.start, a.detection, &a.principal).cmp(&(b.start, b.detection, &b.principal))
    });
    let mut counters: BTreeMap<&'static str, u32> = BTreeMap::new();
    stories
        .into_iter()
        .filter(|s| !s.ids.is_empty())
        .map(|s| {
            let n = counters.entry(s.detection).or_insert(0);
            *n += 1;
            Label {
                story: format!("{}-{}", s.detection, n),
                detection: s.detection,
                source: s.source,
                principal: s.principal,
                event_ids: s.ids,
                start: micros(s.start),
                end: micros(s.end),
                description: s.description,
            }
        })
        .collect()
}
