//! PyYAML's YAML 1.1 resolution of plain scalars (`yaml.resolver.Resolver` + `SafeConstructor`),
//! so that no document changes meaning between the native and the reference loader:
//! bool (`yes`/`on`/...), int (`0b`, `0x`, `0`-octal, `1_000`, sexagesimal `1:30`), float (`.inf`,
//! `.nan`, `1.`, `1_0.5`, sexagesimal), null (``, `~`, `null`), timestamp (date or date-time) and
//! the merge key `<<`. A scalar matching a pattern but naming no value (2023-02-29, `0x_`) stays a
//! string, as the reference loader (and Kubernetes' go-yaml) keeps it.

use super::Scalar;

/// The resolved value of a plain scalar.
pub fn plain(text: &str) -> Scalar {
    let Some(&first) = text.as_bytes().first() else {
        return Scalar::Null;
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' => {
            if let Some(b) = bool_value(text) {
                return Scalar::Bool(b);
            }
            if matches!(text, "null" | "Null" | "NULL") {
                return Scalar::Null;
            }
        }
        b'~' if text == "~" => return Scalar::Null,
        b'<' if text == "<<" => return Scalar::Merge,
        b'=' if text == "=" => return Scalar::Unsupported,
        b'-' | b'+' | b'.' | b'0'..=b'9' => {
            if is_float(text) {
                return float_value(text);
            }
            if first != b'.' && is_int(text) {
                return int_value(text);
            }
            if first.is_ascii_digit() {
                if let Some(ts) = timestamp(text) {
                    return ts;
                }
            }
        }
        _ => {}
    }
    Scalar::Str
}

