//! Scenario tests of the TCP analyzer on synthetic packet sequences whose
//! right answers are known by construction.

use super::*;
use crate::decode::{TcpFlags, TcpSummary};

const MS: i64 = 1_000_000;

/// Builds packets of one connection: client = 0, server = 1.
struct Conn {
    a: TcpAnalyzer,
    isn: [u32; 2],
    sent: [u64; 2],
    t: i64,
    ts_opt: bool,
    tsval: u32,
    ip_id: u16,
}

impl Conn {
    fn new(isn_c: u32, isn_s: u32) -> Conn {
        Conn {
            a: TcpAnalyzer::default(),
            isn: [isn_c, isn_s],
            sent: [0, 0],
            t: 1_000 * MS,
            ts_opt: false,
            tsval: 1000,
            ip_id: 0,
        }
    }

    fn at(&mut self, ms_from_now: f64) -> &mut Self {
        self.t += (ms_from_now * 1e6) as i64;
        self
    }

    fn send(
        &mut self,
        dir: usize,
        flags: u16,
        rel_seq: u64,
        len: u32,
        rel_ack: Option<u64>,
        window: u16,
    ) {
        let seq = self.isn[dir].wrapping_add(rel_seq as u32);
        let ack = rel_ack.map_or(0, |a| self.isn[1 - dir].wrapping_add(a as u32));
        let mut tcp = TcpSummary {
            seq,
            ack,
            flags: TcpFlags(flags | if rel_ack.is_some() { TcpFlags::ACK } else { 0 }),
            window,
            ..TcpSummary::default()
        };
        if self.ts_opt {
            tcp.timestamps = Some((self.tsval, 0));
        }
        self.a.packet(Seen {
            ts_ns: self.t,
            dir,
            tcp: &tcp,
            payload_len: len,
            ip_id: self.ip_id,
        });
    }

    fn handshake(&mut self) {
        self.send(0, TcpFlags::SYN, 0, 0, None, 64000);
        self.at(1.0).send(1, TcpFlags::SYN, 0, 0, Some(1), 64000);
        self.at(0.1).send(0, 0, 1, 0, Some(1), 64000);
        self.sent = [1, 1];
    }

    /// New data from `dir`.
    fn data(&mut self, dir: usize, len: u32) -> u64 {
        let seq = self.sent[dir];
        let ack = self.sent[1 - dir];
        self.send(dir, TcpFlags::PSH, seq, len, Some(ack), 64000);
        self.sent[dir] += u64::from(len);
        seq
    }

    /// `dir` acknowledges everything up to relative `upto` of the other side.
    fn ack(&mut self, dir: usize, upto: u64) {
        let seq = self.sent[dir];
        self.send(dir, 0, seq, 0, Some(upto), 64000);
    }

    fn resend(&mut self, dir: usize, rel_seq: u64, len: u32) {
        let ack = self.sent[1 - dir];
        self.send(dir, TcpFlags::PSH, rel_seq, len, Some(ack), 64000);
    }

    fn close(&mut self) {
        let (c, s) = (self.sent[0], self.sent[1]);
        self.at(1.0).send(0, TcpFlags::FIN, c, 0, Some(s), 64000);
        self.at(0.1)
            .send(1, TcpFlags::FIN, s, 0, Some(c + 1), 64000);
        self.at(0.1).send(0, 0, c + 1, 0, Some(s + 1), 64000);
    }

    fn rec(&mut self) -> TcpRecord {
        self.a.finish()
    }
}

#[test]
fn clean_exchange() {
    let mut c = Conn::new(100, 9000);
    c.handshake();
    c.at(1.0).data(0, 100);
    c.at(5.0).ack(1, 101);
    c.at(50.0).data(1, 1000);
    c.at(5.0).ack(0, 1001);
    c.close();
    let r = c.rec();
    assert_eq!(r.conn_state, "SF");
    assert_eq!(r.history, "ShADadFf");
    assert_eq!(r.handshake_rtt_ms, Some(1.1));
    let hs = r.handshake.unwrap();
    assert_eq!((hs.syn_to_synack_ms, hs.synack_to_ack_ms), (1.0, 0.1));
    let rtt = r.rtt_ms.unwrap();
    assert_eq!((rtt.samples, rtt.min, rtt.max), (2, 5.0, 5.0));
    // Response: from the request (client data) to the response (server data).
    assert_eq!(r.response_time_ms.unwrap().p50, 55.0);
    assert_eq!(
        r.unique_bytes,
        Pair {
            client: 100,
            server: 1000
        }
    );
    assert_eq!(
        r.retransmissions.client.segments + r.retransmissions.server.segments,
        0
    );
}

