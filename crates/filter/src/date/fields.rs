//! strptime-style `%` fields → regex groups, with Fail2Ban's overrides and `%Ex*` fields.
//!
//! A `datepattern` such as `%d/%b/%ExY:%H:%M:%S` becomes a regex whose named groups carry
//! the field letter (`(?P<d>…)`, `(?P<b>…)`, …); [`super::convert`] turns those groups into a
//! timestamp. The group regexes are Fail2Ban 1.0.2's (English month and day names, exact
//! two-digit `%Ex*` forms, `%ExY` limited to plausible years).

/// Field keys in the order Fail2Ban's field regex tries them (`%%` first, then the `Ex`
/// forms, then single letters).
const MULTI_KEYS: [&str; 12] = [
    "ExZ", "Exz", "Exd", "Exm", "ExH", "Exk", "Exl", "ExM", "ExS", "ExY", "Exy", "%",
];
const SINGLE_KEYS: &str = "dfHIGjmMSUwuVyYzAaBbpZ%WcxXkl";

/// Regex for one field key, given the `%ExY` expansion.
fn field_regex(key: &str, ex_year: &str) -> Option<String> {
    const TZ_ABBR: &str = "[A-Z](?:[A-Z]{2,4})?";
    let r = match key {
        "%" => "%".to_string(),
        "A" => "(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)".into(),
        "B" => "(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)".into(),
        "ExH" => r"(?P<H>[0-1]\d|2[0-3])".into(),
        "ExM" => r"(?P<M>[0-5]\d)".into(),
        "ExS" => r"(?P<S>[0-5]\d|6[0-1])".into(),
        "ExY" => ex_year.to_string(),
        "ExZ" => format!("(?P<Z>{TZ_ABBR})"),
        "Exd" => r"(?P<d>[1-2]\d|0[1-9]|3[0-1])".into(),
        "Exk" => r" ?(?P<H>[0-1]?\d|2[0-3])".into(),
        "Exl" => r" ?(?P<I>1[0-2]|\d)".into(),
        "Exm" => r"(?P<m>0[1-9]|1[0-2])".into(),
        "Exy" => r"(?P<y>\d{2})".into(),
        "Exz" => format!(r"(?P<z>(?:{TZ_ABBR})?[+-][01]\d(?::?\d{{2}})?|{TZ_ABBR})"),
        "G" => r"(?P<G>\d\d\d\d)".into(),
        "H" => r"(?P<H>[0-1]?\d|2[0-3])".into(),
        "I" => r"(?P<I>1[0-2]|0[1-9]|[1-9])".into(),
        "M" => r"(?P<M>[0-5]?\d)".into(),
        "S" => r"(?P<S>[0-5]?\d|6[0-1])".into(),
        "U" => r"(?P<U>5[0-3]|[0-4]\d|\d)".into(),
        "V" => r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)".into(),
        "W" => r"(?P<W>5[0-3]|[0-4]\d|\d)".into(),
        "X" => r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)".into(),
        "Y" => r"(?P<Y>\d{4})".into(),
        "Z" => r"(?P<Z>Z|[A-Z]{3,5})".into(),
        "a" => "(?P<a>mon|tue|wed|thu|fri|sat|sun)".into(),
        "b" => "(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)".into(),
        "c" => r"(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)".into(),
        "d" => r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])".into(),
        "f" => r"(?P<f>[0-9]{1,6})".into(),
        "j" => r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])".into(),
        "k" => r" ?(?P<H>[0-2]?\d)".into(),
        "l" => r" ?(?P<I>1?\d)".into(),
        "m" => r"(?P<m>0?[1-9]|1[0-2])".into(),
        "p" => "(?P<p>am|pm)".into(),
        "u" => "(?P<u>[1-7])".into(),
        "w" => "(?P<w>[0-6])".into(),
        "x" => r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)".into(),
        "y" => r"(?P<y>\d\d)".into(),
        "z" => r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)".into(),
        _ => return None,
    };
    Some(r)
}

/// Display name of a field (Fail2Ban's template names are built from these).
fn field_name(key: &str) -> String {
    let base = |k: &str| -> Option<&'static str> {
        Some(match k {
            "a" => "DAY",
            "A" => "DAYNAME",
            "b" => "MON",
            "B" => "MONTH",
            "d" => "Day",
            "H" => "24hour",
            "I" => "12hour",
            "j" => "Yearday",
            "m" => "Month",
            "M" => "Minute",
            "p" => "AMPM",
            "S" => "Second",
            "U" | "W" => "Yearweek",
            "w" => "Weekday",
            "y" => "Year2",
            "Y" => "Year",
            "%" => "%",
            "z" => "Zone offset",
            "f" => "Microseconds",
            "Z" => "Zone name",
            _ => return None,
        })
    };
    if let Some(n) = base(key) {
        return n.to_string();
    }
    if let Some(rest) = key.strip_prefix("Ex") {
        if let Some(n) = base(rest) {
            return format!("Ex{n}");
        }
    }
    format!("%{key}")
}

