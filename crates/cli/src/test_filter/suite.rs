//! Running one annotated sample log (and the files it adds) against its filter, exactly as
//! Fail2Ban's `tests/samplestestcase.py` does.
//!
//! A run belongs to one filter, named by the sample file. Header lines steer it:
//!
//! - `# filterOptions: {...}` or `[{...}, ...]`: the filter variants that run every following
//!   line (each variant is one filter instance, kept for the whole run under the name
//!   `filter + str(options)`, so its multi-line state carries over to later blocks using the
//!   same options). `test.condition` disables the block when false; `test.prefix-line` is
//!   put in front of journal lines; `test.filter-name` names the instance.
//! - `# fileOptions: {...}`: merged into every later variant of the run.
//! - `# addFILE: "name"`: another sample file (same directory) run afterwards.
//! - `# failJSON: {...}`: what the next line must give, for every variant whose
//!   `constraint` holds.
//!
//! Filters run in "check all regexes" mode, so a line two failregexes match is reported,
//! and at the end every failregex of every variant must have matched some line.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use warden_filter::matcher::Matcher;
use warden_filter::{Failure, Filter, FilterSpec, LineResult, UseDns};

use super::expect::{self, Mismatch};
use super::options::{eval_condition, Options};
use super::report::{Problem, Report};

/// What is fixed for a whole invocation.
pub struct Settings<'a> {
    /// Configuration directory holding `filter.d`.
    pub config: &'a Path,
    /// The harness's "now" (epoch seconds).
    pub now: f64,
    /// Fail2Ban's `RE_WRONG_GREED`, compiled (`None`: check disabled).
    pub greed: Option<&'a warden_filter::matcher::AnyMatcher>,
}

/// One filter instance of a run.
struct Variant {
    /// `Err`: why the filter could not be loaded (reported once).
    filter: Result<Filter, String>,
    /// Indexes of failregexes that matched some line.
    used: BTreeSet<usize>,
}

/// One sample file plus the files it adds, against the filter named like it.
pub struct SampleRun<'a> {
    settings: &'a Settings<'a>,
    /// The filter's name (the sample file's base name).
    name: String,
    /// Variants by instance name, in order of creation.
    variants: Vec<(String, Variant)>,
    /// Expanded failregexes that matched in any variant of the run.
    used_regexes: HashSet<String>,
    /// The active block: (instance name, options including `test.*`).
    active: Option<Vec<(String, Options)>>,
    common: Options,
}

/// A sample file's lines, as Fail2Ban's `FileContainer` yields them (split at `\n`, decoded
/// as UTF-8 with replacement).
fn read_lines(path: &Path) -> std::io::Result<Vec<String>> {
    let bytes = std::fs::read(path)?;
    let mut lines: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    if bytes.ends_with(b"\n") {
        lines.pop();
    }
    Ok(lines)
}

