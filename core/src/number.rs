//! Exact decimals: every number is read by its text exactly as written (a float from a
//! binding by its shortest round-trip text) and held as an integer count of millionths, so
//! `0.1 + 0.2 == 0.3` in every runtime.

use std::fmt;

/// The largest magnitude a number may have: 2^53 − 1.
pub const MAX_SAFE_INTEGER: i128 = 9_007_199_254_740_991;
const SCALE: i128 = 1_000_000;

/// An exact decimal with at most 6 fractional digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(i128);

/// Why a number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberError {
    NotFinite,
    NegativeZero,
    TooPrecise,
    TooLarge,
}

impl NumberError {
    pub fn explain(self) -> &'static str {
        match self {
            NumberError::NotFinite => "must be a finite number",
            NumberError::NegativeZero => "must not be negative zero",
            NumberError::TooPrecise => "has more than 6 fractional digits",
            NumberError::TooLarge => "has a magnitude above 2^53-1",
        }
    }
}

impl Decimal {
    pub const ZERO: Decimal = Decimal(0);

    /// Reads a JSON number by its text, exactly as written (serde_json keeps the text:
    /// feature `arbitrary_precision`). A float from a binding arrives as its shortest
    /// round-trip text, so both routes agree for every number a float can hold.
    pub fn from_json(number: &serde_json::Number) -> Result<Decimal, NumberError> {
        Decimal::from_text(number.as_str())
    }

    /// Parses JSON number grammar, `-?digits(.digits)?([eE][+-]?digits)?`, exactly.
    pub fn from_text(text: &str) -> Result<Decimal, NumberError> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(at) => {
                let exp = body.get(at + 1..).unwrap_or("");
                let exp = exp.strip_prefix('+').unwrap_or(exp);
                let value = parse_exponent(exp)?;
                (body.get(..at).unwrap_or(""), value)
            }
            None => (body, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty()
            || !whole.bytes().all(|c| c.is_ascii_digit())
            || !fraction.bytes().all(|c| c.is_ascii_digit())
            || (mantissa.contains('.') && fraction.is_empty())
        {
            return Err(NumberError::NotFinite);
        }
        // value = significant digits × 10^-scale; walked in place, nothing allocated.
        let digits = || whole.bytes().chain(fraction.bytes());
        let leading_zeros = digits().take_while(|&c| c == b'0').count();
        let total = whole.len() + fraction.len();
        if leading_zeros == total {
            return if negative {
                Err(NumberError::NegativeZero)
            } else {
                Ok(Decimal::ZERO)
            };
        }
        let trailing_zeros = fraction
            .bytes()
            .rev()
            .chain(whole.bytes().rev())
            .take_while(|&c| c == b'0')
            .count();
        let significant = total - leading_zeros - trailing_zeros;
        let scale = i64::try_from(fraction.len()).unwrap_or(i64::MAX)
            - exponent
            - i64::try_from(trailing_zeros).unwrap_or(0);
        if scale > 6 {
            return Err(NumberError::TooPrecise);
        }
        // Integer digits of the value: significant digits plus any zeros the exponent adds.
        if i64::try_from(significant).unwrap_or(i64::MAX) - scale > 16 {
            return Err(NumberError::TooLarge);
        }
        let mut micros: i128 = 0;
        for c in digits().skip(leading_zeros).take(significant) {
            micros = micros * 10 + i128::from(c - b'0');
        }
        for _ in scale..6 {
            micros *= 10;
        }
        if micros > MAX_SAFE_INTEGER * SCALE {
            return Err(NumberError::TooLarge);
        }
        Ok(Decimal(if negative { -micros } else { micros }))
    }

    pub fn from_integer(value: i128) -> Result<Decimal, NumberError> {
        if value.abs() > MAX_SAFE_INTEGER {
            return Err(NumberError::TooLarge);
        }
        Ok(Decimal(value * SCALE))
    }