fn bool_value(t: &str) -> Option<bool> {
    match t {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn strip_sign(b: &[u8]) -> &[u8] {
    match b {
        [b'-' | b'+', rest @ ..] => rest,
        _ => b,
    }
}

/// `[0-9][0-9_]*` (at least the first digit), returns the rest.
fn head_digits(b: &[u8]) -> Option<&[u8]> {
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'_')
        .count();
    b.get(n..)
}

/// `(?::[0-5]?[0-9])+` followed by what `tail` accepts.
fn sexagesimal_parts(mut b: &[u8], tail: impl Fn(&[u8]) -> bool) -> bool {
    let mut parts = 0;
    while let [b':', rest @ ..] = b {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        // a part is one digit, or two with the first in 0..=5; a longer run cannot match
        let after = match (digits, rest) {
            (1, [_, after @ ..]) => after,
            (2, [d, _, after @ ..]) if *d <= b'5' => after,
            _ => return false,
        };
        b = after;
        parts += 1;
    }
    parts > 0 && tail(b)
}

fn exponent_ok(b: &[u8]) -> bool {
    // (?:[eE][-+][0-9]+)?
    match b {
        [] => true,
        [b'e' | b'E', b'-' | b'+', digits @ ..] => {
            !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn frac_ok(b: &[u8]) -> bool {
    // \.[0-9_]* then an optional exponent
    let [b'.', rest @ ..] = b else {
        return false;
    };
    let n = rest
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'_')
        .count();
    rest.get(n..).is_some_and(exponent_ok)
}

fn is_float(t: &str) -> bool {
    let b = t.as_bytes();
    if matches!(t, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let unsigned = strip_sign(b);
    if matches!(unsigned, b".inf" | b".Inf" | b".INF") {
        return true;
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?  (no sign)
    if let [b'.', second, ..] = b {
        return second.is_ascii_digit() && frac_ok(b);
    }
    if b == b"." {
        return false;
    }
    let Some(rest) = head_digits(unsigned) else {
        return false;
    };
    // [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
    if frac_ok(rest) {
        return true;
    }
    // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    sexagesimal_parts(
        rest,
        |tail| matches!(tail, [b'.', frac @ ..] if frac.iter().all(|c| c.is_ascii_digit() || *c == b'_')),
    )
}

fn is_int(t: &str) -> bool {
    let u = strip_sign(t.as_bytes());
    let all = |b: &[u8], f: fn(&u8) -> bool| !b.is_empty() && b.iter().all(|c| f(c) || *c == b'_');
    if let Some(r) = u.strip_prefix(b"0b") {
        if all(r, |c| matches!(c, b'0' | b'1')) {
            return true;
        }
    }
    if let Some(r) = u.strip_prefix(b"0x") {
        if all(r, u8::is_ascii_hexdigit) {
            return true;
        }
    }
    if let [b'0', rest @ ..] = u {
        // `0` alone, or `0[0-7_]+`
        return rest.is_empty() || all(rest, |c| matches!(c, b'0'..=b'7'));
    }
    match u.first() {
        Some(b'1'..=b'9') => {
            let rest = head_digits(u).unwrap_or_default();
            rest.is_empty() || sexagesimal_parts(rest, <[u8]>::is_empty)
        }
        _ => false,
    }
}

fn int_value(t: &str) -> Scalar {
    let cleaned: String = t.chars().filter(|&c| c != '_').collect();
    let (neg, v) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let parsed: Option<i128> = if v == "0" {
        Some(0)
    } else if let Some(r) = v.strip_prefix("0b") {
        radix(r, 2)
    } else if let Some(r) = v.strip_prefix("0x") {
        radix(r, 16)
    } else if v.starts_with('0') {
        radix(v, 8)
    } else if v.contains(':') {
        v.split(':').try_fold(0i128, |total, part| {
            total.checked_mul(60)?.checked_add(radix(part, 10)?)
        })
    } else if v.len() > 4000 {
        None // past i64 anyway; Python's own limits decide (reference constructor)
    } else {
        radix(v, 10)
    };
    match parsed {
        // `0b` / `0x` with only underscores: int('') fails in Python → the string
        None if v == "0b" || v == "0x" => Scalar::Str,
        Some(n) => {
            let n = if neg { -n } else { n };
            i64::try_from(n).map_or(Scalar::Deferred, Scalar::Int)
        }
        None => Scalar::Deferred,
    }
}

fn radix(digits: &str, base: u32) -> Option<i128> {
    if digits.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    for c in digits.chars() {
        total = total
            .checked_mul(i128::from(base))?
            .checked_add(i128::from(c.to_digit(base)?))?;
    }
    Some(total)
}

fn float_value(t: &str) -> Scalar {
    let cleaned: String = t
        .chars()
        .filter(|&c| c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let (sign, v) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1.0, &cleaned[1..]),
        Some(b'+') => (1.0, &cleaned[1..]),
        _ => (1.0, cleaned.as_str()),
    };
    if v == ".inf" {
        return Scalar::Float(sign * f64::INFINITY);
    }
    if v == ".nan" {
        return Scalar::Float(f64::NAN);
    }
    if v.contains(':') {
        return Scalar::Deferred; // sexagesimal floats: rare, the reference constructor computes them
    }
    // Python's float() and Rust's parse are both correctly rounded; Rust does not take "1." or
    // "1.e5" forms with an empty fraction before the exponent, so add the digit Python implies.
    let normalised = if let Some(pos) = v.find('.') {
        let (int_part, frac) = v.split_at(pos);
        let frac = &frac[1..];
        let (frac_digits, exp) = frac.split_at(frac.find('e').unwrap_or(frac.len()));
        format!(
            "{}.{}{}",
            if int_part.is_empty() { "0" } else { int_part },
            if frac_digits.is_empty() {
                "0"
            } else {
                frac_digits
            },
            exp
        )
    } else {
        v.to_owned()
    };
    match normalised.parse::<f64>() {
        Ok(f) => Scalar::Float(sign * f),
        Err(_) => Scalar::Deferred,
    }
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, c| acc * 10 + u32::from(c - b'0'))
}

/// One or two leading digits of `b` (`[0-9][0-9]?`): their value and the rest; None without a digit.
fn digits_1_2(b: &[u8]) -> Option<(u32, &[u8])> {
    let n = b.iter().take(2).take_while(|c| c.is_ascii_digit()).count();
    let (digits, rest) = b.split_at_checked(n)?;
    (n > 0).then(|| (num(digits), rest))
}

/// `:[0-9][0-9]` at the start of `b`: its value and the rest.
fn colon_two(b: &[u8]) -> Option<(u32, &[u8])> {
    match b {
        [b':', h, l, rest @ ..] if h.is_ascii_digit() && l.is_ascii_digit() => {
            Some((num(&[*h, *l]), rest))
        }
        _ => None,
    }
}

/// `b` without its leading blanks (`[ \t]*`).
fn skip_blanks(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    b
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// A timestamp (resolver pattern + constructor); None = not this tag; Str = pattern matched but no
/// such date / time / offset exists.
fn timestamp(t: &str) -> Option<Scalar> {
    let b = t.as_bytes();
    let [y0, y1, y2, y3, b'-', after_year @ ..] = b else {
        return None;
    };
    let year_digits = [*y0, *y1, *y2, *y3];
    if b.len() < 8 || !year_digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = num(&year_digits);
    // date only: exactly YYYY-MM-DD
    if let [m0, m1, b'-', d0, d1] = after_year {
        if [m0, m1, d0, d1].iter().all(|c| c.is_ascii_digit()) {
            let (month, day) = (num(&[*m0, *m1]), num(&[*d0, *d1]));
            return Some(if valid_date(year, month, day) {
                Scalar::Date { year, month, day }
            } else {
                Scalar::Str
            });
        }
    }
    let (month, rest) = digits_1_2(after_year)?;
    let [b'-', rest @ ..] = rest else {
        return None;
    };
    let (day, rest) = digits_1_2(rest)?;
    // (?:[Tt]|[ \t]+)
    let rest = match rest {
        [b'T' | b't', rest @ ..] => rest,
        [b' ' | b'\t', ..] => skip_blanks(rest),
        _ => return None,
    };
    let (hour, rest) = digits_1_2(rest)?;
    let (minute, rest) = colon_two(rest)?;
    let (second, mut rest) = colon_two(rest)?;
    let mut nanos = 0u32;
    if let [b'.', after_dot @ ..] = rest {
        let n = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        let (frac, after) = after_dot.split_at_checked(n)?;
        for k in 0..9 {
            nanos = nanos * 10 + frac.get(k).map_or(0, |c| u32::from(c - b'0'));
        }
        rest = after;
    }
    // (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?$
    let tail = skip_blanks(rest);
    let offset: Option<i32> = match tail {
        [] if tail.len() != rest.len() => return None, // trailing blanks without an offset
        [] => None,
        [b'Z'] => Some(0),
        [s @ (b'-' | b'+'), after_sign @ ..] => {
            let (h, after_hours) = digits_1_2(after_sign)?;
            let (m, end) = if after_hours.is_empty() {
                (0, after_hours)
            } else {
                colon_two(after_hours)?
            };
            if !end.is_empty() {
                return None;
            }
            let total = h as i32 * 60 + m as i32;
            Some(if *s == b'-' { -total } else { total })
        }
        _ => return None,
    };
    let valid = valid_date(year, month, day)
        && hour < 24
        && minute < 60
        && second < 60
        && offset.is_none_or(|o| o.abs() < 24 * 60);
    Some(if valid {
        Scalar::Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset_minutes: offset,
        }
    } else {
        Scalar::Str
    })
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_forms() {
        assert_eq!(plain("yes"), Scalar::Bool(true));
        assert_eq!(plain("OFF"), Scalar::Bool(false));
        assert_eq!(plain("yEs"), Scalar::Str);
        assert_eq!(plain(""), Scalar::Null);
        assert_eq!(plain("~"), Scalar::Null);
        assert_eq!(plain("0x1F"), Scalar::Int(31));
        assert_eq!(plain("-0b101"), Scalar::Int(-5));
        assert_eq!(plain("017"), Scalar::Int(15));
        assert_eq!(plain("1_000"), Scalar::Int(1000));
        assert_eq!(plain("1:30"), Scalar::Int(90));
        assert_eq!(plain("08"), Scalar::Str);
        assert_eq!(plain("0b_"), Scalar::Str);
        assert_eq!(plain("1e5"), Scalar::Str);
        assert_eq!(plain("1.5"), Scalar::Float(1.5));
        assert_eq!(plain("1."), Scalar::Float(1.0));
        assert_eq!(plain(".5"), Scalar::Float(0.5));
        assert_eq!(plain("1.e+2"), Scalar::Float(100.0));
        assert_eq!(plain("-.inf"), Scalar::Float(f64::NEG_INFINITY));
        assert_eq!(plain("1:30.5"), Scalar::Deferred);
        assert_eq!(plain("<<"), Scalar::Merge);
        assert_eq!(plain("="), Scalar::Unsupported);
        assert_eq!(plain("2023-02-29"), Scalar::Str);
        assert_eq!(
            plain("2024-02-29"),
            Scalar::Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        assert_eq!(
            plain("2024-1-2 3:04:05.123456789 -5"),
            Scalar::Timestamp {
                year: 2024,
                month: 1,
                day: 2,
                hour: 3,
                minute: 4,
                second: 5,
                nanos: 123_456_789,
                offset_minutes: Some(-300)
            }
        );
        assert_eq!(plain("2024-01-01T00:00:00+24:00"), Scalar::Str);
        assert_eq!(plain("99999999999999999999"), Scalar::Deferred);
    }
}