/// `^#+ ?(failJSON|fileOptions|filterOptions|addFILE):(.+)$` → (kind, JSON text).
fn header(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start_matches('#');
    if rest.len() == line.len() {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    ["failJSON", "fileOptions", "filterOptions", "addFILE"]
        .into_iter()
        .find_map(|kind| {
            let json = rest.strip_prefix(kind)?.strip_prefix(':')?;
            (!json.is_empty()).then_some((kind, json))
        })
}

impl<'a> SampleRun<'a> {
    /// A run of filter `name`.
    pub fn new(settings: &'a Settings<'a>, name: &str) -> Self {
        SampleRun {
            settings,
            name: name.to_string(),
            variants: Vec::new(),
            used_regexes: HashSet::new(),
            active: None,
            common: Options::default(),
        }
    }

    /// Run `first` and every file it adds; record cases and filter checks in `report`.
    pub fn run(mut self, first: &Path, report: &mut Report) {
        let dir = first.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut files: Vec<PathBuf> = vec![first.to_path_buf()];
        let mut i = 0;
        while i < files.len() {
            let file = files[i].clone();
            i += 1;
            match read_lines(&file) {
                Ok(lines) => self.run_file(&file, &lines, &dir, &mut files, report),
                Err(e) => report.check(&self.name, format!("{}: {e}", file.display())),
            }
        }
        self.check_coverage(report);
    }

    fn run_file(
        &mut self,
        file: &Path,
        lines: &[String],
        dir: &Path,
        files: &mut Vec<PathBuf>,
        report: &mut Report,
    ) {
        let mut ignore_block = false;
        let mut n = 0;
        while n < lines.len() {
            let raw = &lines[n];
            n += 1;
            let expect = if let Some((kind, json)) = header(raw) {
                let place = (file, n);
                match kind {
                    "fileOptions" => {
                        match Options::parse_list(json, false) {
                            Ok(mut o) => self.common = o.remove(0),
                            Err(e) => report.check(&self.name, bad_header(place, kind, &e)),
                        }
                        continue;
                    }
                    "filterOptions" => {
                        match Options::parse_list(json, true) {
                            Ok(list) => ignore_block = self.start_block(list, place, report),
                            Err(e) => report.check(&self.name, bad_header(place, kind, &e)),
                        }
                        continue;
                    }
                    "addFILE" => {
                        match serde_json::from_str::<String>(json.trim()) {
                            Ok(f) => files.push(dir.join(f)),
                            Err(e) => report.check(&self.name, bad_header(place, kind, &e)),
                        }
                        continue;
                    }
                    _ => {}
                }
                let parsed = serde_json::from_str::<Value>(json.trim())
                    .map_err(|e| e.to_string())
                    .and_then(|v| match v {
                        Value::Object(o) => Ok(o),
                        _ => Err("expected an object".to_string()),
                    });
                // The annotated line is the next one, whatever it is.
                let Some(line) = lines.get(n) else {
                    report.case(file, n, "", false);
                    report.fail(file, n, Problem::setup(&self.name, "no line follows"));
                    continue;
                };
                n += 1;
                match parsed {
                    Ok(o) => Some((o, line)),
                    Err(e) => {
                        report.case(file, n, line, !ignore_block);
                        let msg = format!("failJSON on line {} is not valid: {e}", n - 1);
                        report.fail(file, n, Problem::setup(&self.name, &msg));
                        continue;
                    }
                }
            } else if ignore_block || raw.starts_with('#') || raw.trim().is_empty() {
                continue;
            } else {
                // A line without annotation must not match.
                None
            };
            let (expect, line) = match expect {
                Some((o, line)) => (o, line.as_str()),
                None => (serde_json::Map::new(), raw.as_str()),
            };
            report.case(file, n, line, !ignore_block);
            if ignore_block {
                continue;
            }
            if self.active.as_ref().is_none_or(|a| a.is_empty()) {
                let name = self.name.clone();
                self.variant(&name, &Options::default(), report);
                self.active = Some(vec![(name, Options::default())]);
            }
            let line = line.trim_end_matches(['\r', '\n']);
            self.check_line(file, n, line, &expect, report);
        }
    }

    /// A `filterOptions` header: load its variants. Returns whether the block is ignored.
    fn start_block(
        &mut self,
        list: Vec<Options>,
        place: (&Path, usize),
        report: &mut Report,
    ) -> bool {
        let mut active = Vec::new();
        let mut ignore = false;
        for entry in list {
            let mut opts = self.common.clone();
            opts.update(&entry);
            if let Some(cond) = opts.get("test.condition").filter(|c| expect::truthy(c)) {
                let cond = expect::value_text(cond);
                match eval_condition(&cond, &self.name, &opts) {
                    Ok(holds) => ignore = !holds,
                    Err(e) => {
                        report.check(
                            &self.name,
                            format!("{}:{}: test.condition: {e}", place.0.display(), place.1),
                        );
                        ignore = true;
                    }
                }
            }
            if ignore {
                continue;
            }
            let filter_opts = opts.filter_options();
            let instance = match opts.get("test.filter-name").filter(|v| expect::truthy(v)) {
                Some(v) => format!("{}{}", self.name, expect::value_text(v)),
                None if filter_opts.0.is_empty() => self.name.clone(),
                None => format!("{}{}", self.name, filter_opts.python_repr()),
            };
            self.variant(&instance, &filter_opts, report);
            active.push((instance, opts));
        }
        self.active = Some(active);
        ignore
    }

    /// The filter instance `instance`, loaded with `opts` on first use.
    fn variant(&mut self, instance: &str, opts: &Options, report: &mut Report) -> usize {
        if let Some(i) = self.variants.iter().position(|(n, _)| n == instance) {
            return i;
        }
        let filter = load(self.settings.config, &self.name, opts);
        match &filter {
            Err(e) => report.check(instance, e.clone()),
            Ok(f) => {
                if let Some(greed) = self.settings.greed {
                    for (i, r) in f.failregexes().iter().enumerate() {
                        if greed.search(r.expanded()).is_some() {
                            report.check(
                                instance,
                                format!(
                                    "failregex #{} has a greedy catch-all before <HOST> that is \
                                     not hard-anchored at the end and has no precise \
                                     sub-expression after <HOST> (use .*? / .+?): {}",
                                    i + 1,
                                    r.source()
                                ),
                            );
                        }
                    }
                }
            }
        }
        self.variants.push((
            instance.to_string(),
            Variant {
                filter,
                used: BTreeSet::new(),
            },
        ));
        self.variants.len() - 1
    }

    /// Run one line through every active variant and compare with its annotation.
    fn check_line(
        &mut self,
        file: &Path,
        n: usize,
        line: &str,
        expect: &serde_json::Map<String, Value>,
        report: &mut Report,
    ) {
        let now = self.settings.now;
        let active = self.active.clone().unwrap_or_default();
        for (instance, opts) in &active {
            if let Some(c) = expect.get("constraint").filter(|c| expect::truthy(c)) {
                match eval_condition(&expect::value_text(c), &self.name, opts) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        report.fail(file, n, Problem::new(instance, "constraint", "", &e));
                        continue;
                    }
                }
            }
            let i = self.variant(instance, &opts.filter_options(), report);
            let variant = &mut self.variants[i].1;
            let filter = match &mut variant.filter {
                Ok(f) => f,
                Err(_) => {
                    let msg = "filter could not be loaded (see above)";
                    report.fail(file, n, Problem::setup(instance, msg));
                    continue;
                }
            };
            let result: LineResult =
                if opts.get("logtype").and_then(Value::as_str) != Some("journal") {
                    filter.process_line(line, now)
                } else {
                    // Journal entries come with their time: no date is searched for.
                    let prefix = opts
                        .get("test.prefix-line")
                        .filter(|p| expect::truthy(p))
                        .map(expect::value_text)
                        .unwrap_or_default();
                    filter.process_entry(&format!("{prefix}{line}"), now, now)
                };
            let regexes: Vec<String> = filter
                .failregexes()
                .iter()
                .map(|r| r.expanded().to_string())
                .collect();
            for &idx in &result.nofail_matches {
                variant.used.insert(idx);
                self.used_regexes.insert(regexes[idx].clone());
            }
            for f in &result.failures {
                variant.used.insert(f.regex_index);
                self.used_regexes.insert(regexes[f.regex_index].clone());
            }
            let found: Vec<&Failure> = result
                .failures
                .iter()
                .filter(|f| !expect::is_nofail(f))
                .collect();
            for m in judge(expect, &found) {
                report.fail(file, n, Problem::from_mismatch(instance, m));
            }
        }
    }

    /// Every failregex of every variant must have matched a line (in that variant, or the
    /// same regex in another variant of the run).
    fn check_coverage(&self, report: &mut Report) {
        for (instance, variant) in &self.variants {
            let Ok(filter) = &variant.filter else {
                continue;
            };
            for (i, r) in filter.failregexes().iter().enumerate() {
                if !variant.used.contains(&i) && !self.used_regexes.contains(r.expanded()) {
                    report.check(
                        instance,
                        format!("failregex #{} has no samples: {}", i + 1, r.source()),
                    );
                }
            }
        }
    }
}

