//! Tables written by the analyzer (`retina-analyze --parquet DIR`).
//!
//! `flow_id` is the JSON output's `flows[].id` in every table, so the tables
//! join with each other and with the JSON document of the same run.

table! {
    /// `flows.parquet`: one row per flow, the JSON flow flattened.
    pub static FLOWS: TableDef = "flows", row FlowTableRow, names FlowTableColumns;
    doc: "One row per flow: every field of the JSON output's `flows[]` object flattened into typed \
          columns (per-direction values as `_client`/`_server` pairs, summaries as `_p50`, `_p99`, … \
          columns, units in the column names). Rows are in `flow_id` order (by first packet). \
          TCP columns are null for other protocols, DNS columns for flows without DNS.";
    columns {
        flow_id: U64, "Flow id: `flows[].id` of the JSON output of the same run; joins `events`, `dns` and `packets`.",
        proto: Str, "`tcp`, `udp`, `icmp`, `icmpv6`, `gre`, `esp`, `sctp` or `ip-proto-N`.",
        client_ip: Str, "Client (originator) address as text.",
        client_port: U16, "Client port (ICMP: the originator's message type).",
        server_ip: Str, "Server (responder) address as text.",
        server_port: U16, "Server port (ICMP: the originator's message code).",
        first_time: Timestamp, "First packet (UTC, exact: `flows[].first_ts_ns`).",
        last_time: Timestamp, "Last packet (UTC).",
        duration_s: F64, "`last_time - first_time` in seconds.",
        packets_client: U64, "Packets (frames) of the flow; IP fragments each count. Sent by the client.",
        packets_server: U64, "Packets (frames) of the flow; IP fragments each count. Sent by the server.",
        ip_bytes_client: U64, "Sum of the innermost IP packets' total lengths. Sent by the client.",
        ip_bytes_server: U64, "Sum of the innermost IP packets' total lengths. Sent by the server.",
        payload_bytes_client: U64, "Transport payload bytes, retransmissions included. Sent by the client.",
        payload_bytes_server: U64, "Transport payload bytes, retransmissions included. Sent by the server.",
        bytes_total: U64, "`ip_bytes_client + ip_bytes_server`.",
        tunnel_type: Option<Str>, "`vxlan`, `geneve`, `ipip` or `gre` when the flow was carried in a tunnel.",
        tunnel_vni: Option<U32>, "VNI of that tunnel (the GRE key for GRE; 0 for IP-in-IP).",
        tunnel_client: Option<Str>, "The tunnel's outer address on the client's side (the node that carried its packets).",
        tunnel_server: Option<Str>, "The tunnel's outer address on the server's side.",
        vlan: Option<Str>, "VLAN ids of its frames, outer first, joined by `/` (`42`, `10/20`); null when untagged.",
        community_id: Option<Str>, "Community ID v1 (seed 0), as Zeek, Suricata and Arkime log it.",
        role_basis: Str, "How the client was decided: `syn`, `syn_ack`, `echo_request`, `server_port`, `first_packet`.",
        end_reason: Str, "`fin`, `rst`, `idle`, `reused`, `end_of_capture` or `evicted` (`--max-flows`).",
        fragments: U64, "IP fragments counted in this flow.",
        icmp_type: Option<U8>, "ICMP flows: type of the originator's message.",
        icmp_code: Option<U8>, "ICMP flows: code of that message.",
        icmp_echo_id: Option<U16>, "ICMP echo identifier.",
        icmp_error_count: U64, "ICMP errors quoting this flow's packets (sum of `flows[].icmp_errors[].count`).",
        icmp_errors_json: Option<Str>, "`flows[].icmp_errors` as a JSON array (`[{\"type\",\"code\",\"reporter\",\"about\",\"count\"}]`); null when empty.",
        tcp_conn_state: Option<Str>, "TCP: Zeek's conn_state (`SF`, `S0`, `REJ`, `RSTO`, …).",
        tcp_history: Option<Str>, "TCP: Zeek's history string.",
        handshake_rtt_ms: Option<F64>, "TCP: SYN to the handshake's final ACK, milliseconds.",
        connect_ms: Option<F64>, "TCP: the client's first SYN to the handshake's final ACK (SYN retries included), milliseconds.",
        handshake_syn_to_synack_ms: Option<F64>, "TCP: SYN to SYN-ACK leg, milliseconds.",
        handshake_synack_to_ack_ms: Option<F64>, "TCP: SYN-ACK to ACK leg, milliseconds.",
        rtt_ms_samples: Option<U64>, "TCP data RTT (both directions; `flows[].tcp.rtt_ms`): number of samples.",
        rtt_ms_min: Option<F64>, "TCP data RTT (both directions; `flows[].tcp.rtt_ms`): min, milliseconds.",
        rtt_ms_p50: Option<F64>, "TCP data RTT (both directions; `flows[].tcp.rtt_ms`): p50, milliseconds.",
        rtt_ms_p90: Option<F64>, "TCP data RTT (both directions; `flows[].tcp.rtt_ms`): p90, milliseconds.",
        rtt_ms_p99: Option<F64>, "TCP data RTT (both directions; `flows[].tcp.rtt_ms`): p99, milliseconds.",
        rtt_ms_max: Option<F64>, "TCP data RTT (both directions; `flows[].tcp.rtt_ms`): max, milliseconds.",
        rtt_ms_client_samples: Option<U64>, "TCP data RTT of data sent by the client: number of samples.",
        rtt_ms_client_min: Option<F64>, "TCP data RTT of data sent by the client: min, milliseconds.",
        rtt_ms_client_p50: Option<F64>, "TCP data RTT of data sent by the client: p50, milliseconds.",
        rtt_ms_client_p90: Option<F64>, "TCP data RTT of data sent by the client: p90, milliseconds.",
        rtt_ms_client_p99: Option<F64>, "TCP data RTT of data sent by the client: p99, milliseconds.",
        rtt_ms_client_max: Option<F64>, "TCP data RTT of data sent by the client: max, milliseconds.",
        rtt_ms_server_samples: Option<U64>, "TCP data RTT of data sent by the server: number of samples.",
        rtt_ms_server_min: Option<F64>, "TCP data RTT of data sent by the server: min, milliseconds.",
        rtt_ms_server_p50: Option<F64>, "TCP data RTT of data sent by the server: p50, milliseconds.",
        rtt_ms_server_p90: Option<F64>, "TCP data RTT of data sent by the server: p90, milliseconds.",
        rtt_ms_server_p99: Option<F64>, "TCP data RTT of data sent by the server: p99, milliseconds.",
        rtt_ms_server_max: Option<F64>, "TCP data RTT of data sent by the server: max, milliseconds.",
        ts_rtt_ms_samples: Option<U64>, "TCP timestamp RTT: number of samples.",
        ts_rtt_ms_min: Option<F64>, "TCP timestamp RTT: min, milliseconds.",
        ts_rtt_ms_p50: Option<F64>, "TCP timestamp RTT: p50, milliseconds.",
        ts_rtt_ms_p90: Option<F64>, "TCP timestamp RTT: p90, milliseconds.",
        ts_rtt_ms_p99: Option<F64>, "TCP timestamp RTT: p99, milliseconds.",
        ts_rtt_ms_max: Option<F64>, "TCP timestamp RTT: max, milliseconds.",
        response_time_ms_count: Option<U64>, "TCP server response time per request/response turn: number of samples.",
        response_time_ms_p50: Option<F64>, "TCP server response time per request/response turn: p50, milliseconds.",
        response_time_ms_p99: Option<F64>, "TCP server response time per request/response turn: p99, milliseconds.",
        response_time_ms_max: Option<F64>, "TCP server response time per request/response turn: max, milliseconds.",
        data_segments_client: Option<U64>, "TCP: segments with payload, retransmissions included. Sent by the client.",
        data_segments_server: Option<U64>, "TCP: segments with payload, retransmissions included. Sent by the server.",
        retrans_segments_client: Option<U64>, "TCP retransmissions: every retransmitted data segment. Sent by the client.",
        retrans_segments_server: Option<U64>, "TCP retransmissions: every retransmitted data segment. Sent by the server.",
        retrans_bytes_client: Option<U64>, "TCP retransmissions: payload bytes of those. Sent by the client.",
        retrans_bytes_server: Option<U64>, "TCP retransmissions: payload bytes of those. Sent by the server.",
        retrans_rto_client: Option<U64>, "TCP retransmissions: retransmissions by timeout. Sent by the client.",
        retrans_rto_server: Option<U64>, "TCP retransmissions: retransmissions by timeout. Sent by the server.",
        retrans_fast_client: Option<U64>, "TCP retransmissions: fast retransmissions / loss recovery. Sent by the client.",
        retrans_fast_server: Option<U64>, "TCP retransmissions: fast retransmissions / loss recovery. Sent by the server.",
        retrans_tlp_client: Option<U64>, "TCP retransmissions: tail loss probes. Sent by the client.",
        retrans_tlp_server: Option<U64>, "TCP retransmissions: tail loss probes. Sent by the server.",
        retrans_spurious_client: Option<U64>, "TCP retransmissions: unnecessary retransmissions (a subset). Sent by the client.",
        retrans_spurious_server: Option<U64>, "TCP retransmissions: unnecessary retransmissions (a subset). Sent by the server.",
        out_of_order_client: Option<U64>, "TCP: segments the network reordered. Sent by the client.",
        out_of_order_server: Option<U64>, "TCP: segments the network reordered. Sent by the server.",
        capture_lost_segments_client: Option<U64>, "TCP: data acknowledged but never seen by the capture (estimated segments). Sent by the client.",
        capture_lost_segments_server: Option<U64>, "TCP: data acknowledged but never seen by the capture (estimated segments). Sent by the server.",
        capture_lost_bytes_client: Option<U64>, "TCP: bytes of that data. Sent by the client.",
        capture_lost_bytes_server: Option<U64>, "TCP: bytes of that data. Sent by the server.",
        dup_acks_client: Option<U64>, "TCP: duplicate ACKs. Sent by the client.",
        dup_acks_server: Option<U64>, "TCP: duplicate ACKs. Sent by the server.",
        zero_windows_client: Option<U64>, "TCP: segments advertising a zero window. Sent by the client.",
        zero_windows_server: Option<U64>, "TCP: segments advertising a zero window. Sent by the server.",
        zero_window_probes_client: Option<U64>, "TCP: zero-window probes. Sent by the client.",
        zero_window_probes_server: Option<U64>, "TCP: zero-window probes. Sent by the server.",
        window_full_client: Option<U64>, "TCP: segments that filled the peer's window. Sent by the client.",
        window_full_server: Option<U64>, "TCP: segments that filled the peer's window. Sent by the server.",
        keep_alives_client: Option<U64>, "TCP: keep-alives. Sent by the client.",
        keep_alives_server: Option<U64>, "TCP: keep-alives. Sent by the server.",
        resets_client: Option<U64>, "TCP: RST segments. Sent by the client.",
        resets_server: Option<U64>, "TCP: RST segments. Sent by the server.",
        duplicates_client: Option<U64>, "TCP: the same packet captured more than once. Sent by the client.",
        duplicates_server: Option<U64>, "TCP: the same packet captured more than once. Sent by the server.",
        unique_bytes_client: Option<U64>, "TCP: payload sequence space the application sent. Sent by the client.",
        unique_bytes_server: Option<U64>, "TCP: payload sequence space the application sent. Sent by the server.",
        syn_retransmissions: Option<U64>, "TCP: client SYNs beyond the first.",
        synack_retransmissions: Option<U64>, "TCP: server SYN-ACKs beyond the first.",
        mss_client: Option<U16>, "TCP: MSS option of the client's SYN.",
        window_scale_client: Option<U8>, "TCP: window scale option of the client's SYN.",
        sack_permitted_client: Option<Bool>, "TCP: the client's SYN offered SACK.",
        timestamps_client: Option<Bool>, "TCP: the client's SYN offered timestamps.",
        mss_server: Option<U16>, "TCP: MSS option of the server's SYN.",
        window_scale_server: Option<U8>, "TCP: window scale option of the server's SYN.",
        sack_permitted_server: Option<Bool>, "TCP: the server's SYN offered SACK.",
        timestamps_server: Option<Bool>, "TCP: the server's SYN offered timestamps.",
        dns_queries: Option<U64>, "DNS: queries sent (resends included).",
        dns_responses: Option<U64>, "DNS: responses.",
        dns_unanswered: Option<U64>, "DNS: queries without response after 5 s, or older than the server's timeout when the capture ended.",
        dns_pending_at_end: Option<U64>, "DNS: queries without response, younger than the server's timeout when the capture ended.",
        dns_retries: Option<U64>, "DNS: queries resent with the same id and question.",
        dns_unmatched_responses: Option<U64>, "DNS: responses matching no query seen.",
        dns_rcodes_json: Option<Str>, "DNS: responses by RCODE name as a JSON object (`{\"NOERROR\": 3}`).",
        dns_latency_ms_count: Option<U64>, "DNS latency (query to response): number of samples.",
        dns_latency_ms_p50: Option<F64>, "DNS latency (query to response): p50, milliseconds.",
        dns_latency_ms_p99: Option<F64>, "DNS latency (query to response): p99, milliseconds.",
        dns_latency_ms_max: Option<F64>, "DNS latency (query to response): max, milliseconds.",
        client_k8s_kind: Option<Str>, "Kubernetes: what the client address is (`pod`, `service`, `node`), from `--k8s` or Hubble flows.",
        client_namespace: Option<Str>, "Kubernetes: the client's namespace.",
        client_name: Option<Str>, "Kubernetes: the client's pod, service or node name.",
        client_workload: Option<Str>, "Kubernetes: the client pod's workload (Deployment name for ReplicaSet pods).",
        client_workload_kind: Option<Str>, "Kubernetes: kind of `client_workload`.",
        client_node: Option<Str>, "Kubernetes: node of the client pod.",
        server_k8s_kind: Option<Str>, "Kubernetes: what the server address is (`pod`, `service`, `node`).",
        server_namespace: Option<Str>, "Kubernetes: the server's namespace.",
        server_name: Option<Str>, "Kubernetes: the server's pod, service or node name.",
        server_workload: Option<Str>, "Kubernetes: the server pod's workload.",
        server_workload_kind: Option<Str>, "Kubernetes: kind of `server_workload`.",
        server_node: Option<Str>, "Kubernetes: node of the server pod.",
        kernel_drops: Option<U64>, "Packets of this flow the kernel dropped (capture-agent drop events); null without drop data for the flow.",
        kernel_drop_reasons_json: Option<Str>, "Those drops by kernel drop reason as a JSON object (`{\"NETFILTER_DROP\": 3}`).",
        primary_point: Option<U32>, "Several capture points: the point whose clock timed the flow (`flows[].primary_point`, `points.point`); null for a single point.",
        points_seen: U32, "Capture points that saw the flow (0 for a single-point capture).",
        lost_between_segments: U64, "Segments seen at one capture point and never at the next one downstream (sum of `lost_between.segments` of the flow).",
    }
}