#[test]
fn timeout_retransmission_and_karn() {
    let mut c = Conn::new(1, 2);
    c.handshake();
    c.at(1.0).data(0, 500);
    c.at(300.0).resend(0, 1, 500);
    c.at(1.0).ack(1, 501);
    let r = c.rec();
    let rc = r.retransmissions.client;
    assert_eq!(
        (rc.segments, rc.bytes, rc.rto, rc.fast, rc.tlp, rc.spurious),
        (1, 500, 1, 0, 0, 0)
    );
    // The ACK may answer either transmission: no RTT sample.
    assert!(r.rtt_ms.is_none());
    assert!(r.history.contains('T'));
}

#[test]
fn fast_retransmit_after_duplicate_acks() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    for _ in 0..5 {
        c.at(0.1).data(0, 1000);
    }
    // Segment 1 lost; segments 2..5 each produce a duplicate ACK for 1
    // (duplicates of the SYN-ACK's acknowledgment number).
    for _ in 0..4 {
        c.at(0.05).ack(1, 1);
    }
    c.at(0.05).resend(0, 1, 1000);
    c.at(1.0).ack(1, 5001);
    let r = c.rec();
    let rc = r.retransmissions.client;
    assert_eq!((rc.segments, rc.fast, rc.rto, rc.tlp), (1, 1, 0, 0));
    assert_eq!(r.dup_acks.server, 4);
}

#[test]
fn tail_loss_probe() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    c.at(0.1).data(0, 1000);
    c.at(1.0).ack(1, 1001);
    // The tail segment is resent after ~2 RTT, long before any RTO.
    c.at(5.0).resend(0, 1001, 1000);
    c.at(1.0).ack(1, 2001);
    let rc = c.rec().retransmissions.client;
    assert_eq!((rc.segments, rc.tlp, rc.rto, rc.fast), (1, 1, 0, 0));
}

#[test]
fn spurious_retransmissions() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    c.at(1.0).ack(1, 1001);
    // Already acknowledged when resent.
    c.at(300.0).resend(0, 1, 1000);
    let rc = c.rec().retransmissions.client;
    assert_eq!((rc.segments, rc.spurious), (1, 1));

    // Not yet acknowledged, but the receiver reports a duplicate (D-SACK).
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    c.at(300.0).resend(0, 1, 1000);
    c.at(0.5).ack(1, 1001);
    let mut tcp = TcpSummary {
        seq: 8 + 1,
        ack: 7 + 1001,
        flags: TcpFlags(TcpFlags::ACK),
        window: 64000,
        ..TcpSummary::default()
    };
    tcp.sack_blocks[0] = (7 + 1, 7 + 1001);
    tcp.sack_count = 1;
    c.a.packet(Seen {
        ts_ns: c.t + MS,
        dir: 1,
        tcp: &tcp,
        payload_len: 0,
        ip_id: 0,
    });
    let rc = c.rec().retransmissions.client;
    assert_eq!((rc.segments, rc.rto, rc.spurious), (1, 1, 1));
}

#[test]
fn receiver_side_loss_versus_reordering() {
    // Captured at the receiver: segment 2 was lost upstream and resent an
    // RTT later; in a second connection it was merely overtaken.
    for (delay_ms, expect_retrans) in [(20.0, true), (0.01, false)] {
        let mut c = Conn::new(7, 8);
        c.handshake(); // handshake RTT 1.1 ms
        c.at(0.1).data(0, 1000);
        c.sent[0] += 1000; // segment 2 not seen
        c.at(0.01).data(0, 1000);
        c.at(delay_ms).resend(0, 1001, 1000);
        c.at(0.1).ack(1, 3001);
        let r = c.rec();
        let rc = r.retransmissions.client;
        if expect_retrans {
            assert_eq!((rc.segments, r.out_of_order.client), (1, 0), "{delay_ms}");
        } else {
            assert_eq!((rc.segments, r.out_of_order.client), (0, 1), "{delay_ms}");
        }
        assert_eq!(r.capture_lost_segments.client, 0);
    }
}

