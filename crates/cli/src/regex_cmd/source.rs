//! What the REGEX and IGNOREREGEX arguments name: a regex, a filter by name (with options),
//! or a filter file — decided the way `fail2ban-regex` decides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{bail, Context};

/// A failregex argument that looks like a filter name or path, maybe with options.
static FILTER_LIKE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?s)\A/{0,3}[\w/\-.]+(?:\[.*\])?\z").unwrap());

/// Where the regexes came from, for the "Use ..." header lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A regex given on the command line.
    Line(String),
    /// A filter read from a configuration tree (`name`, tree root, options).
    Filter {
        name: String,
        basedir: PathBuf,
        options: Vec<(String, String)>,
    },
    /// A filter file outside a tree.
    File(PathBuf),
}

/// Regexes and settings read from one argument.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub prefregex: Option<String>,
    pub datepattern: Option<String>,
    pub maxlines: Option<usize>,
}

/// Split `name[k=v, ...]` into the name and the option text (brackets included).
fn split_options(value: &str) -> (&str, &str) {
    match value.find('[') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    }
}

/// Does the last part of `name` (its last six characters) hold a dot, as in `sshd.conf`?
fn has_extension(name: &str) -> bool {
    let tail: String = name
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tail.contains('.')
}

/// The filter file `value` names, if any (`fail2ban-regex`'s lookup: `NAME`, `NAME.conf`,
/// `NAME.local` under `config/filter.d`, or a path), with the folder it was found in.
fn find_filter_file(value: &str, config: &Path) -> Option<(PathBuf, PathBuf)> {
    if !FILTER_LIKE.is_match(value) {
        return None;
    }
    let (name, _) = split_options(value);
    let tries: Vec<String> = if has_extension(name) {
        vec![name.to_string()]
    } else {
        vec![
            name.to_string(),
            format!("{name}.conf"),
            format!("{name}.local"),
        ]
    };
    for t in tries {
        let (path, basedir) = if t.contains('/') {
            let p = PathBuf::from(&t);
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (p, base)
        } else if config.file_name().is_some_and(|n| n == "filter.d") {
            (config.join(&t), config.to_path_buf())
        } else {
            (config.join("filter.d").join(&t), config.to_path_buf())
        };
        if path.is_file() {
            return Some((path, basedir));
        }
    }
    None
}

/// Read the failregex argument: a filter (by name or file) or a regex.
pub fn read_failregex(value: &str, config: &Path) -> anyhow::Result<(Loaded, Origin)> {
    let Some((file, basedir)) = find_filter_file(value, config) else {
        return Ok((
            Loaded {
                failregex: vec![value.to_string()],
                ..Default::default()
            },
            Origin::Line(value.to_string()),
        ));
    };
    let (name, opts) = split_options(value);
    let in_tree = basedir == config
        || basedir.file_name().is_some_and(|n| n == "filter.d")
        || (!has_extension(name) && !name.contains('/'));
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spec = format!("{stem}{opts}");
    let none = BTreeMap::new();
    let (filter, origin) = if in_tree {
        let root = if basedir.file_name().is_some_and(|n| n == "filter.d") {
            basedir.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            basedir.clone()
        };
        let filter = warden_config::load_filter(&root, &spec, &none, "auto")
            .map_err(|d| diagnostics(value, &d))?;
        let options = option_list(&spec);
        (
            filter,
            Origin::Filter {
                name: stem,
                basedir: root,
                options,
            },
        )
    } else {
        let filter = load_foreign(&file, &spec)?;
        (filter, Origin::File(file.clone()))
    };
    Ok((
        Loaded {
            failregex: filter.failregex.into_iter().map(|(r, _)| r).collect(),
            ignoreregex: filter.ignoreregex.into_iter().map(|(r, _)| r).collect(),
            prefregex: filter.prefregex.filter(|p| !p.is_empty()),
            datepattern: filter.datepattern.filter(|p| !p.trim().is_empty()),
            maxlines: filter
                .options
                .contains_key("maxlines")
                .then_some(filter.maxlines),
        },
        origin,
    ))
}

