//! Results of `warden test-filter`: one entry per annotated line (a case), plus checks on
//! whole filters, printed for people or as JSON.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::expect::Mismatch;

/// Why one case failed for one filter variant.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The filter instance (`sshd`, `sshd{'mode': 'aggressive'}`).
    pub variant: String,
    /// The annotated key that differs (`match`, `time`, `host`, ...), or `setup`.
    pub field: String,
    pub expected: String,
    pub got: String,
}

impl Problem {
    pub fn new(variant: &str, field: &str, expected: &str, got: &str) -> Self {
        Problem {
            variant: variant.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }

    /// The case could not be run at all.
    pub fn setup(variant: &str, message: &str) -> Self {
        Problem::new(variant, "setup", "", message)
    }

    pub fn from_mismatch(variant: &str, m: Mismatch) -> Self {
        Problem {
            variant: variant.to_string(),
            field: m.field,
            expected: m.expected,
            got: m.got,
        }
    }
}

/// One annotated line.
#[derive(Debug)]
struct Case {
    file: PathBuf,
    line: usize,
    text: String,
    /// Reached outside a disabled (`test.condition`) block at least once.
    ran: bool,
    problems: Vec<Problem>,
}

/// Everything found in one invocation.
#[derive(Debug, Default)]
pub struct Report {
    cases: Vec<Case>,
    index: HashMap<(PathBuf, usize), usize>,
    /// Canonical form of each file named, so one file reached by two paths is one file.
    canonical: HashMap<PathBuf, PathBuf>,
    /// (filter instance, message) for problems that are not about one line.
    checks: Vec<(String, String)>,
}

/// Counts over all cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    /// Never run: every block holding them was disabled by `test.condition`.
    pub skipped: usize,
    pub checks: usize,
}

impl Report {
    /// Register the case at `file:line` (a file added by several runs counts once); `ran`:
    /// it is run this time.
    pub fn case(&mut self, file: &Path, line: usize, text: &str, ran: bool) {
        let key = (self.canonical(file), line);
        let i = *self.index.entry(key).or_insert_with(|| {
            self.cases.push(Case {
                file: file.to_path_buf(),
                line,
                text: text.to_string(),
                ran: false,
                problems: Vec::new(),
            });
            self.cases.len() - 1
        });
        self.cases[i].ran |= ran;
    }

    /// Record a disagreement for the case at `file:line`.
    pub fn fail(&mut self, file: &Path, line: usize, problem: Problem) {
        let key = (self.canonical(file), line);
        if let Some(&i) = self.index.get(&key) {
            self.cases[i].ran = true;
            self.cases[i].problems.push(problem);
        }
    }

    fn canonical(&mut self, file: &Path) -> PathBuf {
        self.canonical
            .entry(file.to_path_buf())
            .or_insert_with(|| std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()))
            .clone()
    }

    /// Record a problem with a whole filter variant.
    pub fn check(&mut self, variant: &str, message: String) {
        let entry = (variant.to_string(), message);
        if !self.checks.contains(&entry) {
            self.checks.push(entry);
        }
    }

    pub fn totals(&self) -> Totals {
        let failed = self.cases.iter().filter(|c| !c.problems.is_empty()).count();
        let skipped = self
            .cases
            .iter()
            .filter(|c| !c.ran && c.problems.is_empty())
            .count();
        Totals {
            passed: self.cases.len() - failed - skipped,
            failed,
            skipped,
            checks: self.checks.len(),
        }
    }

    /// Human-readable: every disagreement, per-file failure counts, then the summary line.
    pub fn print_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for c in self.cases.iter().filter(|c| !c.problems.is_empty()) {
            writeln!(out, "{}:{}: {}", c.file.display(), c.line, c.text)?;
            for p in &c.problems {
                if p.expected.is_empty() {
                    writeln!(out, "  [{}] {}: {}", p.variant, p.field, p.got)?;
                } else {
                    writeln!(
                        out,
                        "  [{}] {}: expected {}, got {}",
                        p.variant, p.field, p.expected, p.got
                    )?;
                }
            }
        }
        for (variant, message) in &self.checks {
            writeln!(out, "[{variant}] {message}")?;
        }
        let mut per_file: Vec<(&Path, usize, usize)> = Vec::new();
        for c in &self.cases {
            let failed = usize::from(!c.problems.is_empty());
            match per_file.iter_mut().find(|(f, _, _)| *f == c.file) {
                Some(e) => {
                    e.1 += 1;
                    e.2 += failed;
                }
                None => per_file.push((&c.file, 1, failed)),
            }
        }
        for (file, total, failed) in per_file.iter().filter(|e| e.2 > 0) {
            writeln!(out, "{}: {failed} of {total} failed", file.display())?;
        }
        let t = self.totals();
        writeln!(out, "{} passed, {} failed", t.passed, t.failed)?;
        if t.skipped > 0 {
            writeln!(
                out,
                "{} skipped (only in blocks disabled by test.condition)",
                t.skipped
            )?;
        }
        if t.checks > 0 {
            writeln!(out, "{} filter checks failed", t.checks)?;
        }
        Ok(())
    }

    /// One JSON document with every case and check.
    pub fn to_json(&self) -> serde_json::Value {
        let t = self.totals();
        let cases: Vec<_> = self
            .cases
            .iter()
            .map(|c| {
                let status = if !c.problems.is_empty() {
                    "failed"
                } else if c.ran {
                    "passed"
                } else {
                    "skipped"
                };
                json!({
                    "file": c.file.display().to_string(),
                    "line": c.line,
                    "text": c.text,
                    "status": status,
                    "problems": c.problems.iter().map(|p| json!({
                        "variant": p.variant,
                        "field": p.field,
                        "expected": p.expected,
                        "got": p.got,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let checks: Vec<_> = self
            .checks
            .iter()
            .map(|(v, m)| json!({"variant": v, "message": m}))
            .collect();
        json!({
            "passed": t.passed,
            "failed": t.failed,
            "skipped": t.skipped,
            "cases": cases,
            "checks": checks,
        })
    }
}
