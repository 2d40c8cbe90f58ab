//! Rankings of the flows that suffer most: the "worst flows" views.

use crate::report::{FlowRecord, Ranked, WorstFlows};

/// Flows need this many data segments before their retransmission rate
/// ranks them: one lost segment out of two is noise, not a trend.
pub const MIN_SEGMENTS_FOR_RATE: u64 = 10;

fn top(mut v: Vec<Ranked>, n: usize) -> Vec<Ranked> {
    v.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.flow.cmp(&b.flow)));
    v.truncate(n);
    v
}

/// Ranks `flows` (ids must be their positions), keeping `n` per measure.
pub fn rank(flows: &[FlowRecord], n: usize) -> WorstFlows {
    let mut rate = Vec::new();
    let mut rtt = Vec::new();
    let mut resp = Vec::new();
    for f in flows {
        let Some(t) = &f.tcp else { continue };
        let segs = t.data_segments.client + t.data_segments.server;
        let re = t.retransmissions.client.segments + t.retransmissions.server.segments;
        if re > 0 && segs >= MIN_SEGMENTS_FOR_RATE {
            rate.push(Ranked {
                flow: f.id,
                value: re as f64 / segs as f64,
            });
        }
        if let Some(r) = &t.rtt_ms {
            rtt.push(Ranked {
                flow: f.id,
                value: r.p50,
            });
        }
        if let Some(r) = &t.response_time_ms {
            resp.push(Ranked {
                flow: f.id,
                value: r.p50,
            });
        }
    }
    WorstFlows {
        retransmission_rate: top(rate, n),
        rtt_p50_ms: top(rtt, n),
        response_time_p50_ms: top(resp, n),
    }
}
