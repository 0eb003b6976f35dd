//! Counting lines and printing `fail2ban-regex`'s summary.

use std::io::Write;
use std::time::Duration;

use warden_filter::regex_tool::{RegexTool, ToolLine};
use warden_filter::CompiledRegex;

use super::source::Origin;
use super::Counted;

/// What to print.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    pub verbose: u8,
    pub verbose_date: bool,
    pub print_all_matched: bool,
    pub print_all_missed: bool,
    pub print_all_ignored: bool,
    pub print_no_missed: bool,
    pub print_no_ignored: bool,
    /// How many missed/ignored lines are listed without `--print-all-*` (`-L`, else 20).
    pub line_limit: usize,
    /// Threads to run on (`--threads`, or the default for this machine).
    pub threads: u8,
}

/// How LOG was given.
#[derive(Debug, Clone)]
pub enum LogDesc {
    File(String, &'static str),
    Single(String),
    Multi(Vec<String>),
}

/// The "Use ..." lines.
#[derive(Debug, Clone)]
pub struct Header {
    pub fail_origin: Origin,
    pub ignore_origin: Option<Origin>,
    pub maxlines: Option<usize>,
    /// `-L` given (printed before the filter, as `fail2ban-regex` applies it first).
    pub maxlines_given: bool,
    pub datepattern: Option<String>,
    /// `-d` given.
    pub datepattern_given: bool,
    pub log: LogDesc,
}

/// The "Use maxlines" and "Use datepattern" lines, those given on the command line
/// (`given`) or those read from the filter.
fn print_settings(
    w: &mut impl Write,
    h: &Header,
    tool: &RegexTool,
    given: bool,
) -> std::io::Result<()> {
    if let Some(m) = h.maxlines.filter(|_| h.maxlines_given == given) {
        writeln!(w, "Use         maxlines : {m}")?;
    }
    if let Some(dp) = h
        .datepattern
        .as_ref()
        .filter(|_| h.datepattern_given == given)
    {
        writeln!(
            w,
            "Use      datepattern : {dp} : {}",
            date_pattern_name(tool)
        )?;
    }
    Ok(())
}

/// `fail2ban-regex`'s `shortstr`: at most 53 characters.
fn shortstr(s: &str) -> String {
    if s.chars().count() > 53 {
        let mut t: String = s.chars().take(50).collect();
        t.push_str("...");
        t
    } else {
        s.to_string()
    }
}

/// Python's `repr` of a string.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
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
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr` of a dict of optional strings.
fn py_dict(groups: &[(String, Option<String>)]) -> String {
    let items: Vec<String> = groups
        .iter()
        .map(|(k, v)| {
            let v = v.as_deref().map_or_else(|| "None".to_string(), py_repr);
            format!("{}: {v}", py_repr(k))
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// `fail2ban-regex`'s `pprint_list`.
fn pprint_list(w: &mut impl Write, items: &[String], header: Option<&str>) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    if let Some(h) = header {
        writeln!(w, "|- {h}")?;
    }
    for i in items {
        writeln!(w, "|  {i}")?;
    }
    writeln!(w, "`-")
}

/// The description `fail2ban-regex` gives a date pattern.
fn date_pattern_name(tool: &RegexTool) -> String {
    let t = tool.date_detector().templates();
    if t.is_empty() || t.len() > 2 {
        "Default Detectors".to_string()
    } else {
        t[0].template.name.clone()
    }
}

