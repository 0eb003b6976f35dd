//! `# filterOptions:` / `# fileOptions:` dictionaries and the small Python expressions of
//! `test.condition` and `constraint`.
//!
//! Fail2Ban keeps a filter instance per option combination, named by Python's `str()` of the
//! options dictionary, so key order matters (two orders are two filters with separate
//! multi-line state). The dictionaries are therefore kept in the order written, and merged
//! as `dict.update` does.

use serde_json::Value;

/// A JSON object with its keys in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options(pub Vec<(String, Value)>);

impl Options {
    /// A value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `dict.update`: existing keys keep their place, new ones are appended.
    pub fn update(&mut self, other: &Options) {
        for (k, v) in &other.0 {
            match self.0.iter_mut().find(|(key, _)| key == k) {
                Some((_, old)) => *old = v.clone(),
                None => self.0.push((k.clone(), v.clone())),
            }
        }
    }

    /// Without the `test.*` keys (what the filter itself receives).
    pub fn filter_options(&self) -> Options {
        Options(
            self.0
                .iter()
                .filter(|(k, _)| !k.starts_with("test."))
                .cloned()
                .collect(),
        )
    }

    /// Python's `str(dict)`, e.g. `{'mode': 'aggressive'}`.
    pub fn python_repr(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    }

    /// Parse a JSON object, or (`list_allowed`) a list of objects.
    pub fn parse_list(text: &str, list_allowed: bool) -> Result<Vec<Options>, String> {
        let value: Value = serde_json::from_str(text.trim()).map_err(|e| e.to_string())?;
        let orders = top_level_key_orders(text.trim());
        let objects: Vec<&serde_json::Map<String, Value>> = match &value {
            Value::Object(o) => vec![o],
            Value::Array(a) if list_allowed => a
                .iter()
                .map(|v| v.as_object().ok_or("expected a list of objects"))
                .collect::<Result<_, _>>()?,
            _ if list_allowed => return Err("expected an object or a list of objects".into()),
            _ => return Err("expected an object".into()),
        };
        Ok(objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mut keys: Vec<String> = orders.get(i).cloned().unwrap_or_default();
                keys.dedup();
                // Fall back to the map's order should the scan disagree (it cannot for valid JSON).
                if keys.len() != o.len() || !keys.iter().all(|k| o.contains_key(k)) {
                    keys = o.keys().cloned().collect();
                }
                Options(
                    keys.into_iter()
                        .map(|k| (k.clone(), o[&k].clone()))
                        .collect(),
                )
            })
            .collect())
    }
}