    pub fn from_f64(value: f64) -> Result<Decimal, NumberError> {
        if !value.is_finite() {
            return Err(NumberError::NotFinite);
        }
        if value == 0.0 && value.is_sign_negative() {
            return Err(NumberError::NegativeZero);
        }
        if value.abs() > 9.1e15 {
            return Err(NumberError::TooLarge);
        }
        // Rust prints the shortest decimal that round-trips, never in exponent form.
        Decimal::parse(&value.to_string())
    }

    /// Parses `-?digits(.digits)?` (the form Rust prints an f64 in, and times/limits use).
    pub fn parse(text: &str) -> Result<Decimal, NumberError> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
        let fraction = fraction.trim_end_matches('0');
        if whole.is_empty() || !whole.bytes().all(|c| c.is_ascii_digit()) {
            return Err(NumberError::NotFinite);
        }
        if !fraction.bytes().all(|c| c.is_ascii_digit()) {
            return Err(NumberError::NotFinite);
        }
        if fraction.len() > 6 {
            return Err(NumberError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 16 {
            return Err(NumberError::TooLarge);
        }
        let mut micros: i128 = 0;
        for c in whole.bytes() {
            micros = micros * 10 + i128::from(c - b'0');
        }
        micros *= SCALE;
        let mut scale = SCALE / 10;
        for c in fraction.bytes() {
            micros += i128::from(c - b'0') * scale;
            scale /= 10;
        }
        if micros > MAX_SAFE_INTEGER * SCALE {
            return Err(NumberError::TooLarge);
        }
        if negative && micros == 0 && text.contains('.') {
            return Err(NumberError::NegativeZero);
        }
        Ok(Decimal(if negative { -micros } else { micros }))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        self.0.checked_add(other.0).map(Decimal)
    }

    /// For usage sums: at the type's edge a sum stays at its largest, never wraps lower.
    pub fn saturating_add(self, other: Decimal) -> Decimal {
        Decimal(self.0.saturating_add(other.0))
    }
}

/// How a refused number is shown in a message: by its float's shortest round-trip text when
/// that is exactly the same number (so `1e-07` written and `1e-7` from a float read alike in
/// every runtime), else as written.
pub fn show(number: &serde_json::Number) -> String {
    let text = number.as_str();
    let shortest = number
        .as_f64()
        .and_then(serde_json::Number::from_f64)
        .map(|n| n.as_str().to_string());
    match shortest {
        Some(s) if exact_key(&s).is_some() && exact_key(&s) == exact_key(text) => s,
        _ => text.to_string(),
    }
}

/// A decimal text's exact value as (negative, significant digits, power of ten).
fn exact_key(text: &str) -> Option<(bool, String, i64)> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => {
            let exp = body.get(at + 1..)?;
            (
                body.get(..at)?,
                parse_exponent(exp.strip_prefix('+').unwrap_or(exp)).ok()?,
            )
        }
        None => (body, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    let power = exponent - i64::try_from(fraction.len()).ok()?
        + i64::try_from(significant.len() - trimmed.len()).ok()?;
    if trimmed.is_empty() {
        return Some((negative, String::new(), 0));
    }
    Some((negative, trimmed.to_string(), power))
}

/// An exponent's digits; beyond ±10,000 the number is refused either way, so it saturates.
fn parse_exponent(text: &str) -> Result<i64, NumberError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(NumberError::NotFinite);
    }
    let mut value: i64 = 0;
    for c in digits.bytes() {
        value = (value * 10 + i64::from(c - b'0')).min(10_000);
    }
    Ok(if negative { -value } else { value })
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / SCALE.unsigned_abs();
        let fraction = abs % SCALE.unsigned_abs();
        if fraction == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{fraction:06}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Serializes a decimal as a JSON number with its exact text (for `#[serde(serialize_with)]`).