/// Print the "Running tests" header.
pub fn print_header(w: &mut impl Write, h: &Header, tool: &RegexTool) -> std::io::Result<()> {
    writeln!(w)?;
    writeln!(w, "Running tests")?;
    writeln!(w, "=============")?;
    writeln!(w)?;
    print_settings(w, h, tool, true)?;
    match &h.fail_origin {
        Origin::Line(r) => writeln!(w, "Use   failregex line : {}", shortstr(r))?,
        Origin::Filter {
            name,
            basedir,
            options,
        } => {
            writeln!(
                w,
                "Use   failregex filter file : {name}, basedir: {}",
                basedir.display()
            )?;
            if !options.is_empty() {
                let items: Vec<String> = options
                    .iter()
                    .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                    .collect();
                writeln!(w, "Use   filter options : {{{}}}", items.join(", "))?;
            }
        }
        Origin::File(p) => writeln!(w, "Use   failregex file : {}", p.display())?,
    }
    print_settings(w, h, tool, false)?;
    match &h.ignore_origin {
        None => {}
        Some(Origin::Line(r)) => writeln!(w, "Use ignoreregex line : {}", shortstr(r))?,
        Some(Origin::File(p)) => writeln!(w, "Use ignoreregex file : {}", p.display())?,
        Some(Origin::Filter { name, basedir, .. }) => writeln!(
            w,
            "Use ignoreregex filter file : {name}, basedir: {}",
            basedir.display()
        )?,
    }
    match &h.log {
        LogDesc::File(path, enc) => {
            writeln!(w, "Use         log file : {path}")?;
            writeln!(w, "Use         encoding : {enc}")?;
        }
        LogDesc::Single(l) => writeln!(w, "Use      single line : {}", shortstr(l))?,
        LogDesc::Multi(lines) => {
            writeln!(w, "Use      multi line : {} line(s)", lines.len())?;
            for (i, l) in lines.iter().enumerate() {
                if i >= 5 {
                    writeln!(w, "| ...")?;
                    break;
                }
                let n = (i + 1).to_string();
                writeln!(w, "| {:>2.2}: {}", n, shortstr(l))?;
            }
            writeln!(w, "`-")?;
        }
    }
    writeln!(w)
}

/// One host a regex found (for `-v`).
#[derive(Debug, Clone)]
struct Hit {
    id: String,
    time: Option<f64>,
    multiple: bool,
}

/// Counters of a run.
#[derive(Debug)]
pub struct Stats {
    tested: u64,
    matched: i64,
    ignored: u64,
    missed: i64,
    matched_lines: Vec<String>,
    ignored_lines: Vec<String>,
    missed_lines: Vec<String>,
    fail_hits: Vec<u64>,
    fail_list: Vec<Vec<Hit>>,
    ignore_hits: Vec<u64>,
    pref_matched: u64,
    /// `-v`: the prefregex's groups on the first lines it matched, as Python dicts.
    pref_groups: Vec<String>,
    print: PrintOptions,
}

impl Stats {
    /// Empty counters for `tool`'s regexes.
    pub fn new(tool: &RegexTool, print: &PrintOptions) -> Stats {
        let f = tool.filter();
        Stats {
            tested: 0,
            matched: 0,
            ignored: 0,
            missed: 0,
            matched_lines: Vec::new(),
            ignored_lines: Vec::new(),
            missed_lines: Vec::new(),
            fail_hits: vec![0; f.failregexes().len()],
            fail_list: vec![Vec::new(); f.failregexes().len()],
            ignore_hits: vec![0; f.ignoreregexes().len()],
            pref_matched: 0,
            pref_groups: Vec::new(),
            print: print.clone(),
        }
    }

