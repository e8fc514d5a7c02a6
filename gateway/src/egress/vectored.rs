//! Queued bytes written out in vectored writes: a viewer's batch of shared tags or
//! chunks goes out in one system call, nothing copied into a buffer of its own.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Buffers handed to one vectored write (Linux takes up to 1024).
const MAX_SLICES: usize = 128;

/// Writes every buffer of `pending` in order, emptying it. With `stall`, a write that
/// makes no progress for that long fails with `TimedOut` (a peer that stopped
/// reading), while a slow peer that keeps reading is waited for however long it takes.
pub async fn write_all<W: AsyncWrite + Unpin>(
    io: &mut W,
    pending: &mut VecDeque<Bytes>,
    stall: Option<Duration>,
) -> std::io::Result<()> {
    pending.retain(|b| !b.is_empty());
    while !pending.is_empty() {
        let slices: Vec<IoSlice<'_>> = pending
            .iter()
            .take(MAX_SLICES)
            .map(|b| IoSlice::new(b))
            .collect();
        let write = io.write_vectored(&slices);
        let written = match stall {
            Some(limit) => tokio::time::timeout(limit, write)
                .await
                .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))?,
            None => write.await,
        };
        drop(slices);
        let mut n = match written? {
            0 => return Err(ErrorKind::WriteZero.into()),
            n => n,
        };
        while let Some(front) = pending.front_mut()
            && n > 0
        {
            if front.len() <= n {
                n -= front.len();
                pending.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
    Ok(())
}