pub fn serialize_number<S: serde::Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    match serde_json::from_str::<serde_json::Value>(&d.to_string()) {
        Ok(v) => v.serialize(s),
        Err(_) => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(v: serde_json::Value) -> Result<Decimal, NumberError> {
        match v {
            serde_json::Value::Number(n) => Decimal::from_json(&n),
            _ => Err(NumberError::NotFinite),
        }
    }

    #[test]
    fn tenths_add_up_exactly() {
        let sum = dec(serde_json::json!(0.1))
            .ok()
            .and_then(|a| a.checked_add(dec(serde_json::json!(0.2)).ok()?));
        assert_eq!(sum, dec(serde_json::json!(0.3)).ok());
    }

    #[test]
    fn six_fractional_digits_pass_seven_do_not() {
        assert!(dec(serde_json::json!(0.000001)).is_ok());
        assert_eq!(
            dec(serde_json::json!(0.0000001)),
            Err(NumberError::TooPrecise)
        );
    }

    #[test]
    fn magnitude_stops_at_two_to_the_53_minus_one() {
        assert!(dec(serde_json::json!(9_007_199_254_740_991_i64)).is_ok());
        assert_eq!(
            dec(serde_json::json!(9_007_199_254_740_992_i64)),
            Err(NumberError::TooLarge)
        );
        assert_eq!(dec(serde_json::json!(1e300)), Err(NumberError::TooLarge));
    }

    fn text(t: &str) -> Result<String, NumberError> {
        Decimal::from_text(t).map(|d| d.to_string())
    }

    #[test]
    fn number_text_is_read_exactly_as_written() {
        assert_eq!(text("100.00000000000001"), Err(NumberError::TooPrecise));
        assert_eq!(
            text("100.0000000000000000000001"),
            Err(NumberError::TooPrecise)
        );
        assert_eq!(text("1e-7"), Err(NumberError::TooPrecise));
        assert_eq!(text("1E-6").as_deref(), Ok("0.000001"));
        assert_eq!(text("1.5e3").as_deref(), Ok("1500"));
        assert_eq!(text("12345e-4").as_deref(), Ok("1.2345"));
        assert_eq!(text("100.000000000e0").as_deref(), Ok("100"));
        assert_eq!(text("9007199254740991").as_deref(), Ok("9007199254740991"));
        assert_eq!(text("9007199254740992"), Err(NumberError::TooLarge));
        assert_eq!(
            text("9.007199254740991e15").as_deref(),
            Ok("9007199254740991")
        );
        assert_eq!(text("1e16"), Err(NumberError::TooLarge));
        assert_eq!(text("1e99999999999999999999"), Err(NumberError::TooLarge));
        assert_eq!(
            text("1e-99999999999999999999"),
            Err(NumberError::TooPrecise)
        );
        assert_eq!(text("0e99999").as_deref(), Ok("0"));
        assert_eq!(text("-0"), Err(NumberError::NegativeZero));
        assert_eq!(text("-0.0e3"), Err(NumberError::NegativeZero));
        assert_eq!(text("-1.25").as_deref(), Ok("-1.25"));
        assert_eq!(text("1."), Err(NumberError::NotFinite));
        assert_eq!(text("1e"), Err(NumberError::NotFinite));
    }

    #[test]
    fn refused_numbers_are_shown_alike_from_text_and_from_floats() {
        let n = |t: &str| serde_json::from_str::<serde_json::Number>(t).map(|n| show(&n));
        assert_eq!(n("1e-07").ok().as_deref(), Some("1e-7"));
        assert_eq!(n("-0.000001").ok().as_deref(), Some("-1e-6"));
        assert_eq!(
            n("100.0000000000000000001").ok().as_deref(),
            Some("100.0000000000000000001")
        );
    }

    #[test]
    fn negative_zero_is_refused() {
        assert_eq!(Decimal::from_f64(-0.0), Err(NumberError::NegativeZero));
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(
            Decimal::from_f64(742.0)
                .map(|d| d.to_string())
                .ok()
                .as_deref(),
            Some("742")
        );
        assert_eq!(
            Decimal::from_f64(-1.25)
                .map(|d| d.to_string())
                .ok()
                .as_deref(),
            Some("-1.25")
        );
    }
}