    /// Count one line (`fail2ban-regex`'s `testRegex` and `process`). `prefregex`: did the
    /// filter's prefregex match (`None`: it has none)?
    pub fn add(
        &mut self,
        prefregex: Option<bool>,
        line: &str,
        result: &ToolLine,
        failures: &[Counted],
    ) {
        let mut ignored = !result.ignore_hits.is_empty();
        for &i in &result.ignore_hits {
            self.ignore_hits[i] += 1;
        }
        let mut kept = 0usize;
        for f in failures {
            let i = f.m.regex_index;
            self.fail_hits[i] += 1;
            if self.print.verbose > 0 {
                self.fail_list[i].push(Hit {
                    id: f.id.clone().unwrap_or_else(|| "None".to_string()),
                    time: result.time,
                    multiple: kept > 1,
                });
            }
            if f.m.nofail {
                ignored = true;
            } else {
                kept += 1;
            }
        }
        if prefregex == Some(true) {
            self.pref_matched += 1;
            if let Some(groups) = &result.prefregex_groups {
                let limit = self.print.line_limit;
                if self.pref_groups.len() < limit {
                    self.pref_groups.push(py_dict(groups));
                } else if self.pref_groups.len() == limit {
                    self.pref_groups.push("...".to_string());
                }
            }
        }
        for earlier in &result.taken_earlier {
            if let Some(p) = self.missed_lines.iter().position(|l| l == earlier) {
                self.missed_lines.remove(p);
            }
            if self.print.print_all_matched {
                self.matched_lines.push(earlier.clone());
            }
            self.matched += 1;
            self.missed -= 1;
        }
        let limit = self.print.line_limit as u64 + 1;
        if ignored {
            self.ignored += 1;
            if !self.print.print_no_ignored
                && (self.print.print_all_ignored || self.ignored <= limit)
            {
                self.ignored_lines.push(line.to_string());
            }
        } else if kept > 0 {
            self.matched += 1;
            if self.print.print_all_matched {
                self.matched_lines.push(line.to_string());
            }
        } else {
            self.missed += 1;
            if !self.print.print_no_missed
                && (self.print.print_all_missed || self.missed as u64 <= limit)
            {
                self.missed_lines.push(line.to_string());
            }
        }
        self.tested += 1;
    }
}

/// `time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))`.
fn ctime(t: f64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (local, _) = warden_filter::date::convert::local_now(t);
    let (y, mo, d, h, mi, s) = local.fields();
    let days = warden_filter::date::convert::days_from_civil(y, mo, d);
    let wd = DAYS[days.rem_euclid(7) as usize];
    format!(
        "{wd} {} {d:02} {h:02}:{mi:02}:{s:02} {y}",
        MONTHS[(mo as usize).saturating_sub(1) % 12]
    )
}

/// Extra `-v` lines naming a regex's engine and forms.
fn engine_lines(r: &CompiledRegex) -> Vec<String> {
    vec![
        format!("    # engine: {}", engine_label(r)),
        format!("    # expanded:   {}", r.expanded()),
        format!("    # translated: {}", r.translated()),
    ]
}

/// `regex crate` or `PCRE2`.
pub fn engine_label(r: &CompiledRegex) -> &'static str {
    match r.engine() {
        warden_filter::Engine::Regex => "regex crate",
        warden_filter::Engine::Pcre2 => "PCRE2",
    }
}

fn print_regexes(
    w: &mut impl Write,
    title: &str,
    regexes: &[CompiledRegex],
    hits: &[u64],
    lists: Option<&[Vec<Hit>]>,
    verbose: u8,
) -> std::io::Result<()> {
    let mut total = 0;
    let mut out = Vec::new();
    for (i, r) in regexes.iter().enumerate() {
        let n = hits[i];
        total += n;
        if n > 0 || verbose > 0 {
            out.push(format!("{:2}) [{n}] {}", i + 1, r.source()));
        }
        if verbose > 0 {
            out.extend(engine_lines(r));
            if let Some(lists) = lists {
                for h in &lists[i] {
                    // Python's time.localtime(None) is the current time.
                    let when = ctime(h.time.unwrap_or_else(super::wall_now));
                    let multi = if h.multiple {
                        " (multiple regex matched)"
                    } else {
                        ""
                    };
                    out.push(format!("    {}  {when}{multi}", h.id));
                }
            }
        }
    }
    writeln!(w)?;
    writeln!(w, "{title}: {total} total")?;
    pprint_list(w, &out, Some(" #) [# of hits] regular expression"))
}