#[test]
fn timestamps_tell_reordering_from_retransmission_at_any_rtt() {
    for (filler_tsval, expect_retrans) in [(1005u32, true), (999, false)] {
        let mut c = Conn::new(7, 8);
        c.ts_opt = true;
        c.handshake();
        c.tsval = 1000;
        c.at(0.01).data(0, 1000);
        c.sent[0] += 1000;
        c.tsval = 1001;
        c.at(0.01).data(0, 1000);
        // Arrives quickly either way: only TSval tells them apart.
        c.tsval = filler_tsval;
        c.at(0.02).resend(0, 1001, 1000);
        let r = c.rec();
        assert_eq!(r.retransmissions.client.segments == 1, expect_retrans);
        assert_eq!(r.out_of_order.client == 1, !expect_retrans);
    }
}

#[test]
fn capture_loss_is_not_network_loss() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    c.sent[0] += 2000; // two segments the capture missed
    c.at(0.1).data(0, 1000);
    c.at(1.0).ack(1, 4001);
    let r = c.rec();
    assert_eq!(r.capture_lost_segments.client, 2);
    assert_eq!(r.capture_lost_bytes.client, 2000);
    assert_eq!(r.retransmissions.client.segments, 0);
    assert_eq!(r.unique_bytes.client, 4000);
}

#[test]
fn acked_unseen_segment_is_capture_loss() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    c.at(1.0).ack(1, 2001); // the second segment never reached the capture
    let r = c.rec();
    assert_eq!(r.capture_lost_segments.client, 1);
}

#[test]
fn sequence_wraparound_and_streams_over_4_gib() {
    // ISN just below 2^32, 5 GiB in 64000-byte segments, each acknowledged.
    let mut c = Conn::new(u32::MAX - 5000, 3);
    c.handshake();
    let total: u64 = 5 << 30;
    let seg = 64_000u32;
    let n = total / u64::from(seg);
    for _ in 0..n {
        c.at(0.001).data(0, seg);
        let upto = c.sent[0];
        c.at(0.001).ack(1, upto);
    }
    let r = c.rec();
    assert_eq!(r.unique_bytes.client, n * u64::from(seg));
    assert_eq!(r.retransmissions.client.segments, 0);
    assert_eq!(r.out_of_order.client, 0);
    assert_eq!(r.capture_lost_segments.client, 0);
    assert_eq!(r.rtt_ms.unwrap().samples, n);
}

#[test]
fn zero_window_probe_and_keepalive_are_not_retransmissions() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    // Receiver acknowledges with a zero window.
    let s = c.sent[1];
    c.at(0.1).send(1, 0, s, 0, Some(1001), 0);
    // Linux probes with seq = snd_una - 1 and no data.
    c.at(200.0).send(0, 0, 1000, 0, Some(1), 64000);
    // Window opens, later an idle keep-alive (seq - 1, one byte).
    c.at(1.0).send(1, 0, s, 0, Some(1001), 64000);
    c.at(7200.0).send(0, 0, 1000, 1, Some(1), 64000);
    let r = c.rec();
    assert_eq!(r.zero_windows.server, 1);
    assert_eq!(r.zero_window_probes.client, 1);
    assert_eq!(r.keep_alives.client, 1);
    assert_eq!(r.retransmissions.client.segments, 0);
    assert!(r.history.contains('w'));
}

#[test]
fn refused_and_aborted_connections() {
    let mut c = Conn::new(7, 0);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(0.05).send(1, TcpFlags::RST, 0, 0, Some(1), 0);
    let r = c.rec();
    assert_eq!((r.conn_state, r.resets.server), ("REJ", 1));

    let mut c = Conn::new(7, 8);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(1000.0).send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(2000.0).send(0, TcpFlags::SYN, 0, 0, None, 64000);
    let r = c.rec();
    assert_eq!((r.conn_state, r.syn_retransmissions), ("S0", 2));

    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(1.0).data(0, 10);
    c.at(1.0).send(1, TcpFlags::RST, 1, 0, Some(11), 0);
    assert_eq!(c.rec().conn_state, "RSTR");
}

