//! One INI file, parsed the way Python's `configparser` (as Fail2Ban configures it) reads it.
//!
//! Fail2Ban trees are written against Python's parser, so its quirks are the format: option names
//! are lower-cased, `#` and `;` start full-line comments (even indented ones, even inside a
//! multi-line value), `;` starts an inline comment only after whitespace, lines indented deeper
//! than their option line continue its value, blank lines inside a value are kept, trailing blank
//! lines are dropped. A duplicate section or option inside one file is an error, as in Python's
//! strict mode. Every option remembers the line of its key and of each value line, so that later
//! stages can point at the exact line of a bad regex or action.

use std::path::{Path, PathBuf};

use crate::diag::{error, warning, Tagged};
use crate::Location;

/// One `key = value` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Lower-cased option name.
    pub key: String,
    /// Value lines joined by `\n`, trailing empty lines removed.
    pub value: String,
    /// Line of the key.
    pub line: usize,
    /// Source line of each `\n`-separated line of `value`.
    pub value_lines: Vec<usize>,
}

/// One `[section]` as it appears in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// Section name, case preserved (`DEFAULT` included).
    pub name: String,
    /// Line of the header.
    pub line: usize,
    /// Options in file order.
    pub entries: Vec<Entry>,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IniFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Sections in file order; a section header repeated in the file is reported and merged.
    pub sections: Vec<Section>,
}

impl IniFile {
    /// The section called `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

impl Section {
    /// The option called `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Read and parse `path`. Unreadable files give an error; invalid UTF-8 is replaced and warned.
pub(crate) fn read(path: &Path) -> (Option<IniFile>, Vec<Tagged>) {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mut diags = Vec::new();
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(warning(
                        Location::at(path, None),
                        None,
                        None,
                        "file is not valid UTF-8; invalid bytes were replaced".into(),
                    ));
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            let (file, more) = parse(path, &text);
            diags.extend(more);
            (Some(file), diags)
        }
        Err(e) => (
            None,
            vec![error(
                Location::at(path, None),
                None,
                None,
                format!("cannot read file: {e}"),
            )],
        ),
    }
}

/// Where an inline `;` comment starts: the first `;` at the start or after whitespace.
fn inline_comment_start(line: &str) -> Option<usize> {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == ';' && prev_space {
            return Some(i);
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// Parse `text` as the contents of `path`.
pub(crate) fn parse(path: &Path, text: &str) -> (IniFile, Vec<Tagged>) {
    let mut diags = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    // Index into `sections` of the current section, and of the current option within it.
    let mut cur: Option<usize> = None;
    let mut cur_entry: Option<usize> = None;
    let mut indent_level = usize::MAX;
    // Per section, parallel to entries: raw value lines (joined at the end).
    let mut raw: Vec<Vec<Vec<String>>> = Vec::new();

    for (idx, line) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let stripped = line.trim();
        let full_comment = stripped.starts_with('#') || stripped.starts_with(';');
        let comment_start = if full_comment {
            Some(0)
        } else {
            inline_comment_start(line)
        };
        let value = match comment_start {
            Some(c) => line[..c].trim(),
            None => stripped,
        };
        if value.is_empty() {
            // Blank lines are kept inside a value (joined later); comment lines are skipped.
            if comment_start.is_none() {
                if let (Some(s), Some(e)) = (cur, cur_entry) {
                    raw[s][e].push(String::new());
                    sections[s].entries[e].value_lines.push(lineno);
                }
            }
            continue;
        }
        let cur_indent = line.chars().take_while(|c| c.is_whitespace()).count();
        if let (Some(s), Some(e)) = (cur, cur_entry) {
            if cur_indent > indent_level {
                raw[s][e].push(value.to_string());
                sections[s].entries[e].value_lines.push(lineno);
                continue;
            }
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            cur_entry = None;
            if let Some(i) = sections.iter().position(|s| s.name == header) {
                if header != "DEFAULT" {
                    diags.push(error(
                        Location::at(path, Some(lineno)),
                        Some(header),
                        None,
                        format!(
                            "section [{header}] appears twice in this file (first at line {}); merge the two",
                            sections[i].line
                        ),
                    ));
                }
                cur = Some(i);
            } else {
                sections.push(Section {
                    name: header.to_string(),
                    line: lineno,
                    entries: Vec::new(),
                });
                raw.push(Vec::new());
                cur = Some(sections.len() - 1);
            }
            continue;
        }
        let Some(s) = cur else {
            diags.push(error(
                Location::at(path, Some(lineno)),
                None,
                None,
                format!("expected a [section] header before {value:?}"),
            ));
            continue;
        };
        match split_option(value) {
            Some((key, val)) if !key.is_empty() => {
                let key = key.to_lowercase();
                let section = &mut sections[s];
                if let Some(prev) = section.get(&key) {
                    diags.push(error(
                        Location::at(path, Some(lineno)),
                        Some(&section.name),
                        Some(&key),
                        format!(
                            "option set twice in this section of one file (first at line {}); keep one",
                            prev.line
                        ),
                    ));
                    let i = section
                        .entries
                        .iter()
                        .position(|e| e.key == key)
                        .unwrap_or(0);
                    section.entries.remove(i);
                    raw[s].remove(i);
                }
                section.entries.push(Entry {
                    key,
                    value: String::new(),
                    line: lineno,
                    value_lines: vec![lineno],
                });
                raw[s].push(vec![val.to_string()]);
                cur_entry = Some(section.entries.len() - 1);
            }
            _ => {
                diags.push(error(
                    Location::at(path, Some(lineno)),
                    Some(&sections[s].name),
                    None,
                    format!("expected `key = value`, got {value:?}"),
                ));
                cur_entry = None;
            }
        }
    }

    for (section, raws) in sections.iter_mut().zip(raw) {
        for (entry, lines) in section.entries.iter_mut().zip(raws) {
            let mut n = lines.len();
            while n > 1 && lines[n - 1].is_empty() {
                n -= 1;
            }
            entry.value = lines[..n].join("\n").trim_end().to_string();
            entry.value_lines.truncate(n);
        }
    }
    (
        IniFile {
            path: path.to_path_buf(),
            sections,
        },
        diags,
    )
}

/// `[name]` at the start of a line: the name runs to the last `]`.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    if end == 0 {
        return None;
    }
    Some(&rest[..end])
}

