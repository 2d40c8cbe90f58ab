//! 64-bit sequence space: TCP's 32-bit sequence numbers unwrapped relative
//! to the highest value seen, so wraparound and streams over 4 GiB compare
//! correctly.

/// Unwraps 32-bit sequence numbers of one direction into a 64-bit space.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqSpace {
    /// Highest unwrapped value seen; `None` until the first one.
    reference: Option<u64>,
}

/// Unwrapped values start here so that sequence numbers slightly below the
/// first one seen (a retransmission in a midstream capture) stay positive.
const ORIGIN: u64 = 1 << 32;

impl SeqSpace {
    /// Unwraps `seq` to the 64-bit value nearest the reference (within ±2^31).
    pub fn unwrap(&self, seq: u32) -> u64 {
        match self.reference {
            None => ORIGIN + u64::from(seq),
            Some(r) => {
                let delta = seq.wrapping_sub(r as u32) as i32;
                r.wrapping_add_signed(i64::from(delta))
            }
        }
    }

    /// Unwraps and moves the reference forward if `seq` is ahead of it.
    pub fn advance(&mut self, seq: u32) -> u64 {
        let v = self.unwrap(seq);
        self.note(v);
        v
    }

    /// Moves the reference to `v` if it is ahead.
    pub fn note(&mut self, v: u64) {
        if self.reference.is_none_or(|r| v > r) {
            self.reference = Some(v);
        }
    }

    pub fn is_set(&self) -> bool {
        self.reference.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_forward() {
        let mut s = SeqSpace::default();
        let a = s.advance(u32::MAX - 10);
        let b = s.advance(5);
        assert_eq!(b - a, 16);
    }

    #[test]
    fn small_steps_backwards_stay_below() {
        let mut s = SeqSpace::default();
        let a = s.advance(3);
        let b = s.unwrap(u32::MAX - 2);
        assert_eq!(a - b, 6);
    }

    proptest! {
        /// Walking any stream in steps below 2^31 from any start, through
        /// any number of wraps, yields the true 64-bit offsets.
        #[test]
        fn unwrapped_offsets_are_exact(start in any::<u32>(), steps in proptest::collection::vec(0u32..(1 << 30), 1..200)) {
            let mut s = SeqSpace::default();
            let base = s.advance(start);
            let mut truth: u64 = 0;
            for step in steps {
                truth += u64::from(step);
                let seq = start.wrapping_add(truth as u32);
                let got = s.advance(seq);
                prop_assert_eq!(got - base, truth);
            }
        }

        /// A retransmission up to 2^31 behind the front unwraps behind it.
        #[test]
        fn retransmissions_behind_the_front(start in any::<u32>(), ahead in 0u64..(1 << 40), back in 1u32..(1 << 31)) {
            let mut s = SeqSpace::default();
            let base = s.advance(start);
            // Advance in safe steps to `ahead`.
            let mut pos = 0u64;
            while pos < ahead {
                pos = (pos + (1 << 30)).min(ahead);
                s.advance(start.wrapping_add(pos as u32));
            }
            let old = start.wrapping_add(pos as u32).wrapping_sub(back);
            prop_assert_eq!(s.unwrap(old) as i128 - base as i128, pos as i128 - i128::from(back));
        }
    }
}