table! {
    /// `events.parquet`: one row per notable event, written while the capture is read.
    pub static EVENTS: TableDef = "events", row EventTableRow, names EventTableColumns;
    doc: "One row per notable event, written in row groups while the capture is read. Rows come in \
          the order the analysis decided them (packet order; DNS timeouts and end-of-flow capture \
          loss when their flow ends): sort by `time` for a time line. For every kind, the sum of \
          `count` equals the JSON counter named in `kind`'s description.";
    columns {
        flow_id: U64, "Flow id (`flows.flow_id`, the JSON `flows[].id`).",
        time: Timestamp, "When the event was seen (UTC): the packet's time; for `dns_timeout` the unanswered query's time; for capture loss found at the end of a flow, its last packet.",
        kind: Str, "`retransmission` (JSON `tcp.retransmissions.*.segments`), `spurious_retransmission` (a retransmission a later D-SACK showed unnecessary; with the `retransmission` rows whose `spurious` is true these make `retransmissions.*.spurious`), `out_of_order` (`tcp.out_of_order`), `capture_loss` (`tcp.capture_lost_segments`, bytes in `bytes`), `zero_window` (`tcp.zero_windows`), `reset` (`tcp.resets`), `syn_retry` (`tcp.syn_retransmissions`), `duplicate` (`tcp.duplicates`), `dns_timeout` (`dns.unanswered`).",
        direction: Str, "`to_server` (sent by the client) or `to_client` (sent by the server): the side whose data or packet the event is about. `dns_timeout`: the query's direction, `to_server`.",
        class: Option<Str>, "Retransmissions: the mechanism, `rto`, `fast` or `tlp`.",
        spurious: Option<Bool>, "Retransmissions: already acknowledged when sent (unnecessary). D-SACKs found later appear as `spurious_retransmission` rows.",
        seq: Option<U32>, "TCP sequence number (raw, as on the wire) of the segment; for `capture_loss` the start of the first missing range.",
        bytes: Option<U64>, "Payload bytes of the segment; for `capture_loss` the bytes missed.",
        count: U64, "What the event counts: 1, except `capture_loss` (estimated segments missed).",
    }
}