/// Python `repr` of a string.
fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr` of a JSON value as `json.loads` returns it.
fn py_value(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// For a JSON object (or a list of objects), the keys of each object in written order.
/// `text` must be valid JSON.
fn top_level_key_orders(text: &str) -> Vec<Vec<String>> {
    let record_depth = if text.starts_with('[') { 2 } else { 1 };
    let mut orders: Vec<Vec<String>> = Vec::new();
    let mut stack: Vec<char> = Vec::new();
    let mut expect_key = false;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let mut end = i;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = j;
                        break;
                    }
                }
                if expect_key && stack.len() == record_depth {
                    if let (Ok(k), Some(last)) = (
                        serde_json::from_str::<String>(&text[i..=end]),
                        orders.last_mut(),
                    ) {
                        last.push(k);
                    }
                }
                expect_key = false;
            }
            '{' => {
                stack.push('{');
                if stack.len() == record_depth {
                    orders.push(Vec::new());
                }
                expect_key = true;
            }
            '[' => {
                stack.push('[');
                expect_key = false;
            }
            '}' | ']' => {
                stack.pop();
                expect_key = false;
            }
            ',' => expect_key = stack.last() == Some(&'{'),
            _ => {}
        }
    }
    orders
}

/// Evaluate a `test.condition` or `constraint` expression for filter `name` and options
/// `opts`. Fail2Ban `eval`s them as Python; the forms supported are comparisons with
/// `==`/`!=` between `name`, `opts.get('key')` and string literals (or `None`), joined by
/// `and`/`or`, optionally negated with `not`, and the literals `True`/`False`.
pub fn eval_condition(expr: &str, name: &str, opts: &Options) -> Result<bool, String> {
    let unsupported = || {
        format!(
            "unsupported expression {expr:?} (supported: comparisons with == or != between \
             name, opts.get('key') and 'string' literals, joined by and/or)"
        )
    };
    let expr = expr.trim();
    if let Some((a, b)) = split_word(expr, " or ") {
        return Ok(eval_condition(a, name, opts)? || eval_condition(b, name, opts)?);
    }
    if let Some((a, b)) = split_word(expr, " and ") {
        return Ok(eval_condition(a, name, opts)? && eval_condition(b, name, opts)?);
    }
    if let Some(rest) = expr.strip_prefix("not ") {
        return Ok(!eval_condition(rest, name, opts)?);
    }
    match expr {
        "True" => return Ok(true),
        "False" => return Ok(false),
        _ => {}
    }
    let (lhs, rhs, equal) = if let Some((a, b)) = expr.split_once("==") {
        (a, b, true)
    } else if let Some((a, b)) = expr.split_once("!=") {
        (a, b, false)
    } else {
        return Err(unsupported());
    };
    let operand = |s: &str| -> Result<Option<Value>, String> {
        let s = s.trim();
        if s == "name" {
            return Ok(Some(Value::String(name.to_string())));
        }
        if s == "None" {
            return Ok(None);
        }
        if let Some(inner) = s
            .strip_prefix("opts.get(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let key = string_literal(inner).ok_or_else(unsupported)?;
            return Ok(opts.get(&key).cloned());
        }
        Ok(Some(Value::String(
            string_literal(s).ok_or_else(unsupported)?,
        )))
    };
    let same = operand(lhs)? == operand(rhs)?;
    Ok(same == equal)
}

/// Split at the first `sep` outside quotes.
fn split_word<'a>(expr: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let mut quote: Option<char> = None;
    for (i, c) in expr.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if expr[i..].starts_with(sep) => {
                return Some((&expr[..i], &expr[i + sep.len()..]))
            }
            None => {}
        }
    }
    None
}

/// A Python string literal in single or double quotes (no escapes).
fn string_literal(s: &str) -> Option<String> {
    let s = s.trim();
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = s.strip_prefix(q)?.strip_suffix(q)?;
    (!inner.contains(q) && !inner.contains('\\')).then(|| inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_written_order_and_repr_like_python() {
        let v =
            Options::parse_list(r#"[{"mode": "ddos", "logtype": "journal"}, {}]"#, true).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].python_repr(), "{'mode': 'ddos', 'logtype': 'journal'}");
        assert_eq!(v[1].python_repr(), "{}");
        let one = Options::parse_list(
            r#"{"z": [1, {"a": "b"}], "test.condition":"name=='sshd'", "a": true}"#,
            true,
        )
        .unwrap();
        let keys: Vec<&str> = one[0].0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["z", "test.condition", "a"]);
        assert_eq!(
            one[0].filter_options().python_repr(),
            "{'z': [1, {'a': 'b'}], 'a': True}"
        );
        assert!(Options::parse_list("[{}]", false).is_err());
    }

    #[test]
    fn update_keeps_places() {
        let mut a = Options::parse_list(r#"{"logtype": "journal", "test.x": "1"}"#, false).unwrap()
            [0]
        .clone();
        let b = Options::parse_list(r#"{"mode": "extra", "logtype": "file"}"#, false).unwrap();
        a.update(&b[0]);
        assert_eq!(
            a.filter_options().python_repr(),
            "{'logtype': 'file', 'mode': 'extra'}"
        );
    }

    #[test]
    fn conditions() {
        let opts = Options::parse_list(r#"{"mode": "aggressive"}"#, false).unwrap()[0].clone();
        let ev = |e: &str| eval_condition(e, "sshd", &opts);
        assert_eq!(ev("name=='sshd'"), Ok(true));
        assert_eq!(ev("name == 'sshd'"), Ok(true));
        assert_eq!(ev("name != \"sshd\""), Ok(false));
        assert_eq!(ev("opts.get('mode') == 'aggressive'"), Ok(true));
        assert_eq!(ev("opts.get('mode') != 'aggressive'"), Ok(false));
        assert_eq!(ev("opts.get('logtype') == None"), Ok(true));
        assert_eq!(
            ev("name == 'sshd' and opts.get('mode') != 'aggressive'"),
            Ok(false)
        );
        assert_eq!(ev("not name == 'x' or False"), Ok(true));
        assert!(ev("len(name) > 2").is_err());
    }
}