/// Read the ignoreregex argument: a filter file's `ignoreregex` when it names an existing
/// `.conf`/`.local` file, else the regex itself (`fail2ban-regex` 1.0.2 reads it as a regex
/// only).
pub fn read_ignoreregex(value: &str, config: &Path) -> anyhow::Result<(Vec<String>, Origin)> {
    let path = Path::new(value);
    let is_filter_file = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == "conf" || e == "local");
    if !is_filter_file {
        return Ok((vec![value.to_string()], Origin::Line(value.to_string())));
    }
    let (loaded, origin) = read_failregex(value, config)?;
    Ok((loaded.ignoreregex, origin))
}

/// A filter file outside any tree: read it from a scratch tree whose `filter.d` links to
/// the file's own folder, so that its includes (`before = common.conf`) resolve next to it.
fn load_foreign(file: &Path, spec: &str) -> anyhow::Result<warden_config::FilterConfig> {
    let file = std::fs::canonicalize(file).with_context(|| format!("{}", file.display()))?;
    let dir = file.parent().context("filter file has no folder")?;
    let scratch = tempfile::Builder::new()
        .prefix("warden-regex-")
        .tempdir()
        .context("creating a scratch folder")?;
    std::os::unix::fs::symlink(dir, scratch.path().join("filter.d"))
        .context("linking the filter's folder")?;
    let none = BTreeMap::new();
    warden_config::load_filter(scratch.path(), spec, &none, "auto")
        .map_err(|d| diagnostics(&file.display().to_string(), &d))
}

fn diagnostics(value: &str, diags: &[warden_config::Diagnostic]) -> anyhow::Error {
    let mut msg = format!("failed to load filter {value}");
    for d in diags {
        msg.push_str(&format!("\n  {d}"));
    }
    anyhow::anyhow!(msg)
}

/// The options written in `name[k=v, ...]`, in order.
fn option_list(spec: &str) -> Vec<(String, String)> {
    let (_, opts) = split_options(spec);
    if opts.is_empty() {
        return Vec::new();
    }
    let inner = opts
        .strip_prefix('[')
        .and_then(|o| o.strip_suffix(']'))
        .unwrap_or(opts);
    let mut out = Vec::new();
    for part in split_top_level(inner) {
        if let Some((k, v)) = part.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            out.push((k.trim().to_string(), v.to_string()));
        }
    }
    out
}

/// Split on commas outside quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Fail if the filter needs the systemd journal, which `warden regex` cannot read.
pub fn reject_journal(log: &str, journalmatch: Option<&str>) -> anyhow::Result<()> {
    if log.starts_with("systemd-journal") {
        bail!(
            "warden regex cannot read the systemd journal; export it first \
             (journalctl -o short-iso _SYSTEMD_UNIT=ssh.service > ssh.log) and pass the file"
        );
    }
    if journalmatch.is_some() {
        bail!(
            "-m/--journalmatch only applies to the systemd journal, which warden regex cannot \
             read; export the entries with journalctl and pass the file"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_like_values() {
        assert!(FILTER_LIKE.is_match("sshd"));
        assert!(FILTER_LIKE.is_match("sshd[mode=aggressive]"));
        assert!(FILTER_LIKE.is_match("/etc/fail2ban/filter.d/sshd.conf"));
        assert!(!FILTER_LIKE.is_match("^Failed .* from <HOST>"));
    }

    #[test]
    fn options_are_listed_in_order() {
        assert_eq!(
            option_list("sshd[mode=aggressive, publickey=\"nofail\"]"),
            vec![
                ("mode".to_string(), "aggressive".to_string()),
                ("publickey".to_string(), "nofail".to_string())
            ]
        );
        assert!(option_list("sshd").is_empty());
    }

    #[test]
    fn extension_is_looked_for_at_the_end() {
        assert!(has_extension("sshd.conf"));
        assert!(!has_extension("sshd"));
        assert!(!has_extension("a.b/sshdxxxxx"));
    }
}