table! {
    /// `dns.parquet`: one row per DNS query.
    pub static DNS: TableDef = "dns", row DnsTableRow, names DnsTableColumns;
    doc: "One row per DNS query message (resends included: the row count equals the JSON \
          `dns.queries`), written when its outcome is known.";
    columns {
        flow_id: U64, "Flow id (`flows.flow_id`).",
        time: Timestamp, "When the query was seen (UTC).",
        txid: U16, "DNS transaction id.",
        qname: Str, "First question's name, escaped as in the JSON (`\\DDD` for unusual bytes).",
        qtype: U16, "First question's type (1 A, 28 AAAA, 33 SRV, …).",
        status: Str, "`answered`, `unanswered` (no response within 5 s, or older than its server's timeout `dns.servers[].timeout_ms` when the capture ended), `pending_at_end` (younger than that when the capture ended), or `retry` (a resend of a query still waiting; its outcome is on the first query's row).",
        response_time: Option<Timestamp>, "When the matching response was seen (answered queries).",
        latency_ms: Option<F64>, "Response time minus query time, milliseconds.",
        rcode: Option<Str>, "Response code name (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, …).",
        answers: Option<U16>, "Answer records in the response.",
        truncated: Option<Bool>, "The response had the TC (truncated) bit.",
    }
}

