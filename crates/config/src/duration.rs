//! Durations as Fail2Ban's `MyTime.str2seconds` reads them.
//!
//! Fail2Ban rewrites the text into a Python expression and `eval`s it; we accept the same
//! language without an evaluator: a sum of terms, each an optionally signed number (integer or
//! decimal) with an optional unit, separated by whitespace (meaning `+`) or by `+`/`-`. Units
//! may follow the number directly (`1d12h`). Months and years are Fail2Ban's averages (a year
//! is 365.25 days). The result is truncated to whole seconds, as the server does with `int()`.

/// Seconds per unit; names as Fail2Ban's unit regexes accept them (case-insensitive).
const UNITS: &[(&[&str], f64)] = &[
    (&["d", "dd", "da", "day", "days"], 86_400.0),
    (&["w", "ww", "we", "wee", "week", "weeks"], 604_800.0),
    (&["mo", "mon", "month", "months"], 2_629_800.0),
    (&["y", "yy", "ye", "yea", "year", "years"], 31_557_600.0),
    (&["s", "ss", "se", "sec", "second", "seconds"], 1.0),
    (&["m", "mm", "mi", "min", "minute", "minutes"], 60.0),
    (&["h", "hh", "ho", "hou", "hour", "hours"], 3_600.0),
];

fn expected(text: &str) -> String {
    format!("expected a duration like 600, 10m or 1d12h, got {text:?}")
}

fn unit_seconds(unit: &str) -> Option<f64> {
    let unit = unit.to_ascii_lowercase();
    UNITS
        .iter()
        .find(|(names, _)| names.contains(&unit.as_str()))
        .map(|(_, s)| *s)
}

/// Parse `text` into seconds (see the module docs).
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || expected(text);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut total = 0.0f64;
    let mut terms = 0;
    // Sign of the next term; `None` until an operator or the first term.
    let mut pending_sign: Option<f64> = Some(1.0);
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let c = chars[i];
        if c == '+' || c == '-' {
            let s = if c == '-' { -1.0 } else { 1.0 };
            pending_sign = Some(pending_sign.map_or(s, |p| p * s));
            i += 1;
            continue;
        }
        if !(c.is_ascii_digit() || c == '.') {
            return Err(bad());
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        let value: f64 = number.parse().map_err(|_| bad())?;
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_alphabetic() {
            i = j;
        }
        let ustart = i;
        while i < chars.len() && chars[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit: String = chars[ustart..i].iter().collect();
        let factor = if unit.is_empty() {
            1.0
        } else {
            unit_seconds(&unit).ok_or_else(bad)?
        };
        if i < chars.len()
            && !(chars[i].is_whitespace()
                || chars[i] == '+'
                || chars[i] == '-'
                || chars[i].is_ascii_digit())
        {
            return Err(bad());
        }
        // Whitespace between two terms means `+`; a unit-less number right after a number
        // with no separator cannot happen (digits were consumed greedily).
        let sign = pending_sign.take().unwrap_or(1.0);
        total += sign * value * factor;
        terms += 1;
        pending_sign = Some(1.0);
    }
    if terms == 0 || !total.is_finite() || total.abs() > 9.0e15 {
        return Err(bad());
    }
    Ok(total.trunc() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail2ban_examples() {
        for (text, secs) in [
            ("600", 600),
            ("-1", -1),
            ("10m", 600),
            ("1d12h", 129_600),
            ("1h 30m", 5_400),
            ("1hour+30min", 5_400),
            ("0d 1h 30m", 5_400),
            ("1year-6mo", 15_778_800),
            ("6 months", 15_778_800),
            ("1w", 604_800),
            ("72000", 72_000),
            ("1.5", 1),
            ("2.5m", 150),
            (" 10M ", 600),
            ("1y", 31_557_600),
            ("3 seconds", 3),
            ("2 days", 172_800),
        ] {
            assert_eq!(parse_duration(text), Ok(secs), "{text}");
        }
    }

    #[test]
    fn bad_durations() {
        for text in [
            "",
            "ten",
            "10x",
            "1..2",
            "10m;",
            "m",
            "1e400",
            "--",
            "10 minuts",
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(
                e.starts_with("expected a duration like 600, 10m or 1d12h, got"),
                "{text}: {e}"
            );
        }
        assert_eq!(
            parse_duration("ten").unwrap_err(),
            "expected a duration like 600, 10m or 1d12h, got \"ten\""
        );
    }
}
