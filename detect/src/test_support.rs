//! Shared by the tests that run detectors over the committed sample dataset.

use std::path::{Path, PathBuf};

use secretwatch_ingest::{AccessEvent, Decoder, Format, Input, ParseOptions, Parsed, RecordParser};

use crate::{Alert, Engine};

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/sample")
}

/// Every event of the sample files, owned and in time order (as `scan` merges its inputs).
pub fn read_events(files: &[&str]) -> Vec<AccessEvent<'static>> {
    let opts = ParseOptions::default();
    let mut decoder = Decoder::new(&opts, Format::Auto, None);
    let mut events = vec![];
    for f in files {
        let mut input = Input::open(&sample_dir().join(f)).unwrap();
        decoder
            .read_input(&mut input, &mut |e| events.push(e.into_owned()))
            .unwrap();
    }
    decoder.finish(&mut |e| events.push(e)).unwrap();
    assert_eq!(decoder.stats.bad, 0);
    events.sort_by_key(|e| e.time);
    events
}

/// One audit line through the real parser into one detector; a line that does not parse or is
/// skipped fails the test.
pub fn feed_line(det: &mut dyn crate::detector::Detector, line: &str) -> Vec<Alert> {
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut out = vec![];
    parser.parse(line, &mut |p| match p {
        Parsed::Event(ev) => det.on_event(&ev, &mut out),
        other => panic!("{other:?}: {line}"),
    });
    out
}

/// Audit lines through the real parser into `engine`, in the order given; a line that does not
/// parse fails the test.
pub fn feed(engine: &mut Engine, lines: &[String]) -> Vec<Alert> {
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut out = vec![];
    for l in lines {
        parser.parse(l, &mut |p| match p {
            Parsed::Event(ev) => engine.on_event(&ev, &mut out),
            Parsed::Error(e) => panic!("{e}: {l}"),
            Parsed::Skipped => {}
        });
    }
    out
}