table! {
    /// `packets.parquet`: one row per packet of a flow (`--parquet-packets`).
    pub static PACKETS: TableDef = "packets", row PacketTableRow, names PacketTableColumns;
    doc: "One row per packet counted in a flow (the sum of the JSON `flows[].packets`; ICMP errors, \
          which are counted in `icmp_errors` instead, and frames that produced no flow packet are \
          not rows), with the TCP analysis' verdict. Written in row groups while the capture is \
          read, in time order; only with `--parquet-packets`.";
    columns {
        flow_id: U64, "Flow id (`flows.flow_id`).",
        time: Timestamp, "Capture time (UTC).",
        direction: Str, "`to_server` (sent by the client) or `to_client`.",
        ip_len: U32, "Innermost IP packet's total length.",
        payload_len: U32, "Transport payload length.",
        tcp_flags: Option<Str>, "TCP flags as letters: `S` SYN, `A` ACK, `F` FIN, `R` RST, `P` PSH, `U` URG, `E` ECE, `C` CWR.",
        seq: Option<U32>, "TCP sequence number (raw).",
        ack: Option<U32>, "TCP acknowledgment number (raw; meaningful when `A` is set).",
        window: Option<U16>, "TCP window field as sent (not scaled).",
        retransmission: Option<Bool>, "TCP: a retransmission.",
        retrans_class: Option<Str>, "TCP retransmissions: `rto`, `fast` or `tlp`.",
        out_of_order: Option<Bool>, "TCP: new data the network reordered.",
        duplicate: Option<Bool>, "TCP: the same packet captured again (left out of the analysis).",
        zero_window: Option<Bool>, "TCP: advertises a zero window.",
        syn_retry: Option<Bool>, "TCP: a client SYN beyond the first.",
        rtt_ms: Option<F64>, "TCP: the data RTT sample this ACK produced, milliseconds.",
        point: Option<U32>, "Several capture points: the point that saw this copy (`points.point`); each point's copy is a row. Null for a single point.",
        distinct: Option<Bool>, "Several capture points: the first copy of its packet (no other point had seen it): the rows the flow's counts and verdicts come from.",
    }
}