#[test]
fn linux_single_segment_probe_then_timeout() {
    // One segment in flight: Linux probes after 2 RTT + 200 ms (a TLP), then
    // times out (RTO, doubled) when the probe is lost too.
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 100);
    c.at(210.0).resend(0, 1, 100);
    c.at(420.0).resend(0, 1, 100);
    c.at(0.2).ack(1, 101);
    let rc = c.rec().retransmissions.client;
    assert_eq!((rc.segments, rc.tlp, rc.rto, rc.fast), (2, 1, 1, 0));
}

#[test]
fn the_same_packet_captured_twice_is_not_a_retransmission() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.ip_id = 4242;
    let seq = c.data(0, 100);
    // A second copy of the frame (capture on two interfaces): same IP id.
    c.resend(0, seq, 100);
    c.at(1.0).ack(1, 101);
    let r = c.rec();
    assert_eq!(r.retransmissions.client.segments, 0);
    assert_eq!(r.duplicates.client, 1);
    assert_eq!(r.rtt_ms.unwrap().samples, 1);
}

#[test]
fn an_ack_captured_before_its_data_is_neither_loss_nor_retransmission() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).ack(1, 101); // the receiver's ACK reaches the capture first
    c.data(0, 100);
    let r = c.rec();
    assert_eq!(r.capture_lost_segments.client, 0);
    assert_eq!(r.retransmissions.client.segments, 0);
    assert_eq!(r.unique_bytes.client, 100);
}

#[test]
fn first_ack_and_fin_carrying_segments_give_rtt_samples() {
    // Midstream: the first ACK seen for the stream still yields a sample.
    let mut c = Conn::new(7, 8);
    c.sent = [1, 1];
    c.data(0, 100);
    c.at(2.0).ack(1, 101);
    assert_eq!(c.rec().rtt_ms.unwrap().samples, 1);
    // Data with the FIN: its ACK covers the FIN too.
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.send(0, TcpFlags::PSH | TcpFlags::FIN, 1, 100, Some(1), 64000);
    c.at(3.0).ack(1, 102);
    assert_eq!(c.rec().rtt_ms.unwrap().min, 3.0);
}

#[test]
fn unique_bytes_count_what_the_capture_missed_at_the_end() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.sent[1] += 2902; // the server's data never reached the capture
    let s = c.sent[1];
    c.at(1.0).send(1, TcpFlags::FIN, s, 0, Some(1), 64000);
    c.at(0.1).ack(0, s + 1);
    let r = c.rec();
    assert_eq!(r.unique_bytes.server, 2902);
    assert_eq!(r.capture_lost_bytes.server, 2902);
}

#[test]
fn a_resend_long_after_the_sack_is_a_timeout() {
    // SACK says segment 1 is missing, but the sender resends it only 212 ms
    // after that ACK: its retransmission timer fired (seen on a busy host).
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 1000);
    c.at(0.1).data(0, 1000);
    c.at(0.1).data(0, 1000);
    let mut tcp = TcpSummary {
        seq: 8 + 1,
        ack: 7 + 1,
        flags: TcpFlags(TcpFlags::ACK),
        window: 64000,
        ..TcpSummary::default()
    };
    tcp.sack_blocks[0] = (7 + 1001, 7 + 3001);
    tcp.sack_count = 1;
    c.at(1.0);
    c.a.packet(Seen {
        ts_ns: c.t,
        dir: 1,
        tcp: &tcp,
        payload_len: 0,
        ip_id: 0,
    });
    c.at(212.0).resend(0, 1, 1000);
    let rc = c.rec().retransmissions.client;
    assert_eq!((rc.segments, rc.rto, rc.fast), (1, 1, 0));
}

