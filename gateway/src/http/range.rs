//! A `Range` request header (RFC 9110 §14.1.2, §14.2), one byte range: enough for a
//! `<video>` seeking in a recording. Several ranges, other units and malformed values
//! are ignored (the whole file is sent, as the RFC allows).

/// What a `Range` header asks of a resource of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// No (usable) range: `200` and the whole.
    Whole,
    /// Bytes `first..=last`: `206`.
    Part { first: u64, last: u64 },
    /// Starts past the end: `416`.
    Unsatisfiable,
}

pub fn parse(header: Option<&str>, len: u64) -> Ranged {
    let Some(spec) = header
        .map(str::trim)
        .and_then(|h| h.strip_prefix("bytes="))
        .map(str::trim)
    else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    first: len.saturating_sub(n),
                    last: len - 1,
                }
            }
        }
        (false, Some(first), last) if last.is_some() || last_is_empty(spec) => {
            if first >= len {
                return Ranged::Unsatisfiable;
            }
            match last {
                Some(last) if last < first => Ranged::Whole,
                Some(last) => Ranged::Part {
                    first,
                    last: last.min(len - 1),
                },
                None => Ranged::Part {
                    first,
                    last: len - 1,
                },
            }
        }
        _ => Ranged::Whole,
    }
}

/// `a-`: an open end (as opposed to a malformed one).
fn last_is_empty(spec: &str) -> bool {
    spec.split_once('-')
        .is_some_and(|(_, last)| last.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_of_each_form() {
        let part = |first, last| Ranged::Part { first, last };
        assert_eq!(parse(None, 100), Ranged::Whole);
        assert_eq!(parse(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(parse(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(parse(Some("bytes=90-1000"), 100), part(90, 99));
        assert_eq!(parse(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(parse(Some("bytes=-1000"), 100), part(0, 99));
        assert_eq!(parse(Some("bytes=100-"), 100), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=200-300"), 100), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn anything_else_is_the_whole() {
        for h in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=x-1",
            "bytes=5-1",
            "bytes=",
            "bytes=1",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(parse(Some(h), 100), Ranged::Whole, "{h}");
        }
    }
}