table! {
    /// `points.parquet`: one row per capture point.
    pub static POINTS: TableDef = "points", row PointTableRow, names PointTableColumns;
    doc: "One row per capture point: a file (or an archive's node) times an interface \
          (`capture.points[]` of the JSON output).";
    columns {
        point: U32, "Point id (`capture.points[].id`; `packets.point`, `lost_between.from_point`, …).",
        file: Str, "The capture file (an archive member as `ARCHIVE:MEMBER`).",
        more_files: Option<Str>, "Files that continue the point in time (a rotated capture), as a JSON array; null when none.",
        node: Option<Str>, "Node the file was captured on, when an archive names it.",
        interface: Str, "Interface name, `if<N>`, or `-` (the file's only interface).",
        packets: U64, "Packets captured there.",
    }
}

table! {
    /// `lost_between.parquet`: packets one point saw and the next one downstream never did.
    pub static LOST_BETWEEN: TableDef = "lost_between", row LostBetweenTableRow, names LostBetweenTableColumns;
    doc: "One row per flow, direction and pair of consecutive capture points between which packets \
          were lost (`flows[].lost_between[]` of the JSON output).";
    columns {
        flow_id: U64, "Flow id (`flows.flow_id`).",
        from_point: U32, "The upstream point (`points.point`).",
        to_point: U32, "The next point downstream.",
        direction: Str, "Whose packets: `client` or `server`.",
        packets: U64, "Packets `from_point` saw that `to_point` never did.",
        bytes: U64, "Their IP bytes.",
        payload_bytes: U64, "Their TCP payload bytes.",
        segments: U64, "Segments (payload over the segment size where receive offload merged packets).",
        kernel_drop_reasons_json: Option<Str>, "Kernel drops of the flow on that node by reason, as a JSON object; null without a bundle of the node.",
    }
}

/// Every analyzer table, in documentation order.
pub static ALL: [&crate::TableDef; 6] = [&FLOWS, &EVENTS, &DNS, &PACKETS, &POINTS, &LOST_BETWEEN];
