//! Zeek-compatible connection state (`conn_state`) and `history` string.
//!
//! Endpoint states follow Zeek's TCP analyzer; the state names and the
//! decision table follow Zeek's base/protocols/conn/main.zeek, so our
//! conn_state values mean what Zeek users expect.

/// What an endpoint has done, as Zeek tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Seen midstream (data or ACK without a SYN).
    Partial,
    Established,
    Closed,
    Reset,
}

/// Letters that repeat logarithmically (at the 1st, 10th, 100th … time).
#[derive(Debug, Clone, Copy)]
pub enum Repeating {
    Retransmission,
    Gap,
    ZeroWindow,
}

/// The history string, built as packets arrive.
#[derive(Debug, Clone, Default)]
pub struct History {
    letters: String,
    /// Once-only letters already recorded: index by direction.
    seen: [u8; 2],
    /// Next count at which a repeating letter is recorded, by kind and direction.
    thresholds: [[u64; 2]; 3],
    counts: [[u64; 2]; 3],
}

/// Once-only letters, as bits of `seen`.
const S: u8 = 1;
const H: u8 = 2;
const A: u8 = 4;
const D: u8 = 8;
const F: u8 = 16;
const R: u8 = 32;

impl History {
    /// Marks the history as direction-flipped (Zeek's `^`).
    pub fn flip(&mut self) {
        if !self.letters.starts_with('^') {
            self.letters.insert(0, '^');
        }
    }

    fn once(&mut self, dir: usize, bit: u8, letter: char) {
        if self.seen[dir] & bit == 0 {
            self.seen[dir] |= bit;
            self.letters.push(case(dir, letter));
        }
    }

    /// Records the flag-derived letters of one packet from `dir` (0 = originator).
    pub fn packet(
        &mut self,
        dir: usize,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
        payload: bool,
    ) {
        if syn && !ack {
            self.once(dir, S, 'S');
        }
        if syn && ack {
            self.once(dir, H, 'H');
        }
        if ack && !syn && !fin && !rst && !payload {
            self.once(dir, A, 'A');
        }
        if payload {
            self.once(dir, D, 'D');
        }
        if fin {
            self.once(dir, F, 'F');
        }
        if rst {
            self.once(dir, R, 'R');
        }
    }

    /// Records a repeating event (retransmission, gap, zero window).
    pub fn repeating(&mut self, dir: usize, kind: Repeating) {
        self.repeating_n(dir, kind, 1);
    }

    /// Records `n` repeating events at once (the segments a gap spans):
    /// the letter repeats at the 1st, 10th, 100th... event, as Zeek does,
    /// in time independent of `n`.
    pub fn repeating_n(&mut self, dir: usize, kind: Repeating, n: u64) {
        let (k, letter) = match kind {
            Repeating::Retransmission => (0, 'T'),
            Repeating::Gap => (1, 'G'),
            Repeating::ZeroWindow => (2, 'W'),
        };
        let count = &mut self.counts[k][dir];
        *count = count.saturating_add(n);
        let threshold = &mut self.thresholds[k][dir];
        if *threshold == 0 {
            *threshold = 1;
        }
        // At most 20 thresholds fit in a u64: the loop is short.
        while *count >= *threshold && *threshold != u64::MAX {
            self.letters.push(case(dir, letter));
            *threshold = threshold.saturating_mul(10);
        }
    }

    pub fn as_str(&self) -> &str {
        &self.letters
    }
}

fn case(dir: usize, letter: char) -> char {
    if dir == 0 {
        letter
    } else {
        letter.to_ascii_lowercase()
    }
}

/// Zeek's conn_state from the two endpoint states.
///
/// `sizes_zero`: neither side sent payload; `history`: for RSTOS0.
pub fn conn_state(
    orig: EndpointState,
    resp: EndpointState,
    sizes_zero: bool,
    history: &str,
) -> &'static str {
    use EndpointState::*;
    let o_inactive = matches!(orig, Inactive | Partial);
    let r_inactive = matches!(resp, Inactive | Partial);
    if resp == Reset {
        if matches!(orig, SynSent | SynAckSent) || (orig == Reset && sizes_zero) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if orig == Reset {
        if r_inactive {
            if rstos0(history) {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else {
            "RSTO"
        }
    } else if resp == Closed && orig == Closed {
        "SF"
    } else if orig == Closed {
        if r_inactive {
            "SH"
        } else {
            "S2"
        }
    } else if resp == Closed {
        if o_inactive {
            "SHR"
        } else {
            "S3"
        }
    } else if orig == SynSent && resp == Inactive {
        "S0"
    } else if orig == Established && resp == Established {
        "S1"
    } else {
        "OTH"
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/`: a SYN, then a RST before any handshake reply.
fn rstos0(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::EndpointState::*;
    use super::*;

    #[test]
    fn normal_connection_history() {
        let mut h = History::default();
        h.packet(0, true, false, false, false, false); // S
        h.packet(1, true, true, false, false, false); // h
        h.packet(0, false, true, false, false, false); // A
        h.packet(0, false, true, false, false, true); // D
        h.packet(1, false, true, false, false, false); // a
        h.packet(1, false, true, false, false, true); // d
        h.packet(0, false, true, true, false, false); // F
        h.packet(1, false, true, true, false, false); // f
        assert_eq!(h.as_str(), "ShADadFf");
    }

    #[test]
    fn repeating_letters_are_logarithmic() {
        let mut h = History::default();
        for _ in 0..150 {
            h.repeating(0, Repeating::Retransmission);
        }
        assert_eq!(h.as_str(), "TTT");
    }

    #[test]
    fn states() {
        assert_eq!(conn_state(SynSent, Inactive, true, "S"), "S0");
        assert_eq!(conn_state(SynSent, Reset, true, "Sr"), "REJ");
        assert_eq!(conn_state(Closed, Closed, false, "ShADadFf"), "SF");
        assert_eq!(conn_state(Reset, Established, false, "ShADadR"), "RSTO");
        assert_eq!(conn_state(Established, Reset, false, "ShADadr"), "RSTR");
        assert_eq!(conn_state(Reset, Inactive, true, "SR"), "RSTOS0");
        assert_eq!(conn_state(Established, Established, false, "ShADad"), "S1");
        assert_eq!(conn_state(Partial, Partial, false, "Dd"), "OTH");
        assert_eq!(conn_state(Closed, Inactive, false, "SF"), "SH");
    }
}