/// Split `key = value` / `key: value` at the first `=` or `:`.
fn split_option(value: &str) -> Option<(&str, &str)> {
    let i = value.find(['=', ':'])?;
    Some((value[..i].trim_end(), value[i + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (IniFile, Vec<Tagged>) {
        parse(Path::new("t.conf"), text)
    }

    fn val<'a>(f: &'a IniFile, s: &str, k: &str) -> &'a str {
        &f.section(s).unwrap().get(k).unwrap().value
    }

    #[test]
    fn basic_options_comments_and_case() {
        let (f, d) = p("# comment\n[Sec]\nKey = v1 ; inline\nb: two words\nc = a;b\n; x = y\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(val(&f, "Sec", "key"), "v1");
        assert_eq!(val(&f, "Sec", "b"), "two words");
        assert_eq!(val(&f, "Sec", "c"), "a;b");
        assert!(f.section("Sec").unwrap().get("x").is_none());
    }

    #[test]
    fn continuation_lines_keep_blank_lines_and_skip_comments() {
        let text = "[D]\nfailregex = ^a\n    ^b\n\n    # not part\n    ^c\n\nnext = 1\n";
        let (f, d) = p(text);
        assert!(d.is_empty(), "{d:?}");
        let e = f.section("D").unwrap().get("failregex").unwrap();
        assert_eq!(e.value, "^a\n^b\n\n^c");
        assert_eq!(e.value_lines, vec![2, 3, 4, 6]);
        assert_eq!(val(&f, "D", "next"), "1");
    }

    #[test]
    fn empty_first_line_value() {
        let (f, _) = p("[D]\nfailregex =\n   ^x\n");
        assert_eq!(val(&f, "D", "failregex"), "\n^x");
    }

    #[test]
    fn errors_are_collected() {
        let (f, d) = p("x = 1\n[A]\nnonsense\na = 1\na = 2\n[A]\n");
        assert_eq!(d.len(), 4, "{d:?}");
        assert_eq!(val(&f, "A", "a"), "2");
        assert_eq!(d[0].diag.location.line, Some(1));
        assert_eq!(d[2].diag.key.as_deref(), Some("a"));
    }

    #[test]
    fn header_runs_to_last_bracket() {
        let (f, _) = p("[Init?family=inet6]\na=1\n[x] trailing]\n");
        assert!(f.section("Init?family=inet6").is_some());
        assert!(f.section("x] trailing").is_some());
    }
}
