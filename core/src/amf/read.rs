//! The input cursor and the per-call budget shared by the AMF0 and AMF3
//! decoders.
//!
//! References are resolved by re-decoding the referenced value from where it
//! starts in the input ("replay") rather than by keeping a copy of every
//! complex value: the reference tables then hold offsets only, and every value
//! a replay builds passes through the same depth and element checks as the
//! original did.

use super::{AmfError, Limits};
use alloc::borrow::ToOwned;
use alloc::string::String;

/// Copied string bytes allowed per element of `max_elements` (see [`Limits`]).
const COPIED_BYTES_PER_ELEMENT: usize = 64;

#[derive(Clone)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Reader { input, pos: 0 }
    }

    /// A reader over the same input at `pos`, to replay a referenced value.
    pub fn at(&self, pos: usize) -> Self {
        Reader {
            input: self.input,
            pos: pos.min(self.input.len()),
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(AmfError::Truncated {
                offset: self.pos,
                needed: n - rest.len(),
            }),
        }
    }

    /// `len` bytes whose length was declared at `at`; a length beyond the end
    /// of the input is reported as such instead of as plain truncation.
    pub fn sized(
        &mut self,
        len: usize,
        at: usize,
        what: &'static str,
    ) -> Result<&'a [u8], AmfError> {
        self.check_len(len, at, what)?;
        self.take(len)
    }

    /// Rejects a declared length or count (of items at least one byte each)
    /// that cannot fit in the rest of the input, before anything is allocated.
    pub fn check_len(&self, len: usize, at: usize, what: &'static str) -> Result<(), AmfError> {
        if len > self.remaining() {
            return Err(AmfError::TooLong {
                offset: at,
                what,
                declared: len,
                available: self.remaining(),
            });
        }
        Ok(())
    }

    /// Bytes of the input at `start..start + len`, for AMF3 string references.
    pub fn slice(&self, start: usize, len: usize) -> Result<&'a [u8], AmfError> {
        self.at(start).take(len)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub fn u16(&mut self) -> Result<u16, AmfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn i16(&mut self) -> Result<i16, AmfError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, AmfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.array()?))
    }
}

/// UTF-8 if valid, else Latin-1 (see the module docs of [`super`]).
pub(crate) fn text(bytes: &[u8]) -> String {
    match core::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// What one decode call has spent of its [`Limits`].
pub(crate) struct Budget {
    limits: Limits,
    elements: usize,
    depth: usize,
    copied: usize,
    /// Nesting of replays in progress; while non-zero every string byte
    /// materialized is a copy.
    replaying: usize,
}

impl Budget {
    pub fn new(limits: &Limits) -> Self {
        Budget {
            limits: *limits,
            elements: 0,
            depth: 0,
            copied: 0,
            replaying: 0,
        }
    }

    /// Counts one value.
    pub fn value(&mut self, offset: usize) -> Result<(), AmfError> {
        self.reserve(1, offset)?;
        self.elements += 1;
        Ok(())
    }

    /// Checks that `count` more values fit, without counting them yet.
    pub fn reserve(&self, count: usize, offset: usize) -> Result<(), AmfError> {
        if self.elements.saturating_add(count) > self.limits.max_elements {
            return Err(AmfError::TooManyElements {
                offset,
                limit: self.limits.max_elements,
            });
        }
        Ok(())
    }

    pub fn enter(&mut self, offset: usize) -> Result<(), AmfError> {
        if self.depth >= self.limits.max_depth {
            return Err(AmfError::DepthLimit {
                offset,
                limit: self.limits.max_depth,
            });
        }
        self.depth += 1;
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub fn start_replay(&mut self) {
        self.replaying += 1;
    }

    pub fn end_replay(&mut self) {
        self.replaying = self.replaying.saturating_sub(1);
    }

    /// Accounts for `n` string or byte-array bytes about to be allocated.
    pub fn materialize(&mut self, n: usize, offset: usize) -> Result<(), AmfError> {
        if self.replaying > 0 {
            self.copy(n, offset)?;
        }
        Ok(())
    }

    /// Accounts for `n` bytes copied through a reference.
    pub fn copy(&mut self, n: usize, offset: usize) -> Result<(), AmfError> {
        let limit = self
            .limits
            .max_elements
            .saturating_mul(COPIED_BYTES_PER_ELEMENT);
        self.copied = self.copied.saturating_add(n);
        if self.copied > limit {
            return Err(AmfError::ReferenceExpansion { offset, limit });
        }
        Ok(())
    }
}

/// An entry of a complex-object reference table: where the value starts, and
/// whether it is complete (a reference to an unfinished value is circular).
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub start: usize,
    pub done: bool,
}

/// Looks up `index` for a reference read at `offset`.
pub(crate) fn lookup(
    table: &[Entry],
    index: usize,
    offset: usize,
    name: &'static str,
) -> Result<Entry, AmfError> {
    let entry = table.get(index).copied().ok_or(AmfError::BadReference {
        offset,
        table: name,
        index,
        len: table.len(),
    })?;
    if !entry.done {
        return Err(AmfError::CircularReference { offset, index });
    }
    Ok(entry)
}
