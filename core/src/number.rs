//! Exact decimals: every number is read by its shortest round-trip form and held as an
//! integer count of millionths, so `0.1 + 0.2 == 0.3` in every runtime.

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

    pub fn from_json(number: &serde_json::Number) -> Result<Decimal, NumberError> {
        if let Some(i) = number.as_i64() {
            return Decimal::from_integer(i128::from(i));
        }
        if let Some(u) = number.as_u64() {
            return Decimal::from_integer(i128::from(u));
        }
        match number.as_f64() {
            Some(f) => Decimal::from_f64(f),
            None => Err(NumberError::NotFinite),
        }
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

    /// Parses `-?digits(.digits)?`.
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
