//! `warden regex`: test filters against logs, argument-compatible with `fail2ban-regex`.
//!
//! `warden regex [OPTIONS] LOG REGEX [IGNOREREGEX]` reads LOG (a file, or log text given
//! inline), runs REGEX (a regex, a filter name with options such as `sshd[mode=aggressive]`
//! looked up in `-c DIR`'s `filter.d`, or a filter file) over it the way `fail2ban-regex`
//! does, and prints the same summary: per-regex hit counts, date template hits, and
//! `Lines: N lines, X ignored, Y matched, Z missed`. `--json` prints one object per line
//! instead, `-o` one item per failure.
//!
//! # Layout
//!
//! - `source`: what REGEX / IGNOREREGEX name, and reading filters.
//! - `input`: reading LOG line by line.
//! - `report`: counting and the text summary.
//! - `output`: `--json` and `-o`.

mod input;
mod output;
mod report;
mod source;

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;
use warden_filter::regex_tool::{Finisher, Prepared, RegexTool, ToolHost, ToolLine, ToolOptions};
use warden_filter::{FilterSpec, UseDns};

use input::{Encoding, LineReader, LogInput};
use report::{Header, Stats};

/// Arguments of `warden regex` (those of `fail2ban-regex`; `-c/--config` is Warden's global
/// flag and may also be given after the subcommand).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Log file, or log text (one line, or several separated by newlines).
    pub log: String,
    /// Failure regex, filter name with options (`sshd[mode=aggressive]`, looked up in the
    /// configuration's filter.d), or filter file.
    pub regex: String,
    /// Ignore regex, or a filter file whose ignoreregex to use.
    pub ignoreregex: Option<String>,
    /// Date pattern to use instead of the filter's (`fail2ban-regex -d`).
    #[arg(short = 'd', long = "datepattern", value_name = "PATTERN")]
    pub datepattern: Option<String>,
    /// Time zone of dates without one (`UTC`, `UTC+0200`, `CET`...).
    #[arg(long = "timezone", visible_alias = "TZ", value_name = "ZONE")]
    pub timezone: Option<String>,
    /// File encoding (UTF-8 or ISO-8859-1; `auto` = UTF-8).
    #[arg(short = 'e', long = "encoding", default_value = "auto")]
    pub encoding: String,
    /// Raw hosts: keep host names as written, never resolve them.
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// How `<HOST>` treats names: yes, warn (default), no, raw.
    #[arg(long = "usedns", value_name = "MODE")]
    pub usedns: Option<String>,
    /// `maxlines` for multi-line regexes (overrides the filter's).
    #[arg(short = 'L', long = "maxlines", value_name = "N")]
    pub maxlines: Option<usize>,
    /// journalctl-style matches (systemd journal only: not supported, an error).
    #[arg(short = 'm', long = "journalmatch", value_name = "MATCH")]
    pub journalmatch: Option<String>,
    /// Accepted for compatibility; Warden logs nothing here.
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL", hide = true)]
    pub log_level: Option<String>,
    /// More detail: every regex with its engine (regex crate or PCRE2) and translated form,
    /// the hosts each regex found, prefregex groups (repeat for more).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Set the verbosity level (0..4).
    #[arg(long = "verbosity", value_name = "N")]
    pub verbosity: Option<u8>,
    /// Show each date template's weight and regex.
    #[arg(long = "verbose-date", visible_alias = "VD")]
    pub verbose_date: bool,
    /// Stop at the first failregex that matches a line (the daemon's rule); hit counts then
    /// count only the winning regex.
    #[arg(long = "no-check-all")]
    pub no_check_all: bool,
    /// Print only failures, one item each: id, ip, msg, row, a group name (user, ip4...),
    /// or a template with tags such as `<ip> <F-USER>`.
    #[arg(short = 'o', long = "out", value_name = "FORMAT")]
    pub out: Option<String>,
    /// Do not print missed lines.
    #[arg(long = "print-no-missed", conflicts_with = "print_all_missed")]
    pub print_no_missed: bool,
    /// Do not print ignored lines.
    #[arg(long = "print-no-ignored", conflicts_with = "print_all_ignored")]
    pub print_no_ignored: bool,
    /// Print all matched lines.
    #[arg(long = "print-all-matched")]
    pub print_all_matched: bool,
    /// Print all missed lines, however many.
    #[arg(long = "print-all-missed")]
    pub print_all_missed: bool,
    /// Print all ignored lines, however many.
    #[arg(long = "print-all-ignored")]
    pub print_all_ignored: bool,
    /// Threads: 1, or 2 to run date detection, the prefilter and the prefregex on one and the
    /// failregexes and the bookkeeping on the other (single-line filters only; the output is
    /// the same). Default: 2 on a machine with two or more cores, else 1.
    #[arg(long = "threads", value_name = "N",
          value_parser = clap::value_parser!(u8).range(1..=2))]
    pub threads: Option<u8>,
    /// Print one JSON object per log line (JSON Lines) instead of the summary.
    #[arg(long = "json", conflicts_with = "out")]
    pub json: bool,
}