#[test]
fn an_injected_reset_does_not_start_the_stream() {
    // A forged RST with sequence number 0 arrives before the real SYN-ACK.
    let mut c = Conn::new(100, 3_000_000_000);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64000);
    let forged = TcpSummary {
        seq: 0,
        flags: TcpFlags(TcpFlags::RST),
        ..TcpSummary::default()
    };
    c.at(0.5);
    c.a.packet(Seen {
        ts_ns: c.t,
        dir: 1,
        tcp: &forged,
        payload_len: 0,
        ip_id: 0,
    });
    c.at(1.0).send(1, TcpFlags::SYN, 0, 0, Some(1), 64000);
    c.at(0.1).send(0, 0, 1, 0, Some(1), 64000);
    c.sent = [1, 1];
    c.at(1.0).data(1, 500);
    c.at(1.0).ack(0, 501);
    let r = c.rec();
    assert_eq!(r.capture_lost_bytes.server, 0);
    assert_eq!(r.unique_bytes.server, 500);
}

#[test]
fn a_fin_beyond_missing_data_opens_a_hole_filled_by_reordering() {
    let mut c = Conn::new(7, 8);
    c.handshake();
    // The FIN overtakes the last data segment by 0.2 ms.
    c.at(1.0).send(0, TcpFlags::FIN, 14, 0, Some(1), 64000);
    c.at(0.2).send(0, TcpFlags::PSH, 1, 13, Some(1), 64000);
    let r = c.rec();
    assert_eq!(r.out_of_order.client, 1);
    assert_eq!(r.retransmissions.client.segments, 0);
}

#[test]
fn reordering_window_spans_the_whole_loop_not_one_hosts_ack_delay() {
    // Capture beside the client: the path RTT is 50 ms, the client ACKs
    // server data within 0.2 ms. A segment 2 ms late is reordered.
    let mut c = Conn::new(7, 8);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(50.0).send(1, TcpFlags::SYN, 0, 0, Some(1), 64000);
    c.at(0.1).send(0, 0, 1, 0, Some(1), 64000);
    c.sent = [1, 1];
    c.at(0.1).data(0, 100);
    c.at(50.0).data(1, 1000);
    c.at(0.2).ack(0, 1001);
    c.at(0.1).ack(1, 101);
    // Server data: segment 2 overtaken by segment 3.
    c.at(1.0).data(1, 1000);
    c.sent[1] += 1000;
    c.data(1, 1000);
    c.at(2.0).resend(1, 2001, 1000);
    let r = c.rec();
    assert_eq!(r.out_of_order.server, 1, "{r:?}");
    assert_eq!(r.retransmissions.server.segments, 0);
}

#[test]
fn sequential_ip_ids_tell_retransmission_from_reordering_at_any_rtt() {
    // A sender numbering its packets 100, 101, … : the fill that arrives
    // 10 µs after the hole is a retransmission if numbered after the packet
    // that revealed the hole, reordering if numbered before.
    for (fill_id, expect_retrans) in [(120u16, true), (110, false)] {
        let mut c = Conn::new(7, 8);
        c.handshake();
        for i in 0..10u16 {
            c.ip_id = 100 + i;
            c.at(0.01).data(0, 1000);
        }
        c.ip_id = 111; // segment at 11001 is missing; 12001 reveals the hole
        c.sent[0] += 1000;
        c.at(0.01).data(0, 1000);
        c.ip_id = fill_id;
        c.at(0.01).resend(0, 10_001, 1000);
        let r = c.rec();
        assert_eq!(
            r.retransmissions.client.segments == 1,
            expect_retrans,
            "id {fill_id}"
        );
        assert_eq!(r.out_of_order.client == 1, !expect_retrans, "id {fill_id}");
    }
}

#[test]
fn no_rtt_sample_from_an_ack_behind_data_the_capture_missed() {
    // The server's response (which carried the first ACK) was not captured;
    // its next segment acknowledges the request much later.
    let mut c = Conn::new(7, 8);
    c.handshake();
    c.at(0.1).data(0, 100);
    c.sent[1] += 2576; // missed server data
    c.at(3000.0).data(1, 10);
    let r = c.rec();
    assert!(r.rtt_ms_by_dir.client.is_none(), "{:?}", r.rtt_ms_by_dir);
}

