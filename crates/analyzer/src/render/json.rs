//! JSON renderer: the report model as one JSON document (docs/json-schema.md),
//! and JSON lines (`--format jsonl`): one flow per line, then the rest.

use std::io::{self, Write};

use crate::par::{chunk_for, map_chunks};
use crate::report::{FlowRecord, Report};

/// Writes the report as pretty-printed JSON followed by a newline.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Flows serialized per parallel step: bounds the text held in memory.
pub const FLOWS_PER_STEP: usize = 16_384;

/// [`write`], byte for byte, with the flows serialized in parallel on
/// `pool` (or on this thread), `per_step` at a time, and streamed out in order: the document is
/// never held in memory whole. The report's flows are taken out while its
/// other fields are written, and put back.
pub fn write_parallel(
    report: &mut Report,
    out: &mut dyn Write,
    pool: Option<&rayon::ThreadPool>,
    per_step: usize,
) -> io::Result<()> {
    if report.flows.is_empty() {
        return write(report, out);
    }
    let head = without_flows(report, serde_json::to_vec_pretty).map_err(io::Error::other)?;
    // `flows` is the model's last field: the document ends with it.
    const EMPTY: &[u8] = b",\n  \"flows\": []\n}";
    if !head.ends_with(EMPTY) {
        return write(report, out);
    }
    out.write_all(&head[..head.len() - EMPTY.len()])?;
    out.write_all(b",\n  \"flows\": [\n")?;
    for (i, step) in report.flows.chunks(per_step.max(1)).enumerate() {
        // Into buffers even on one thread: serde_json's many small writes
        // cost more through a `dyn Write` than into a Vec.
        let parts = map_chunks(pool, step, chunk_for(pool, step.len()), indented_flows);
        for (j, part) in parts.into_iter().enumerate() {
            if j > 0 || i > 0 {
                out.write_all(b",\n")?;
            }
            out.write_all(&part?)?;
        }
    }
    out.write_all(b"\n  ]\n}\n")
}

/// Flows as elements of the document's `flows` array: pretty-printed,
/// every line indented two levels, separated by `,\n`.
fn indented_flows(flows: &[FlowRecord]) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(flows.len() * 2048);
    let mut one = Vec::with_capacity(4096);
    for (k, f) in flows.iter().enumerate() {
        if k > 0 {
            buf.extend_from_slice(b",\n");
        }
        one.clear();
        serde_json::to_writer_pretty(&mut one, f).map_err(io::Error::other)?;
        buf.extend_from_slice(b"    ");
        for &b in &one {
            buf.push(b);
            if b == b'\n' {
                buf.extend_from_slice(b"    ");
            }
        }
    }
    Ok(buf)
}

/// JSON lines: one compact flow object per line, in the document's order,
/// then one line with everything else (the document with `flows` empty).
/// For millions of flows piped to jq; serialized in parallel on `pool`.
pub fn write_lines(
    report: &mut Report,
    out: &mut dyn Write,
    pool: Option<&rayon::ThreadPool>,
) -> io::Result<()> {
    let lines = |flows: &[FlowRecord]| -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(flows.len() * 1536);
        for f in flows {
            serde_json::to_writer(&mut buf, f).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        Ok(buf)
    };
    for step in report.flows.chunks(FLOWS_PER_STEP) {
        for part in map_chunks(pool, step, chunk_for(pool, step.len()), lines) {
            out.write_all(&part?)?;
        }
    }
    without_flows(report, |r| serde_json::to_writer(&mut *out, r)).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// `f` of the report with its flows taken out (then put back): the rest of
/// the document, whose flows are written apart.
fn without_flows<R>(report: &mut Report, f: impl FnOnce(&Report) -> R) -> R {
    let flows = std::mem::take(&mut report.flows);
    let r = f(report);
    report.flows = flows;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{run, Config, Progress};

    fn report() -> Report {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let config = Config::new(vec![
            root.join("tcp-udp-ipv4.pcap"),
            root.join("ipv6.pcapng"),
        ]);
        run(&config, &Progress::default()).expect("analysis").report
    }

    /// The parallel writer writes what serde_json writes, byte for byte,
    /// for any step size and thread count.
    #[test]
    fn parallel_document_is_serde_jsons() {
        let mut r = report();
        assert!(r.flows.len() > 10, "enough flows to split");
        let mut expected = Vec::new();
        write(&r, &mut expected).unwrap();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let pool = (threads > 1).then_some(&pool);
            for step in [1, 2, 7, r.flows.len() - 1, r.flows.len() + 5] {
                let mut got = Vec::new();
                write_parallel(&mut r, &mut got, pool, step).unwrap();
                assert!(
                    got == expected,
                    "{threads} threads, steps of {step}: differs from serde_json's document"
                );
            }
        }
        // The flows were put back.
        let mut again = Vec::new();
        write(&r, &mut again).unwrap();
        assert!(again == expected);
    }
}
