//! `<tag>` substitution: Fail2Ban's second, late interpolation layer.
//!
//! A tag is `<` + one or more characters other than space, `<` and `>` + `>`. Tags nest by
//! construction: in `<mdre-<mode>>` only `<mode>` is a tag at first, and once it is replaced the
//! outer `<mdre-normal>` becomes one. Tags that name nothing are left as they are, because they
//! are regex tags (`<HOST>`), dynamic action tags (`<ip>`) or plain shell text.
//!
//! Two algorithms exist because Fail2Ban has two: [`substitute_all`] resolves a whole option
//! map at load time (filters; it rejects self-references), [`render`] replaces tags in one
//! string round by round at run time (actions). Both stop after 25 replacements of one tag and
//! bound the size of what they build.

use std::collections::{BTreeMap, HashMap, HashSet};

/// Most replacements of one tag, as Fail2Ban's `MAX_TAG_REPLACE_COUNT`.
pub(crate) const MAX_TAG_REPLACE_COUNT: usize = 25;
/// Largest value built by substitution.
const MAX_VALUE: usize = 1 << 20;
/// Upper bound on whole-map passes (each pass must replace something to continue).
const MAX_PASSES: usize = 1000;

/// The first tag at or after byte `from`: (start, end, name).
pub(crate) fn find_tag(s: &str, from: usize) -> Option<(usize, usize, &str)> {
    let bytes = s.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let mut j = i + 1;
            while j < bytes.len() && !matches!(bytes[j], b' ' | b'<' | b'>') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'>' && j > i + 1 {
                return Some((i, j + 1, &s[i + 1..j]));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// Fail2Ban's `substituteRecursiveTags`: resolve tags in every value of `tags` from the other
/// values (`name?conditional` first when `conditional` is set), then from `extra`. Tags in
/// `ignore` are neither resolved nor replaced. A tag that refers to itself, or is replaced more
/// than 25 times, is an error.
pub(crate) fn substitute_all(
    tags: &BTreeMap<String, String>,
    conditional: &str,
    ignore: &HashSet<String>,
    extra: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut tags = tags.clone();
    let mut done: HashSet<String> = HashSet::new();
    let mut rep_counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let names: Vec<String> = tags.keys().cloned().collect();
    for _ in 0..MAX_PASSES {
        let mut again = false;
        for tag in &names {
            if ignore.contains(tag) || done.contains(tag) {
                continue;
            }
            let orig = tags[tag].clone();
            let mut value = orig.clone();
            let mut counts = rep_counts.get(tag).cloned().unwrap_or_default();
            let mut pos = 0;
            while let Some((start, end, rtag)) = find_tag(&value, pos) {
                if ignore.contains(rtag) {
                    pos = end;
                    continue;
                }
                if rtag == tag || counts.get(rtag).copied().unwrap_or(1) > MAX_TAG_REPLACE_COUNT {
                    return Err(format!(
                        "option {tag:?} refers to itself through <{rtag}> and cannot be resolved"
                    ));
                }
                let mut repl = None;
                if !conditional.is_empty() {
                    repl = tags.get(&format!("{rtag}?{conditional}")).cloned();
                }
                if repl.is_none() {
                    repl = tags.get(rtag).cloned().or_else(|| extra(rtag));
                }
                let Some(repl) = repl else {
                    pos = end;
                    continue;
                };
                let rtag = rtag.to_string();
                value = value.replace(&format!("<{rtag}>"), &repl);
                if value.len() > MAX_VALUE {
                    return Err(format!(
                        "option {tag:?} grows beyond 1 MiB while replacing <{rtag}>"
                    ));
                }
                *counts.entry(rtag).or_insert(0) += 1;
                pos = start;
            }
            if value != orig {
                if find_tag(&value, 0).is_some() {
                    rep_counts.insert(tag.clone(), counts);
                    again = true;
                }
                tags.insert(tag.clone(), value.clone());
            }
            if !value.contains('<') {
                done.insert(tag.clone());
            }
        }
        if !again {
            return Ok(tags);
        }
    }
    Err("tag substitution does not settle (self-referencing definitions?)".into())
}

/// Replace tags in `query` round by round (Fail2Ban's `CommandAction.replaceTag`): each round
/// replaces every tag that `lookup` knows, at most 26 rounds; tags in `keep` and unknown tags
/// stay. Returns the text and whether it settled (no cycle).
pub(crate) fn render(
    query: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    keep: &dyn Fn(&str) -> bool,
) -> (String, bool) {
    let mut query = query.to_string();
    for _ in 0..=MAX_TAG_REPLACE_COUNT {
        if !query.contains('<') {
            return (query, true);
        }
        let mut out = String::with_capacity(query.len());
        let mut pos = 0;
        while let Some((start, end, name)) = find_tag(&query, pos) {
            out.push_str(&query[pos..start]);
            match (!keep(name)).then(|| lookup(name)).flatten() {
                Some(v) => out.push_str(&v),
                None => out.push_str(&query[start..end]),
            }
            pos = end;
            if out.len() > MAX_VALUE {
                return (query, false);
            }
        }
        out.push_str(&query[pos..]);
        if out == query {
            return (query, true);
        }
        query = out;
    }
    (query, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_syntax() {
        assert_eq!(find_tag("a <b> c", 0), Some((2, 5, "b")));
        assert_eq!(find_tag("<mdre-<mode>>", 0), Some((6, 12, "mode")));
        assert_eq!(find_tag("<a b> <> <<x>", 0), Some((10, 13, "x")));
        assert_eq!(find_tag("no tags", 0), None);
    }

    #[test]
    fn nested_and_unknown_tags() {
        let m = map(&[
            ("mode", "normal"),
            ("mdre-normal", "N <HOST>"),
            ("failregex", "^<mdre-<mode>>$"),
        ]);
        let r = substitute_all(&m, "", &HashSet::new(), &|_| None).unwrap();
        assert_eq!(r["failregex"], "^N <HOST>$");
    }

    #[test]
    fn self_reference_is_an_error() {
        let m = map(&[("a", "<b>"), ("b", "<a>")]);
        assert!(substitute_all(&m, "", &HashSet::new(), &|_| None).is_err());
        let m = map(&[("a", "x<a>")]);
        assert!(substitute_all(&m, "", &HashSet::new(), &|_| None).is_err());
    }

    #[test]
    fn render_cycle_terminates() {
        let m = map(&[("a", "<b>"), ("b", "<a>")]);
        let (out, settled) = render("<a>", &|k| m.get(k).cloned(), &|_| false);
        assert!(!settled);
        assert!(out == "<a>" || out == "<b>");
        let m = map(&[("a", "<a><a>")]);
        let (_, settled) = render("<a>", &|k| m.get(k).cloned(), &|_| false);
        assert!(!settled);
    }
}