/// Failure ids are shown by -v, --json and -o only (a summary counts failures).
fn shows_ids(args: &Args) -> bool {
    args.verbosity.unwrap_or(args.verbose) > 0 || args.json || args.out.is_some()
}

/// Run the command.
pub fn run(config: &Path, args: Args) -> anyhow::Result<i32> {
    source::reject_journal(&args.log, args.journalmatch.as_deref())?;
    let encoding = Encoding::parse(&args.encoding)?;
    let verbose = args.verbosity.unwrap_or(args.verbose);
    let usedns = parse_usedns(args.usedns.as_deref())?;
    let (mut tool, header) = build_tool(config, &args, usedns)?;
    let (input, log) = open_log(&args, tool.maxlines(), encoding)?;
    let header = Header { log, ..header };
    let reader = LineReader::new(input, encoding);
    let threads = args.threads.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores >= 2 {
            2
        } else {
            1
        }
    });
    let mut w = BufWriter::with_capacity(1 << 16, std::io::stdout());
    let print = report::PrintOptions {
        verbose,
        verbose_date: args.verbose_date,
        print_all_matched: args.print_all_matched,
        print_all_missed: args.print_all_missed,
        print_all_ignored: args.print_all_ignored,
        print_no_missed: args.print_no_missed,
        print_no_ignored: args.print_no_ignored,
        line_limit: args.maxlines.unwrap_or(20),
        threads,
    };
    let resolver = Resolver::new(usedns, args.raw, shows_ids(&args));
    if let Some(fmt) = &args.out {
        let fmt = output::OutFormat::parse(fmt);
        run_out(&mut tool, reader, resolver, &fmt, threads, &mut w)?;
    } else if args.json {
        run_json(&mut tool, reader, resolver, threads, &mut w)?;
    } else {
        report::print_header(&mut w, &header, &tool)?;
        let start = Instant::now();
        let stats = run_summary(&mut tool, reader, resolver, &print)?;
        let elapsed = start.elapsed();
        report::print_results(&mut w, &tool, &stats, &print, elapsed)?;
    }
    w.flush()?;
    Ok(0)
}

/// `--usedns`.
fn parse_usedns(value: Option<&str>) -> anyhow::Result<UseDns> {
    Ok(match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("warn") => UseDns::Warn,
        Some("yes" | "true" | "1") => UseDns::Yes,
        Some("no" | "false" | "0") => UseDns::No,
        Some("raw") => UseDns::Raw,
        Some(other) => anyhow::bail!("--usedns {other:?}: expected yes, warn, no or raw"),
    })
}

/// Read REGEX and IGNOREREGEX, apply the options that override the filter's, and compile.
/// The header's `log` is left for [`open_log`] to describe.
fn build_tool(config: &Path, args: &Args, usedns: UseDns) -> anyhow::Result<(RegexTool, Header)> {
    let (loaded, fail_origin) = source::read_failregex(&args.regex, config)?;
    let mut ignoreregex = loaded.ignoreregex.clone();
    let mut ignore_origin = None;
    if let Some(ig) = &args.ignoreregex {
        let (extra, origin) = source::read_ignoreregex(ig, config)?;
        ignoreregex.extend(extra);
        ignore_origin = Some(origin);
    }
    // As in fail2ban-regex, -L and -d win over the filter's own settings.
    let maxlines = args.maxlines.or(loaded.maxlines);
    let datepattern = args.datepattern.clone().or(loaded.datepattern.clone());
    let spec = FilterSpec {
        failregex: loaded.failregex,
        ignoreregex,
        prefregex: loaded.prefregex,
        datepattern: datepattern.clone(),
        maxlines: maxlines.unwrap_or(1).max(1),
        usedns,
        logtimezone: args.timezone.clone(),
    };
    let out_mode = args.out.is_some();
    let options = ToolOptions {
        check_all: !args.no_check_all && !out_mode,
        ignore_pending: out_mode,
        raw_hosts: args.raw,
        details: out_mode || args.json,
        prefregex_groups: args.verbosity.unwrap_or(args.verbose) > 0 && !out_mode && !args.json,
        host_ids: shows_ids(args),
    };
    let tool = RegexTool::new(&spec, options).map_err(|errors| {
        let mut msg = String::from("the filter does not compile");
        for e in errors {
            msg.push_str(&format!("\n  {e}"));
        }
        anyhow::anyhow!(msg)
    })?;
    let header = Header {
        fail_origin,
        ignore_origin,
        maxlines,
        maxlines_given: args.maxlines.is_some(),
        datepattern,
        datepattern_given: args.datepattern.is_some(),
        log: report::LogDesc::Single(String::new()),
    };
    Ok((tool, header))
}

