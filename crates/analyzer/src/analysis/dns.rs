//! DNS transactions (placeholder until the DNS analysis lands).
