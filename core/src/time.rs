//! Time as an input: epoch milliseconds, RFC 3339 in and out, durations.

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Parses RFC 3339 (`2026-11-26T11:00:00Z`, `...T11:00:00.123+02:00`); sub-millisecond digits
/// are truncated.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        let mut v: i64 = 0;
        for c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let sep = |at: usize, want: &[u8]| b.get(at).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(b.get(at).copied().unwrap_or(b'0') - b'0');
            }
            at += 1;
        }
        let digits = at - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() && sep(at + 3, b":") => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Formats as `2026-11-26T11:00:00.000Z`.
pub fn format_rfc3339(at: Millis) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(at, &mut out);
    out
}

/// Appends `2026-11-26T11:00:00.000Z` to `out`.
pub fn write_rfc3339(at: Millis, out: &mut String) {
    let millis = at.rem_euclid(1000);
    let seconds = at.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            secs_of_day / 3600,
            (secs_of_day / 60) % 60,
            secs_of_day % 60
        );
        return;
    }
    // Written into one fixed buffer and appended once: every packet and every record's text
    // carries a time, and a char-by-char push with 64-bit powers of ten was slow in wasm.
    let mut text = *b"0000-00-00T00:00:00.000Z";
    for (at, width, value) in [
        (0, 4, year),
        (5, 2, month),
        (8, 2, day),
        (11, 2, secs_of_day / 3600),
        (14, 2, (secs_of_day / 60) % 60),
        (17, 2, secs_of_day % 60),
        (20, 3, millis),
    ] {
        // Every value is in 0..=9999 here: year was checked, the rest are bounded.
        let mut rest = u32::try_from(value).unwrap_or(0);
        for slot in text.get_mut(at..at + width).into_iter().flatten().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or("0000-00-00T00:00:00.000Z"));
}

/// A duration of `<integer><unit>` (`s`, `m`, `h`, `d`) or a positive integer of seconds,
/// in milliseconds. `None` for anything else, including zero.
pub fn parse_duration(value: &serde_json::Value) -> Option<Millis> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_i64()?,
        serde_json::Value::String(s) => parse_duration_text(s)?,
        _ => return None,
    };
    if seconds <= 0 || seconds > 100 * 365 * 86_400 {
        return None;
    }
    Some(seconds * 1000)
}

fn parse_duration_text(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = text.get(..text.len() - 1)?;
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(scale)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Serializes a time as RFC 3339 text (for `#[serde(serialize_with)]`).
pub fn serialize_rfc3339<S: serde::Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339_with_millis() {
        let t = parse_rfc3339("2026-11-26T11:00:00.123Z");
        assert_eq!(
            t.map(format_rfc3339).as_deref(),
            Some("2026-11-26T11:00:00.123Z")
        );
    }

    #[test]
    fn writes_every_field_at_its_width() {
        for (at, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_795_000_000_123, "2026-11-18T11:06:40.123Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_007, "2000-02-29T00:00:00.007Z"),
        ] {
            assert_eq!(format_rfc3339(at), text, "{at}");
            assert_eq!(parse_rfc3339(text), Some(at), "{text}");
        }
        // Every millisecond field, second, minute and hour of one day, and one date a day
        // for a few years: each read back to the instant it was written from.
        let day = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000;
        let steps = (0..1000).chain((0..86_400).map(|s| s * 1000 + 7));
        for at in steps
            .map(|ms| day + ms)
            .chain((0..2000).map(|d| d * 86_400_000 + 1))
        {
            let text = format_rfc3339(at);
            assert_eq!(text.len(), 24, "{text}");
            assert_eq!(parse_rfc3339(&text), Some(at), "{text}");
        }
    }

    #[test]
    fn applies_offsets_and_truncates_sub_millis() {
        assert_eq!(
            parse_rfc3339("2026-11-26T13:00:00.1239+02:00"),
            parse_rfc3339("2026-11-26T11:00:00.123Z")
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        assert_eq!(parse_rfc3339("2026-02-29T00:00:00Z"), None);
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert_eq!(parse_rfc3339("2026-11-26 11:00"), None);
    }

    #[test]
    fn durations_need_a_unit_or_whole_seconds() {
        assert_eq!(parse_duration(&serde_json::json!("30m")), Some(1_800_000));
        assert_eq!(parse_duration(&serde_json::json!(90)), Some(90_000));
        assert_eq!(parse_duration(&serde_json::json!("0s")), None);
        assert_eq!(parse_duration(&serde_json::json!("1.5h")), None);
        assert_eq!(parse_duration(&serde_json::json!("10w")), None);
        assert_eq!(parse_duration(&serde_json::json!(1.5)), None);
    }
}