/// LOG: a file if one exists by that name, else the log text itself (one line, or several
/// separated by newlines).
fn open_log(
    args: &Args,
    maxlines: usize,
    encoding: Encoding,
) -> anyhow::Result<(LogInput, report::LogDesc)> {
    let file = Path::new(&args.log);
    if file.is_file() {
        let f = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
        return Ok((
            LogInput::Reader(BufReader::with_capacity(1 << 20, Box::new(f))),
            report::LogDesc::File(args.log.clone(), encoding.name()),
        ));
    }
    if maxlines <= 1 && !args.log.contains('\n') {
        return Ok((
            LogInput::Lines(vec![args.log.clone()].into_iter()),
            report::LogDesc::Single(args.log.clone()),
        ));
    }
    let lines: Vec<String> = args.log.split('\n').map(str::to_string).collect();
    Ok((
        LogInput::Lines(lines.clone().into_iter()),
        report::LogDesc::Multi(lines),
    ))
}

/// The wall clock (seconds since the epoch).
fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Is a line skipped (a comment or empty), as `fail2ban-regex` skips it?
fn skipped(line: &str) -> bool {
    line.is_empty() || line.starts_with('#')
}

/// One failure as `fail2ban-regex` counts it: a match, with the host it was resolved to.
pub struct Counted<'a> {
    pub m: &'a warden_filter::regex_tool::ToolMatch,
    /// The failure id as `fail2ban-regex` prints it (`None`: pending, or not asked for).
    pub id: Option<String>,
}

/// The failures of one line (see [`Resolver::failures`]).
pub type Failures<'a> = smallvec::SmallVec<[Counted<'a>; 2]>;

/// Turns matches into failures: host names are resolved (cached) unless raw, as Fail2Ban's
/// `textToIp` does; a name that does not resolve drops the match.
pub struct Resolver {
    usedns: UseDns,
    raw: bool,
    /// Fill [`Counted::id`] (else only count).
    ids: bool,
    cache: HashMap<String, Vec<IpAddr>>,
}

impl Resolver {
    fn new(usedns: UseDns, raw: bool, ids: bool) -> Self {
        Resolver {
            usedns,
            raw,
            ids,
            cache: HashMap::new(),
        }
    }

    /// The failures a line's matches make (one per address a name resolves to). Usually
    /// none or one: held inline.
    pub fn failures<'a>(&mut self, line: &'a ToolLine) -> Failures<'a> {
        let mut out = Failures::new();
        for m in &line.matches {
            match &m.host {
                ToolHost::Pending => out.push(Counted { m, id: None }),
                ToolHost::Id(id) => out.push(Counted {
                    m,
                    id: self.ids.then(|| normalize_id(id)),
                }),
                ToolHost::Lookup(name) => {
                    for ip in self.resolve(name) {
                        out.push(Counted {
                            m,
                            id: self.ids.then(|| ip.to_string()),
                        });
                    }
                }
            }
        }
        out
    }

    fn resolve(&mut self, name: &str) -> Vec<IpAddr> {
        if let Some(ip) = warden_filter::filter::parse_ip(name, None) {
            return vec![ip];
        }
        if self.raw || !matches!(self.usedns, UseDns::Yes | UseDns::Warn) {
            return Vec::new();
        }
        self.cache
            .entry(name.to_string())
            .or_insert_with(|| {
                let mut ips: Vec<IpAddr> = (name, 0)
                    .to_socket_addrs()
                    .map(|a| a.map(|s| s.ip()).collect())
                    .unwrap_or_default();
                ips.sort();
                ips.dedup();
                ips
            })
            .clone()
    }
}

/// An address in canonical form (`::ffff:` mapped IPv4 as IPv4); anything else as given.
fn normalize_id(id: &str) -> String {
    match warden_filter::filter::parse_ip(id, None) {
        Some(ip) => ip.to_string(),
        None => id.to_string(),
    }
}