fn print_lines(
    w: &mut impl Write,
    kind: &str,
    count: i64,
    lines: &[String],
    all: bool,
    limit: usize,
) -> std::io::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let mut name = kind.to_string();
    name[..1].make_ascii_uppercase();
    let header = format!("{name} line(s):");
    if count < limit as i64 || all {
        let items: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
        pprint_list(w, &items, Some(&header))
    } else {
        writeln!(
            w,
            "{header} too many to print.  Use --print-all-{kind} to print all {count} lines"
        )
    }
}

/// Print the "Results" part.
pub fn print_results(
    w: &mut impl Write,
    tool: &RegexTool,
    stats: &Stats,
    print: &PrintOptions,
    elapsed: Duration,
) -> std::io::Result<()> {
    let f = tool.filter();
    writeln!(w)?;
    writeln!(w, "Results")?;
    writeln!(w, "=======")?;
    if let Some(pre) = f.prefregex() {
        writeln!(w)?;
        writeln!(w, "Prefregex: {} total", stats.pref_matched)?;
        let mut out = vec![pre.expanded().to_string()];
        if print.verbose > 0 {
            out.extend(engine_lines(pre));
            out.extend(stats.pref_groups.iter().map(|g| format!("    {g}")));
        }
        pprint_list(w, &out, None)?;
    }
    print_regexes(
        w,
        "Failregex",
        f.failregexes(),
        &stats.fail_hits,
        Some(&stats.fail_list),
        print.verbose,
    )?;
    print_regexes(
        w,
        "Ignoreregex",
        f.ignoreregexes(),
        &stats.ignore_hits,
        None,
        print.verbose,
    )?;
    writeln!(w)?;
    writeln!(w, "Date template hits:")?;
    let mut out = Vec::new();
    for slot in tool.date_detector().templates() {
        if print.verbose > 0 || slot.hits > 0 {
            out.push(format!("[{}] {}", slot.hits, slot.template.name));
            if print.verbose_date {
                let weight = slot.hits as f64 * slot.template.weight / slot.distance.max(1) as f64;
                out.push(format!(
                    "    # weight: {weight:.3} ({:.3}), pattern: {}",
                    slot.template.weight,
                    slot.template.pattern.as_deref().unwrap_or("")
                ));
                out.push(format!("    # regex:   {}", slot.template.regex));
            }
        }
    }
    pprint_list(w, &out, Some("[# of hits] date format"))?;
    writeln!(w)?;
    writeln!(
        w,
        "Lines: {} lines, {} ignored, {} matched, {} missed",
        stats.tested, stats.ignored, stats.matched, stats.missed
    )?;
    writeln!(w, "[processed in {:.2} sec]", elapsed.as_secs_f64())?;
    writeln!(w)?;
    let limit = print.line_limit;
    if print.print_all_matched {
        print_lines(
            w,
            "matched",
            stats.matched,
            &stats.matched_lines,
            true,
            limit,
        )?;
    }
    if !print.print_no_ignored {
        print_lines(
            w,
            "ignored",
            stats.ignored as i64,
            &stats.ignored_lines,
            print.print_all_ignored,
            limit,
        )?;
    }
    if !print.print_no_missed {
        print_lines(
            w,
            "missed",
            stats.missed,
            &stats.missed_lines,
            print.print_all_missed,
            limit,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr() {
        assert_eq!(py_repr("a"), "'a'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(py_repr("'\""), "'\\'\"'");
    }

    #[test]
    fn short_strings() {
        assert_eq!(shortstr("abc"), "abc");
        let long = "x".repeat(60);
        assert_eq!(shortstr(&long).len(), 53);
        assert!(shortstr(&long).ends_with("..."));
    }

    #[test]
    fn ctime_is_like_python() {
        // 2013-07-11 01:21:41 UTC was a Thursday; whatever the zone, the day name and
        // the fields agree with each other.
        let s = ctime(1_373_505_701.0);
        assert!(s.ends_with(" 2013"), "{s}");
        assert_eq!(s.len(), "Thu Jul 11 01:21:41 2013".len(), "{s}");
    }
}