/// Compare a line's result with its annotation.
fn judge(expect: &serde_json::Map<String, Value>, found: &[&Failure]) -> Vec<Mismatch> {
    let want = expect::expects_match(expect);
    let describe = || {
        found
            .iter()
            .map(|f| {
                format!(
                    "failregex #{} host {}",
                    f.regex_index + 1,
                    match &f.host {
                        warden_filter::Host::Ip(ip) => ip.to_string(),
                        warden_filter::Host::Name(n) => n.clone(),
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (want, found.len()) {
        (false, 0) => Vec::new(),
        (true, 0) => vec![Mismatch::new("match", "a failure", "no failure")],
        (false, _) => vec![Mismatch::new("match", "no failure", describe())],
        (true, 1) => expect::compare(expect, found[0]),
        (true, _) => vec![Mismatch::new(
            "match",
            "one failure",
            format!("several failregexes matched: {}", describe()),
        )],
    }
}

fn bad_header(place: (&Path, usize), kind: &str, e: &dyn std::fmt::Display) -> String {
    format!(
        "{}:{}: {kind} is not valid: {e}",
        place.0.display(),
        place.1
    )
}

/// Load filter `name` with `opts` from `config/filter.d` and compile it in check-all mode.
fn load(config: &Path, name: &str, opts: &Options) -> Result<Filter, String> {
    let params = opts
        .0
        .iter()
        .map(|(k, v)| (k.clone(), expect::value_text(v)))
        .collect();
    let fc = warden_config::load_filter(config, name, &params, "auto").map_err(|diags| {
        diags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let spec = FilterSpec {
        failregex: fc.failregex.iter().map(|(r, _)| r.clone()).collect(),
        ignoreregex: fc.ignoreregex.iter().map(|(r, _)| r.clone()).collect(),
        prefregex: fc.prefregex.clone(),
        datepattern: fc.datepattern.clone(),
        maxlines: fc.maxlines.max(1),
        // The sample harness leaves usedns and the log time zone at their defaults.
        usedns: UseDns::Warn,
        logtimezone: None,
    };
    let mut filter = Filter::new(&spec).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}: {e}", fc.file.display()))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    filter.set_check_all_regex(true);
    Ok(filter)
}

/// The sample files in the order given, each once (compared by canonical path).
pub fn dedup_samples(samples: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    samples
        .iter()
        .filter(|s| seen.insert(std::fs::canonicalize(s).unwrap_or_else(|_| s.to_path_buf())))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            header("# failJSON: {\"match\": false}"),
            Some(("failJSON", " {\"match\": false}"))
        );
        assert_eq!(header("##failJSON:{}"), Some(("failJSON", "{}")));
        assert_eq!(header("#  failJSON: {}"), None);
        assert_eq!(header("# addFILE:"), None);
        assert_eq!(header("failJSON: {}"), None);
        assert_eq!(
            header("# filterOptions: [{}]"),
            Some(("filterOptions", " [{}]"))
        );
    }
}