/// Lines passed between the two threads at a time.
const BATCH: usize = 256;

/// One line on its way between the stages.
#[derive(Default)]
struct Item {
    number: usize,
    line: String,
    prepared: Prepared,
}

/// Run every line of `reader` through `tool` and hand each result to `sink` (with the
/// finishing stage, the line's number and text), in order. With two `threads`, on the
/// single-line path, the date detection and prefregex run on this thread and the rest on a
/// second one, a batch of lines behind; otherwise everything runs here.
fn drive<S>(
    tool: &mut RegexTool,
    mut reader: LineReader,
    threads: u8,
    mut sink: S,
) -> anyhow::Result<()>
where
    S: FnMut(&Finisher, usize, &str, &ToolLine) -> anyhow::Result<()> + Send,
{
    let now = wall_now();
    let stages = if threads > 1 {
        tool.balanced_stages()
    } else {
        None
    };
    let Some((preparer, finisher)) = stages else {
        let mut prepared = Prepared::default();
        let mut result = ToolLine::default();
        while let Some(input::NumberedLine {
            number,
            text: line,
            ascii,
        }) = reader.next_numbered()?
        {
            if skipped(&line) {
                continue;
            }
            let (preparer, finisher) = tool.split_stages();
            preparer.prepare_known(&line, ascii, now, &mut prepared);
            finisher.finish_into(&mut prepared, now, &mut result);
            sink(finisher, number, &line, &result)?;
        }
        return Ok(());
    };
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<Item>>(4);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<Item>>();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let consumer = scope.spawn(move || -> anyhow::Result<()> {
            let mut result = ToolLine::default();
            for mut batch in full_rx {
                for item in &mut batch {
                    finisher.finish_into(&mut item.prepared, now, &mut result);
                    sink(finisher, item.number, &item.line, &result)?;
                }
                // The producer may be gone already (end of input): nothing to recycle then.
                let _ = empty_tx.send(batch);
            }
            Ok(())
        });
        let produced = (|| -> anyhow::Result<()> {
            let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
            let mut used = 0;
            while let Some(input::NumberedLine {
                number,
                text: line,
                ascii,
            }) = reader.next_numbered()?
            {
                if skipped(&line) {
                    continue;
                }
                if used == batch.len() {
                    batch.push(Item::default());
                }
                let item = &mut batch[used];
                item.number = number;
                item.line.clear();
                item.line.push_str(&line);
                preparer.prepare_known(&line, ascii, now, &mut item.prepared);
                used += 1;
                if used == BATCH {
                    let next = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    let mut full = std::mem::replace(&mut batch, next);
                    full.truncate(used);
                    used = 0;
                    if full_tx.send(full).is_err() {
                        // The consumer stopped on an error: it reports it.
                        return Ok(());
                    }
                }
            }
            batch.truncate(used);
            if !batch.is_empty() {
                let _ = full_tx.send(batch);
            }
            Ok(())
        })();
        drop(full_tx);
        let consumed = consumer
            .join()
            .map_err(|_| anyhow::anyhow!("the matching thread panicked"))?;
        produced.and(consumed)
    })
}

/// The summary run: count every line.
fn run_summary(
    tool: &mut RegexTool,
    reader: LineReader,
    mut resolver: Resolver,
    print: &report::PrintOptions,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::new(tool, print);
    let has_prefregex = tool.filter().prefregex().is_some();
    drive(tool, reader, print.threads, |finisher, _, line, result| {
        let failures = resolver.failures(result);
        let pref = has_prefregex.then(|| finisher.prefregex_matched());
        stats.add(pref, line, result, &failures);
        Ok(())
    })?;
    Ok(stats)
}

/// `--json`: one object per line.
fn run_json(
    tool: &mut RegexTool,
    reader: LineReader,
    mut resolver: Resolver,
    threads: u8,
    w: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    drive(tool, reader, threads, |_, number, _, result| {
        let failures = resolver.failures(result);
        output::write_json(w, number, result, &failures)?;
        Ok(())
    })
}

/// `-o FORMAT`: one item per failure, nothing else.
fn run_out(
    tool: &mut RegexTool,
    reader: LineReader,
    mut resolver: Resolver,
    fmt: &output::OutFormat,
    threads: u8,
    w: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    drive(tool, reader, threads, |_, _, _, result| {
        for f in resolver.failures(result).iter().filter(|f| !f.m.nofail) {
            fmt.write(w, f, result.time)?;
        }
        Ok(())
    })
}
