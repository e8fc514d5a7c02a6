//! One-shot commands beside `serve`: rtmpdump's jobs (`dump`, `probe`, `push`) done with the
//! same core, and `sign`, which prints signed URLs.

pub mod dump;
pub mod probe;
pub mod push;
pub mod sign;
