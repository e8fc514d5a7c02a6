//! Durations and sizes as an operator writes them in the file: `"90s"`, `"1h"`,
//! `"7d"`, `"500ms"` or a number of seconds; `"10GB"`, `"512MiB"` or a number of bytes.

use std::time::Duration;

use serde::Deserialize;

/// A number or a string with a unit, as the file has it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    Number(f64),
    Text(String),
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Number(n) => write!(f, "{n}"),
            Quantity::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// From a command-line flag: a number, or a number with its unit.
impl std::str::FromStr for Quantity {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Quantity, Self::Err> {
        Ok(match text.trim().parse() {
            Ok(n) => Quantity::Number(n),
            Err(_) => Quantity::Text(text.to_owned()),
        })
    }
}

impl Quantity {
    /// A duration: a number of seconds, or a number with `ms`, `s`, `m`, `h` or `d`.
    pub fn duration(&self) -> Option<Duration> {
        let seconds = self.scaled(|unit| match unit {
            "ms" => Some(0.001),
            "" | "s" => Some(1.0),
            "m" | "min" => Some(60.0),
            "h" => Some(3600.0),
            "d" => Some(86_400.0),
            _ => None,
        })?;
        Duration::try_from_secs_f64(seconds).ok()
    }

    /// A size in bytes: a number, or a number with `k`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB`
    /// (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024).
    pub fn bytes(&self) -> Option<u64> {
        whole(
            self.scaled(|unit| match unit.to_ascii_lowercase().as_str() {
                "" | "b" => Some(1.0),
                "k" | "kb" => Some(1e3),
                "m" | "mb" => Some(1e6),
                "g" | "gb" => Some(1e9),
                "t" | "tb" => Some(1e12),
                "kib" => Some(1024.0),
                "mib" => Some(1024.0 * 1024.0),
                "gib" => Some(1024.0 * 1024.0 * 1024.0),
                "tib" => Some(1024.0 * 1024.0 * 1024.0 * 1024.0),
                _ => None,
            })?,
        )
    }

    /// A bit rate in bits a second: a number, or a number with `k`, `M` or `G` (powers of
    /// 1000), each optionally followed by `bit/s`, `bps` or `b/s`, any case: `"100M"`,
    /// `"50 Mbit/s"`, `"800kbps"`.
    pub fn bits_per_second(&self) -> Option<u64> {
        whole(self.scaled(|unit| {
            let unit = unit.to_ascii_lowercase();
            let prefix = ["bit/s", "bps", "b/s"]
                .iter()
                .find_map(|suffix| unit.strip_suffix(suffix))
                .unwrap_or(&unit);
            match prefix {
                "" => Some(1.0),
                "k" => Some(1e3),
                "m" => Some(1e6),
                "g" => Some(1e9),
                _ => None,
            }
        })?)
    }

    /// The number, times what `scale` makes of its unit (`""` for a bare number).
    fn scaled(&self, scale: impl FnOnce(&str) -> Option<f64>) -> Option<f64> {
        match self {
            Quantity::Number(n) => Some(*n),
            Quantity::Text(t) => {
                let (number, unit) = split_unit(t)?;
                Some(number * scale(unit)?)
            }
        }
    }
}

/// A count of bytes or bits: finite, not negative, in range.
fn whole(n: f64) -> Option<u64> {
    (n.is_finite() && n >= 0.0 && n < u64::MAX as f64).then_some(n as u64)
}

/// `"7d"` → (7.0, "d"); spaces between are allowed.
fn split_unit(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..at].parse().ok()?;
    Some((number, text[at..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Quantity {
        Quantity::Text(t.into())
    }

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(text("60s").duration(), Some(Duration::from_secs(60)));
        assert_eq!(text("1h").duration(), Some(Duration::from_secs(3600)));
        assert_eq!(text("7d").duration(), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(text("1.5 m").duration(), Some(Duration::from_secs(90)));
        assert_eq!(text("500ms").duration(), Some(Duration::from_millis(500)));
        assert_eq!(
            Quantity::Number(2.5).duration(),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(text("10").duration(), Some(Duration::from_secs(10)));
        assert_eq!(text("7 weeks").duration(), None);
        assert_eq!(text("s").duration(), None);
        assert_eq!(Quantity::Number(-1.0).duration(), None);
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(text("10GB").bytes(), Some(10_000_000_000));
        assert_eq!(text("512MiB").bytes(), Some(512 << 20));
        assert_eq!(text("2k").bytes(), Some(2000));
        assert_eq!(Quantity::Number(4096.0).bytes(), Some(4096));
        assert_eq!(text("1 TiB").bytes(), Some(1 << 40));
        assert_eq!(text("5 apples").bytes(), None);
        assert_eq!(Quantity::Number(-5.0).bytes(), None);
    }

    #[test]
    fn bit_rates_take_decimal_units() {
        assert_eq!(text("100M").bits_per_second(), Some(100_000_000));
        assert_eq!(text("50 Mbit/s").bits_per_second(), Some(50_000_000));
        assert_eq!(text("800kbps").bits_per_second(), Some(800_000));
        assert_eq!(text("1.5Gb/s").bits_per_second(), Some(1_500_000_000));
        assert_eq!(text("0").bits_per_second(), Some(0));
        assert_eq!(Quantity::Number(2e6).bits_per_second(), Some(2_000_000));
        assert_eq!(text("100MB").bits_per_second(), None);
        assert_eq!(text("fast").bits_per_second(), None);
        assert_eq!(Quantity::Number(-1.0).bits_per_second(), None);
    }
}