/// A listen backlog overflow seen from the client: two SYNs dropped, the
/// third answered. The handshake RTT times the last SYN (Karn-safe); the
/// connect time runs from the first SYN, what `connect()` waited.
#[test]
fn connect_time_counts_syn_retries_and_handshake_rtt_does_not() {
    let mut c = Conn::new(7, 8);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(1000.0).send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(2000.0).send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(0.2).send(1, TcpFlags::SYN, 0, 0, Some(1), 64000);
    c.at(0.1).send(0, 0, 1, 0, Some(1), 64000);
    let r = c.rec();
    assert_eq!(r.syn_retransmissions, 2);
    assert_eq!(r.handshake_rtt_ms, Some(0.3));
    assert_eq!(r.connect_ms, Some(3000.3));

    // Without retries the two agree; without a final ACK there is no connect time.
    let mut c = Conn::new(7, 8);
    c.handshake();
    let r = c.rec();
    assert_eq!(r.connect_ms, r.handshake_rtt_ms);
    assert!(r.connect_ms.is_some());
    let mut c = Conn::new(7, 8);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64000);
    c.at(0.2).send(1, TcpFlags::SYN, 0, 0, Some(1), 64000);
    assert_eq!(c.rec().connect_ms, None);
}

/// A SYN answered by a challenge ACK (RFC 5961: the server still holds an
/// older connection of this tuple and acknowledges that one's numbers), and
/// the client's RST at the acknowledged number: the gap between the SYN
/// and that number is no data the capture missed.
#[test]
fn a_challenge_ack_is_out_of_window_not_capture_loss() {
    let mut c = Conn::new(1000, 5000);
    c.send(0, TcpFlags::SYN, 0, 0, None, 64240);
    // The server's pure ACK acknowledges 2 GB beyond the client's ISN.
    c.at(0.1).send(1, 0, 0, 0, Some(2_000_000_000), 501);
    c.at(0.1).send(0, TcpFlags::RST, 2_000_000_000, 0, None, 0);
    let r = c.rec();
    assert_eq!(r.capture_lost_bytes.client, 0);
    assert_eq!(r.capture_lost_segments.client, 0);
    assert_eq!(r.out_of_window.client, 1);

    // A real gap within the window is still capture loss.
    let mut c = Conn::new(1000, 5000);
    c.handshake();
    c.at(1.0).data(0, 1000);
    c.at(1.0).send(0, 0, 2001, 1000, Some(1), 64000);
    c.at(1.0).send(1, 0, 1, 0, Some(3001), 64000);
    let r = c.rec();
    assert_eq!(r.capture_lost_bytes.client, 1000);
    assert_eq!(r.out_of_window.client, 0);
}

#[test]
fn a_fill_sooner_than_the_senders_round_trip_after_the_dup_ack_is_reordering() {
    // Captured between the hosts (a forwarding router), no TCP timestamps
    // nor IPv4 ids: the handshake says the client is 0.1 ms away (SYN-ACK
    // to ACK here). Segment 2 is overtaken; the receiver's duplicate ACK for
    // it passes here 0.95 ms after the hole showed (a slow server side).
    // Segment 2 arriving 0.05 ms after that ACK was sent before the client
    // could know: reordered, though 1 ms after the hole. Arriving 0.95 ms
    // after that ACK, it can be the resend.
    for (after_dup_ms, expect_retrans) in [(0.05, false), (0.95, true)] {
        let mut c = Conn::new(7, 8);
        c.handshake();
        c.at(0.1).data(0, 1000);
        c.sent[0] += 1000; // segment 2 not seen (yet)
        c.at(0.01).data(0, 1000);
        c.at(0.95).ack(1, 1001); // the duplicate ACK at the hole
        c.at(after_dup_ms).resend(0, 1001, 1000);
        c.at(0.1).ack(1, 3001);
        let r = c.rec();
        let got = (r.retransmissions.client.segments, r.out_of_order.client);
        let want = if expect_retrans { (1, 0) } else { (0, 1) };
        assert_eq!(got, want, "fill {after_dup_ms} ms after the dup ACK");
    }
}
