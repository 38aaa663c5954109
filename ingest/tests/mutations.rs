//! Mutated input never stops ingest: every record, however broken, becomes events, a skip or a
//! counted dead letter, and nothing panics (a panic on a parser thread stops `scan`; in `serve`
//! it drops the HTTP request unanswered).
//!
//! The seeds are our own fixtures and the committed sample; the mutations are the kinds that
//! broke `scan` before (issue 20): bit flips, cuts, swapped JSON types and multi-byte text at
//! any position, including `{"hello":"abcdef€€€"}` which made the dead-letter redactor slice a
//! `str` inside a character. Deterministic (a fixed xorshift), so a failure names its case.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use secretwatch_ingest::deadletter::redact_bad_input;
use secretwatch_ingest::{DeadLetter, Decoder, Format, ParseOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn seeds() -> Vec<String> {
    let mut out = vec![];
    for f in std::fs::read_dir(root().join("tests/fixtures")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
        }
    }
    for f in [
        "k8s-audit.jsonl.gz",
        "vault-audit.jsonl.gz",
        "cloudtrail.jsonl.gz",
    ] {
        let gz = std::fs::File::open(root().join("datasets/sample").join(f)).unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_string(&mut text)
            .unwrap();
        // Every 97th line: all record shapes of the sample, few enough for a debug build.
        out.extend(text.lines().step_by(97).take(300).map(str::to_string));
    }
    out
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const WIDE: [&str; 6] = ["€", "€€€", "😀", "é", "\u{301}", "\u{10FFFF}"];
const SWAPS: [(&str, &str); 8] = [
    ("\"", "0"),
    ("{", "["),
    ("}", "]"),
    (":", ","),
    ("\"", "€\""),
    ("true", "\"true\""),
    ("[", "{"),
    ("null", "{}"),
];

/// One mutation of `line`, as bytes (a bit flip may leave UTF-8).
fn mutate(line: &str, rng: &mut Rng) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.truncate(at),
            2 => {
                let w = WIDE[rng.below(WIDE.len())];
                b.splice(at..at, w.bytes());
            }
            3 => {
                let (from, to) = SWAPS[rng.below(SWAPS.len())];
                let s = String::from_utf8_lossy(&b).into_owned();
                let mut a = at.min(s.len());
                while !s.is_char_boundary(a) {
                    a -= 1;
                }
                if let Some(i) = s[a..].find(from).map(|i| i + a) {
                    let mut t = s.clone();
                    t.replace_range(i..i + from.len(), to);
                    b = t.into_bytes();
                }
            }
            4 => {
                let end = (at + rng.below(40)).min(b.len());
                b.drain(at.min(end)..end);
            }
            _ => {
                // A value made of wide characters right where a token check looks.
                b.splice(at..at, "\"Bearer€€€€€\"".bytes());
            }
        }
    }
    b
}

#[test]
fn mutated_records_are_events_or_dead_letters_never_panics() {
    let seeds = seeds();
    assert!(seeds.len() > 250, "seeds: {}", seeds.len());
    let dir = tempfile::tempdir().unwrap();
    let opts = ParseOptions::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases: Vec<Vec<u8>> = vec![
        r#"{"hello":"abcdef€€€"}"#.as_bytes().to_vec(),
        "Bearer€€€€".as_bytes().to_vec(),
        "{\"token\":\"bearer€\"}".as_bytes().to_vec(),
    ];
    for s in &seeds {
        for _ in 0..12 {
            cases.push(mutate(s, &mut rng));
        }
    }
    for format in [
        Format::Auto,
        Format::K8sAudit,
        Format::Vault,
        Format::CloudTrail,
        Format::AzureKeyVault,
        Format::GcpAudit,
        Format::CloudWatchLogs,
        Format::Event,
        Format::K8sEvents,
    ] {
        let dl = dir.path().join(format!("dead-{}.jsonl", format.as_str()));
        let mut decoder = Decoder::new(&opts, format, Some(DeadLetter::new(&dl)));
        let (mut events, mut n) = (0u64, 0u64);
        for (i, case) in cases.iter().enumerate() {
            let outcome = catch_unwind(AssertUnwindSafe(|| match std::str::from_utf8(case) {
                Ok(text) => {
                    let _ = redact_bad_input(text, &["f"]);
                    decoder.record(text, "mutated", i as u64 + 1, &mut |_| events += 1)
                }
                Err(_) => decoder.bad_bytes(case, "mutated", i as u64 + 1),
            }));
            n += 1;
            assert!(
                outcome.is_ok(),
                "format {}: case {i} panicked: {:?}",
                format.as_str(),
                String::from_utf8_lossy(case)
            );
            outcome.unwrap().unwrap();
        }
        decoder.finish(&mut |_| events += 1).unwrap();
        let stats = &decoder.stats;
        // Every record is accounted for; the broken ones went to the dead-letter file.
        assert_eq!(stats.records, n, "{stats:?}");
        assert!(stats.bad > n / 4, "{stats:?}");
        // Formats our seeds are written in still give events from the intact records.
        if matches!(
            format,
            Format::Auto | Format::K8sAudit | Format::Vault | Format::K8sEvents
        ) {
            assert!(events > 0, "{stats:?}");
        }
        let dead = std::fs::read_to_string(&dl).unwrap();
        assert_eq!(dead.lines().count() as u64, stats.bad, "{stats:?}");
    }
}
