//! Differential corpus: Python `re` answers recorded from Fail2Ban 1.0.2's own sample-log
//! suite, replayed through the dialect translation and the chosen engine.
//!
//! Reads `match_cases.jsonl` (failregex/prefregex/ignoreregex searches) and `date_cases.jsonl`
//! (date-template searches) from `$WARDEN_CORPUS`, else `../../../shared/corpus` relative to
//! this crate. When the files are absent the tests say so and pass.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use warden_filter::matcher::{compile, AnyMatcher, Matcher};

fn corpus_file(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("WARDEN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    let path = dir.join(name);
    if path.is_file() {
        Some(path)
    } else {
        println!(
            "corpus file {} not found; skipping (set WARDEN_CORPUS)",
            path.display()
        );
        None
    }
}

fn char_index(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

fn byte_index(s: &str, ch: usize) -> usize {
    s.char_indices().nth(ch).map_or(s.len(), |(i, _)| i)
}

/// Our answer in the corpus's shape: `null` or `{"span": [s, e], "groups": {...}}` (chars).
fn answer(m: &AnyMatcher, input: &str, args: &[usize]) -> Value {
    let (start, end) = match args {
        [] => (0, input.len()),
        [pos] => (byte_index(input, *pos), input.len()),
        [pos, endpos, ..] => (byte_index(input, *pos), byte_index(input, *endpos)),
    };
    let Some(c) = m.search_at(input, start, end) else {
        return Value::Null;
    };
    let (s, e) = c.span();
    let mut groups = serde_json::Map::new();
    for (i, name) in m.group_names().iter().enumerate() {
        if let Some(name) = name {
            let v = c
                .get(i)
                .map_or(Value::Null, |(s, e)| Value::String(input[s..e].to_string()));
            groups.insert(name.clone(), v);
        }
    }
    serde_json::json!({"span": [char_index(input, s), char_index(input, e)], "groups": groups})
}

/// Same match: span equal and every group Python reported equal.
fn agrees(py: &Value, ours: &Value) -> bool {
    match (py, ours) {
        (Value::Null, Value::Null) => true,
        (Value::Object(p), Value::Object(o)) => {
            p.get("span") == o.get("span")
                && p.get("groups")
                    .and_then(Value::as_object)
                    .is_some_and(|g| g.iter().all(|(k, v)| o["groups"].get(k) == Some(v)))
        }
        _ => false,
    }
}

/// Replay a corpus file; returns (rows, agreed).
fn replay(name: &str) -> Option<(usize, usize)> {
    let path = corpus_file(name)?;
    let text = std::fs::read_to_string(&path).expect("corpus readable");
    let mut cache: HashMap<(String, bool), Result<AnyMatcher, String>> = HashMap::new();
    let (mut rows, mut agreed) = (0, 0);
    let mut shown = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line).expect("corpus row is JSON");
        let regex = row["regex"].as_str().expect("regex").to_string();
        let multiline = row["multiline"].as_bool().unwrap_or(false);
        let input = row["input"].as_str().expect("input");
        let args: Vec<usize> = row["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64().map(|v| v as usize))
                    .collect()
            })
            .unwrap_or_default();
        let m = cache
            .entry((regex.clone(), multiline))
            .or_insert_with(|| compile(&regex, multiline).map_err(|e| e.to_string()));
        rows += 1;
        let ours = match m {
            Ok(m) => answer(m, input, &args),
            Err(e) => Value::String(format!("compile error: {e}")),
        };
        if agrees(&row["py"], &ours) {
            agreed += 1;
        } else if shown < 10 {
            shown += 1;
            println!(
                "MISMATCH id {}: regex {regex:?} input {input:?}\n  py:   {}\n  ours: {ours}",
                row["id"], row["py"]
            );
        }
    }
    let engines = cache
        .values()
        .filter_map(|m| m.as_ref().ok())
        .fold((0, 0), |(r, p), m| match m.engine() {
            warden_filter::Engine::Regex => (r + 1, p),
            warden_filter::Engine::Pcre2 => (r, p + 1),
        });
    println!(
        "{name}: {rows} rows ran, {agreed} agreed ({} distinct regexes: {} on regex, {} on pcre2)",
        cache.len(),
        engines.0,
        engines.1
    );
    Some((rows, agreed))
}

#[test]
fn match_cases_agree_with_python() {
    if let Some((rows, agreed)) = replay("match_cases.jsonl") {
        assert!(rows > 0);
        assert_eq!(agreed, rows, "{rows} rows ran, {agreed} agreed");
    }
}

