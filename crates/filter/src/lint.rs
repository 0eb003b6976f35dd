//! Likely typos in failregexes.
//!
//! The classic one is `\[\.*\]`: an escaped bracket, then `\.*` (any number of literal dots),
//! then a bracket. It compiles and looks plausible, but only matches `[]`, `[.]`, `[..]`…,
//! never `[06/Jan/2026:10:00:00.123]`; `\[.*\]` was meant. Such a filter appears to work as
//! long as the date detector happens to cut the bracketed date out, and silently stops
//! matching when the line carries another date that wins instead.

use crate::Lint;

/// Escaped opening and closing delimiters and what they are called.
const DELIMITERS: [(char, char, &str, &str); 3] = [
    ('[', ']', "a bracket", "brackets"),
    ('(', ')', "a parenthesis", "parentheses"),
    ('{', '}', "a brace", "braces"),
];

/// Is the character at byte `i` escaped by an odd number of backslashes?
fn escaped(b: &[u8], i: usize) -> bool {
    let n = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
    n % 2 == 1
}

/// Look for likely typos in a failregex, such as `\[\.*\]` (a bracket holding only dots)
/// where `\[.*\]` was meant.
pub fn lint_regex(regex: &str) -> Vec<Lint> {
    let b = regex.as_bytes();
    let mut lints = Vec::new();
    let mut fixed = regex.to_string();
    let mut removed = 0usize;
    let mut i = 0;
    while i + 1 < b.len() {
        let open = b[i + 1] as char;
        let Some(&(_, close, one, many)) = DELIMITERS.iter().find(|d| d.0 == open) else {
            i += 1;
            continue;
        };
        if b[i] != b'\\' || escaped(b, i) {
            i += 1;
            continue;
        }
        // `\[` `\.` quantifier [`?`] `\]`
        let body = i + 2;
        if !regex[body..].starts_with(r"\.") {
            i += 1;
            continue;
        }
        let q = body + 2;
        let Some(&quant) = b.get(q) else { break };
        if quant != b'*' && quant != b'+' {
            i += 1;
            continue;
        }
        let mut end = q + 1;
        if b.get(end) == Some(&b'?') {
            end += 1;
        }
        if b.get(end) != Some(&b'\\') || b.get(end + 1).map(|&c| c as char) != Some(close) {
            i += 1;
            continue;
        }
        let found = &regex[i..end + 2];
        let suggestion = format!("\\{open}.{}\\{close}", &regex[q..end]);
        let amount = if quant == b'*' { " (or nothing)" } else { "" };
        lints.push(Lint {
            message: format!(
                "`{found}` matches only {one} holding dots{amount}; `{suggestion}` (any text in {many}) was probably meant"
            ),
            suggestion: None,
        });
        // Drop the backslash before the dot in the corrected regex.
        fixed.remove(body - removed);
        removed += 1;
        i = end + 2;
    }
    if !lints.is_empty() {
        for l in &mut lints {
            l.suggestion = Some(fixed.clone());
        }
    }
    lints
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUTORIAL: &str = r"^.*haproxy\[\d+\]: <HOST>:\d+ \[\.*\] http_fe http_fe/<NOSRV> .*";

    #[test]
    fn tutorial_typo_is_found_and_fixed() {
        let lints = lint_regex(TUTORIAL);
        assert_eq!(lints.len(), 1);
        assert_eq!(
            lints[0].message,
            r"`\[\.*\]` matches only a bracket holding dots (or nothing); `\[.*\]` (any text in brackets) was probably meant"
        );
        assert_eq!(
            lints[0].suggestion.as_deref(),
            Some(r"^.*haproxy\[\d+\]: <HOST>:\d+ \[.*\] http_fe http_fe/<NOSRV> .*")
        );
    }

    #[test]
    fn similar_forms() {
        assert_eq!(
            lint_regex(r"x \(\.+?\) y")[0].suggestion.as_deref(),
            Some(r"x \(.+?\) y")
        );
        assert_eq!(
            lint_regex(r"\{\.*\}")[0].suggestion.as_deref(),
            Some(r"\{.*\}")
        );
        let two = lint_regex(r"\[\.*\] \(\.*\)");
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].suggestion.as_deref(), Some(r"\[.*\] \(.*\)"));
    }

    #[test]
    fn correct_regexes_are_quiet() {
        for r in [
            r"^.*haproxy\[\d+\]: <HOST>:\d+ \[.*\] http_fe",
            r"\[\.\]",
            r"\\[\.*\]",
            r"[\.*]",
            r"\[\d+\.\d+\]",
            r"^<HOST> \[\.",
        ] {
            assert!(lint_regex(r).is_empty(), "{r}");
        }
    }
}
