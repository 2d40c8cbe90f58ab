//! Roll-ups of Hubble flow logs (filled in below).