/// Fail2Ban's `%ExY` regex for the given current year: the centuries (first three digits) of
/// last year, of three years ahead, and of every third year from 2000 up to now.
pub fn ex_year_regex(current_year: i32) -> String {
    let cent = |y: i32| -> String { y.to_string().chars().take(3).collect() };
    let mut set: Vec<String> = vec![cent(current_year - 1), cent(current_year + 3)];
    let mut y = 2000;
    while y < current_year + 1 {
        set.push(cent(y));
        y += 3;
    }
    set.sort();
    set.dedup();
    format!(r"(?P<Y>{}\d)", group_prefixes(&set))
}

/// Compress a sorted set of equal-length digit strings into a regex (common prefix, then a
/// class or an alternation), as Fail2Ban does for `%ExY`.
fn group_prefixes(set: &[String]) -> String {
    if set.len() > 1 {
        let mut common: Option<&str> = None;
        for s in set {
            let head = &s[..s.len().saturating_sub(1)];
            match common {
                None => common = Some(head),
                Some(c) if c == head => {}
                Some(_) => {
                    common = None;
                    break;
                }
            }
        }
        if common.is_none_or(str::is_empty) {
            common = None;
            for s in set {
                let head = &s[..1.min(s.len())];
                match common {
                    None => common = Some(head),
                    Some(c) if c == head => {}
                    Some(_) => {
                        common = None;
                        break;
                    }
                }
            }
        }
        if let Some(c) = common.filter(|c| !c.is_empty()) {
            let rest: Vec<String> = set.iter().map(|s| s[c.len()..].to_string()).collect();
            return format!("{c}{}", group_prefixes(&rest));
        }
        if set[0].len() > 1 {
            format!("(?:{})", set.join("|"))
        } else {
            format!("[{}]", set.concat())
        }
    } else {
        set.concat()
    }
}

/// A `datepattern` converted to a regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedPattern {
    /// The regex (Python dialect), with `(?iu)` in front if it has alphabetic fields.
    pub regex: String,
    /// The template name (fields replaced by their names).
    pub name: String,
}

/// Replace the `%` fields of `pattern` by their regexes. Errors on a `%` that starts no known
/// field, as Fail2Ban does.
pub fn expand_fields(pattern: &str, ex_year: &str) -> Result<ExpandedPattern, String> {
    let mut regex = String::with_capacity(pattern.len() * 4);
    let mut name = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(i) = rest.find('%') {
        regex.push_str(&rest[..i]);
        name.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let key = MULTI_KEYS
            .iter()
            .find(|k| after.starts_with(*k))
            .map(|k| k.to_string())
            .or_else(|| {
                after
                    .chars()
                    .next()
                    .filter(|c| SINGLE_KEYS.contains(*c))
                    .map(|c| c.to_string())
            });
        let Some(key) = key else {
            return Err(format!(
                "invalid format or unescaped percent char in datepattern {pattern:?}"
            ));
        };
        let r = field_regex(&key, ex_year).ok_or_else(|| format!("unknown field %{key}"))?;
        regex.push_str(&r);
        name.push_str(&field_name(&key));
        rest = &after[key.len()..];
    }
    regex.push_str(rest);
    name.push_str(rest);
    if has_alpha_field(pattern) {
        regex.insert_str(0, "(?iu)");
    }
    Ok(ExpandedPattern { regex, name })
}

/// `%a %A %b %B %p %c` (not preceded by another `%`): the regex needs case-insensitivity.
fn has_alpha_field(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    (1..b.len())
        .any(|i| b[i - 1] == b'%' && (i < 2 || b[i - 2] != b'%') && b"aAbBpc".contains(&b[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ex_year_in_2026() {
        assert_eq!(ex_year_regex(2026), r"(?P<Y>20[012]\d)");
        assert_eq!(ex_year_regex(2005), r"(?P<Y>200\d)");
        assert_eq!(ex_year_regex(2012), r"(?P<Y>20[01]\d)");
    }

    #[test]
    fn apache_pattern() {
        let e = expand_fields(
            r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
            &ex_year_regex(2026),
        )
        .unwrap();
        assert_eq!(
            e.regex,
            r"(?iu)(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])(?P<_sep>[-/])(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(?P=_sep)(?P<Y>20[012]\d)[ :]?(?P<H>[0-1]?\d|2[0-3]):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:\.(?P<f>[0-9]{1,6}))?(?: (?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?))?"
        );
        assert_eq!(
            e.name,
            r"Day(?P<_sep>[-/])MON(?P=_sep)ExYear[ :]?24hour:Minute:Second(?:\.Microseconds)?(?: Zone offset)?"
        );
    }

    #[test]
    fn percent_escapes_and_errors() {
        assert_eq!(expand_fields("100%%", "").unwrap().regex, "100%");
        assert!(expand_fields("%Q", "").is_err());
        assert!(expand_fields("50%", "").is_err());
    }
}