#[test]
fn date_cases_agree_with_python() {
    if let Some((rows, agreed)) = replay("date_cases.jsonl") {
        assert!(rows > 0);
        assert_eq!(agreed, rows, "{rows} rows ran, {agreed} agreed");
    }
}

/// The rows of `match_cases.jsonl` searched without `pos`/`endpos` arguments: the row, its
/// regex, whether it is multi-line, and the input.
fn plain_match_rows(text: &str) -> impl Iterator<Item = (Value, String, bool, String)> + '_ {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let row: Value = serde_json::from_str(line).expect("corpus row is JSON");
            if row["args"].as_array().is_some_and(|a| !a.is_empty()) {
                return None;
            }
            let regex = row["regex"].as_str().expect("regex").to_string();
            let multiline = row["multiline"].as_bool().unwrap_or(false);
            let input = row["input"].as_str().expect("input").to_string();
            Some((row, regex, multiline, input))
        })
}

/// The PCRE2 JIT copies single-line filters use for capture groups
/// (`CompiledRegex::enable_jit_captures`) give Python's answers too, on every whole-text row
/// of a regex the `regex` crate runs.
#[test]
fn jit_copies_agree_with_python() {
    use warden_filter::dialect::{translate, Dialect};
    use warden_filter::matcher::Pcre2Matcher;
    let Some(path) = corpus_file("match_cases.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("corpus readable");
    let mut cache: HashMap<(String, bool), Option<AnyMatcher>> = HashMap::new();
    let (mut rows, mut agreed) = (0, 0);
    for (row, regex, multiline, input) in plain_match_rows(&text) {
        let input = input.as_str();
        let copy = cache.entry((regex.clone(), multiline)).or_insert_with(|| {
            let m = compile(&regex, multiline).ok()?;
            if m.engine() != warden_filter::Engine::Regex {
                return None;
            }
            let t = translate(&regex, Dialect::Pcre2, multiline).ok()?;
            let jit = Pcre2Matcher::build_limited(&t.pattern, 100_000).ok()?;
            (jit.group_names() == m.group_names()).then_some(AnyMatcher::Pcre2(jit))
        });
        let Some(copy) = copy else { continue };
        rows += 1;
        let ours = answer(copy, input, &[]);
        if agrees(&row["py"], &ours) {
            agreed += 1;
        } else {
            println!(
                "JIT MISMATCH id {}: regex {regex:?} input {input:?}",
                row["id"]
            );
        }
    }
    println!("JIT copies: {rows} rows ran, {agreed} agreed");
    assert_eq!(agreed, rows);
}

/// PCRE2 runs an ASCII subject on a form of the pattern compiled without UTF and UCP. Every
/// row whose regex translates to PCRE2 (whichever engine it normally gets) is run on both
/// forms, which must agree with Python: the ASCII form on the ASCII inputs, the Unicode form
/// on all of them.
#[test]
fn pcre2_ascii_and_unicode_forms_agree_with_python() {
    use warden_filter::dialect::{translate, Dialect};
    use warden_filter::matcher::Pcre2Matcher;
    let Some(path) = corpus_file("match_cases.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("corpus readable");
    type Forms = Option<(AnyMatcher, AnyMatcher)>;
    let mut cache: HashMap<(String, bool), Forms> = HashMap::new();
    let (mut rows, mut ascii_rows, mut agreed) = (0, 0, 0);
    for (row, regex, multiline, input) in plain_match_rows(&text) {
        let input = input.as_str();
        let forms = cache.entry((regex.clone(), multiline)).or_insert_with(|| {
            let t = translate(&regex, Dialect::Pcre2, multiline).ok()?;
            let both = Pcre2Matcher::build_limited(&t.pattern, 100_000).ok()?;
            let unicode = Pcre2Matcher::build_limited_unicode_only(&t.pattern, 100_000).ok()?;
            Some((AnyMatcher::Pcre2(both), AnyMatcher::Pcre2(unicode)))
        });
        let Some((both, unicode)) = forms else {
            continue;
        };
        rows += 1;
        ascii_rows += usize::from(input.is_ascii());
        let (a, u) = (answer(both, input, &[]), answer(unicode, input, &[]));
        if agrees(&row["py"], &a) && agrees(&row["py"], &u) {
            agreed += 1;
        } else {
            println!(
                "PCRE2 FORMS MISMATCH id {}: regex {regex:?} input {input:?}\n  both: {a}\n  unicode: {u}",
                row["id"]
            );
        }
    }
    println!(
        "PCRE2 ASCII and Unicode forms: {rows} rows ran ({ascii_rows} ASCII inputs), {agreed} agreed"
    );
    assert_eq!(agreed, rows);
}
