//! A cheap test that rules out lines no failregex can match.
//!
//! Most lines of a log match none of a filter's failregexes, and finding that out with the
//! regexes themselves costs far more than reading the line. So, when a filter is built, each
//! regex is analysed for *required literals*: a small set of strings such that every text the
//! regex can match contains at least one of them (`Failed `, `nvalid user `, `Connection `…).
//! A line that contains none of the literals of any failregex cannot match, and is passed
//! over with one multi-string search ([`aho_corasick`]) instead of a run through every regex.
//!
//! The analysis works on the `regex` crate's parse tree of a *loose* translation of the
//! Python pattern ([`crate::dialect::translate_loose`]): look-around, back-references and
//! conditionals become optional parts, so the loose pattern matches a superset of what the
//! original matches, and literals required by the loose pattern are required by the original.
//! A regex for which no useful set is found (every part optional, or only short or too many
//! literals) disables the prefilter for the whole filter: it never rejects a line it is not
//! sure about.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_syntax::hir::{Class, Hir, HirKind};

/// Most strings a set may hold while it is built from alternatives and classes.
const MAX_SET: usize = 64;
/// Most strings in the final set of one regex.
const MAX_REQUIRED: usize = 256;
/// Shortest literal worth searching for: a set with a shorter member rules out too little.
const MIN_USEFUL_LEN: usize = 3;
/// Longest class expanded into its characters (`[aA]`, `(?i)k` = `[Kk\u{212A}]`).
const MAX_CLASS: usize = 4;

type Set = Vec<Vec<u8>>;

/// What a sub-pattern tells about literals.
#[derive(Debug, Default)]
struct Lits {
    /// Every string the sub-pattern can match, when that is a small finite set.
    exact: Option<Set>,
    /// The best set found such that every match contains one of its members.
    required: Option<Set>,
}

fn min_len(set: &Set) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

/// How good a required set is: longer shortest member first, then fewer members.
fn score(set: &Set) -> (usize, isize) {
    (min_len(set).min(8), -(set.len() as isize))
}

fn better(current: Option<Set>, candidate: Option<Set>) -> Option<Set> {
    match (current, candidate) {
        (None, c) => c.filter(|c| !c.is_empty() && min_len(c) > 0),
        (Some(a), Some(c)) if !c.is_empty() && min_len(&c) > 0 && score(&c) > score(&a) => Some(c),
        (a, _) => a,
    }
}

fn dedup(mut set: Set) -> Set {
    set.sort();
    set.dedup();
    set
}

fn cross(a: &Set, b: &Set) -> Option<Set> {
    if a.len() * b.len() > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    Some(dedup(out))
}

fn class_strings(class: &Class) -> Option<Set> {
    let mut out = Vec::new();
    match class {
        Class::Unicode(c) => {
            for r in c.iter() {
                for cp in r.start() as u32..=r.end() as u32 {
                    if out.len() >= MAX_CLASS {
                        return None;
                    }
                    let ch = char::from_u32(cp)?;
                    out.push(ch.to_string().into_bytes());
                }
            }
        }
        Class::Bytes(c) => {
            for r in c.iter() {
                for b in r.start()..=r.end() {
                    if out.len() >= MAX_CLASS {
                        return None;
                    }
                    out.push(vec![b]);
                }
            }
        }
    }
    Some(out)
}

fn analyse(hir: &Hir) -> Lits {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Lits {
            exact: Some(vec![Vec::new()]),
            required: None,
        },
        HirKind::Literal(l) => Lits {
            exact: Some(vec![l.0.to_vec()]),
            required: None,
        },
        HirKind::Class(c) => Lits {
            exact: class_strings(c),
            required: None,
        },
        HirKind::Capture(c) => analyse(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return Lits::default();
            }
            let sub = analyse(&r.sub);
            let required = better(sub.required, sub.exact.clone());
            Lits {
                exact: if r.min == 1 && r.max == Some(1) {
                    sub.exact
                } else {
                    None
                },
                required,
            }
        }
        HirKind::Concat(children) => {
            let mut best: Option<Set> = None;
            let mut run: Set = vec![Vec::new()];
            let mut all_exact = true;
            for child in children {
                let l = analyse(child);
                match l.exact {
                    Some(e) => match cross(&run, &e) {
                        Some(joined) => run = joined,
                        None => {
                            all_exact = false;
                            best = better(best, Some(std::mem::replace(&mut run, e)));
                        }
                    },
                    None => {
                        all_exact = false;
                        best = better(best, Some(std::mem::replace(&mut run, vec![Vec::new()])));
                        best = better(best, l.required);
                    }
                }
            }
            let exact = all_exact.then(|| run.clone());
            best = better(best, Some(run));
            Lits {
                exact,
                required: best,
            }
        }
        HirKind::Alternation(branches) => {
            let mut exact: Option<Set> = Some(Vec::new());
            let mut required: Option<Set> = Some(Vec::new());
            for b in branches {
                let l = analyse(b);
                let req = better(l.required, l.exact.clone());
                exact = match (exact, l.exact) {
                    (Some(mut all), Some(e)) if all.len() + e.len() <= MAX_SET => {
                        all.extend(e);
                        Some(all)
                    }
                    _ => None,
                };
                required = match (required, req) {
                    (Some(mut all), Some(r)) if all.len() + r.len() <= MAX_REQUIRED => {
                        all.extend(r);
                        Some(all)
                    }
                    _ => None,
                };
            }
            Lits {
                exact: exact.map(dedup),
                required: required.map(dedup),
            }
        }
    }
}

/// Strings one of which every match of Python-dialect regex `python` (tags expanded)
/// contains, if a useful set is found.
pub fn required_literals(python: &str, multiline: bool) -> Option<Vec<Vec<u8>>> {
    let loose = crate::dialect::translate_loose(python, multiline).ok()?;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&loose)
        .ok()?;
    let l = analyse(&hir);
    let set = better(l.required, l.exact)?;
    (min_len(&set) >= MIN_USEFUL_LEN && set.len() <= MAX_REQUIRED).then_some(set)
}

/// Does the (single-line, tags expanded) Python regex `python` match every line that is not
/// empty, and no empty one? True for the common prefregex shape
/// `^<F-MLFID>optional parts</F-MLFID><F-CONTENT>.+</F-CONTENT>$`: its parts before the
/// content can all be skipped, and `.+$` then takes the rest of any non-empty line. A caller
/// that only needs to know *whether* such a regex matches a line (not its groups) can then
/// answer without searching. The analysis is exact, on the parse of the pattern as the
/// `regex` crate runs it; anything else answers `false`.
pub fn matches_every_nonempty_line(python: &str) -> bool {
    use regex_syntax::hir::{Class, HirKind, Look};
    let Ok(t) = crate::dialect::translate(python, crate::dialect::Dialect::Rust, false) else {
        return false;
    };
    if t.features.needs_backtracking() {
        return false;
    }
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(&t.pattern) else {
        return false;
    };
    /// Matches the empty text wherever it is tried, without looking around.
    fn skippable(h: &regex_syntax::hir::Hir) -> bool {
        match h.kind() {
            HirKind::Empty => true,
            HirKind::Repetition(r) => r.min == 0,
            HirKind::Capture(c) => skippable(&c.sub),
            HirKind::Concat(items) => items.iter().all(skippable),
            HirKind::Alternation(alts) => alts.iter().any(skippable),
            _ => false,
        }
    }
    /// One or more of any character but a newline, as many as there are.
    fn rest_of_line(h: &regex_syntax::hir::Hir) -> bool {
        match h.kind() {
            HirKind::Capture(c) => rest_of_line(&c.sub),
            HirKind::Repetition(r) if r.min == 1 && r.max.is_none() && r.greedy => {
                let HirKind::Class(Class::Unicode(class)) = r.sub.kind() else {
                    return false;
                };
                let mut all_but_newline = regex_syntax::hir::ClassUnicode::new([
                    regex_syntax::hir::ClassUnicodeRange::new('\0', '\x09'),
                    regex_syntax::hir::ClassUnicodeRange::new('\x0b', char::MAX),
                ]);
                all_but_newline.difference(class);
                all_but_newline.ranges().is_empty()
                    && !class
                        .ranges()
                        .iter()
                        .any(|r| r.start() <= '\n' && '\n' <= r.end())
            }
            _ => false,
        }
    }
    let HirKind::Concat(items) = hir.kind() else {
        return false;
    };
    let [first, middle @ .., content, last] = items.as_slice() else {
        return false;
    };
    matches!(first.kind(), HirKind::Look(Look::Start))
        && middle.iter().all(skippable)
        && rest_of_line(content)
        && matches!(
            last.kind(),
            HirKind::Look(Look::End | Look::EndLF | Look::EndCRLF)
        )
}

/// Most literals searched for with the faster of the two SIMD layouts (`aho_corasick`'s
/// slim Teddy, 32 bytes per step; above 32 literals it takes the fat one, 16 bytes per step).
const FAST_LITERALS: usize = 32;
/// Shortest common prefix two literals of one set are merged into by [`coarsen`].
const MIN_MERGED_LEN: usize = 6;

/// How many different literals `sets` hold together.
fn distinct(sets: &[Set]) -> usize {
    let mut all: Vec<&Vec<u8>> = sets.iter().flatten().collect();
    all.sort();
    all.dedup();
    all.len()
}

/// A smaller set that still holds one of its strings wherever `set` does: members that
/// share a prefix of at least [`MIN_MERGED_LEN`] bytes become that prefix, and a member that
/// contains another is left out. (`Connection closed by`, `Connection reset by`: every text
/// with one of them holds `Connection `.)
fn coarsen(mut set: Set) -> Set {
    loop {
        set = dedup(set);
        // Sorted: the longest common prefix of any two members is one of neighbours.
        let best = (1..set.len())
            .map(|i| {
                let common = set[i - 1]
                    .iter()
                    .zip(&set[i])
                    .take_while(|(a, b)| a == b)
                    .count();
                (common, i)
            })
            .filter(|&(common, _)| common >= MIN_MERGED_LEN)
            .max();
        let Some((common, i)) = best else {
            break;
        };
        let prefix = set[i][..common].to_vec();
        set.retain(|m| !m.starts_with(&prefix));
        set.push(prefix);
    }
    let all = set.clone();
    set.retain(|m| {
        !all.iter()
            .any(|other| other != m && memchr::memmem::find(m, other).is_some())
    });
    set
}

/// Rules out texts that none of a list of regexes can match.
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Leftmost-longest search: is any literal there, and which?
    searcher: AhoCorasick,
    /// The same search on the packed (SIMD) searcher alone, where it runs: what `searcher`
    /// would use as its own prefilter, without the automaton around it.
    packed: Option<aho_corasick::packed::Searcher>,
    /// Overlapping search: which literals are there? (Only for [`Self::candidates`].)
    all: AhoCorasick,
    /// For each literal, the regexes (indexes in the list given) that require it.
    owners: Vec<Vec<usize>>,
    /// For each literal, the regexes that require it or a literal it contains: where it is,
    /// those are there too.
    implied: Vec<Vec<usize>>,
    /// For each literal, how far before its end the next search starts: the longest of its
    /// proper suffixes that another literal starts with (`0`: none does).
    backoff: Vec<usize>,
    regexes: usize,
    literals: usize,
    newline: bool,
}

/// The longest proper suffix of `lit` that is a proper prefix of one of `literals`.
fn overlap_backoff(lit: &[u8], literals: &[Vec<u8>]) -> usize {
    (1..lit.len())
        .rev()
        .find(|&n| {
            let suffix = &lit[lit.len() - n..];
            literals
                .iter()
                .any(|other| other.len() > n && other.starts_with(suffix))
        })
        .unwrap_or(0)
}

impl Prefilter {
    /// A prefilter for `regexes` (Python dialect, tags expanded): `None` when one of them has
    /// no useful required literals, so that nothing could be ruled out safely.
    pub fn new<'a>(regexes: impl IntoIterator<Item = &'a str>, multiline: bool) -> Option<Self> {
        let mut sets: Vec<Set> = Vec::new();
        for r in regexes {
            sets.push(required_literals(r, multiline)?);
        }
        let regex_count = sets.len();
        if distinct(&sets) > FAST_LITERALS {
            // Fewer literals search faster (see `FAST_LITERALS`): a little precision is
            // worth it.
            let coarse: Vec<Set> = sets.iter().cloned().map(coarsen).collect();
            if distinct(&coarse) <= FAST_LITERALS {
                sets = coarse;
            }
        }
        let mut owned: Vec<(Vec<u8>, usize)> = sets
            .into_iter()
            .enumerate()
            .flat_map(|(i, set)| set.into_iter().map(move |l| (l, i)))
            .collect();
        if owned.is_empty() {
            return None;
        }
        owned.sort();
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        for (lit, i) in owned {
            if literals.last() != Some(&lit) {
                literals.push(lit);
                owners.push(Vec::new());
            }
            if let Some(o) = owners.last_mut() {
                o.push(i);
            }
        }
        let newline = literals.iter().any(|l| l.contains(&b'\n'));
        let implied = literals
            .iter()
            .map(|lit| {
                let mut regexes: Vec<usize> = literals
                    .iter()
                    .zip(&owners)
                    .filter(|(inner, _)| memchr::memmem::find(lit, inner).is_some())
                    .flat_map(|(_, o)| o.iter().copied())
                    .collect();
                regexes.sort_unstable();
                regexes.dedup();
                regexes
            })
            .collect();
        let backoff = literals
            .iter()
            .map(|lit| overlap_backoff(lit, &literals))
            .collect();
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&literals)
            .ok()?;
        let all = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(&literals)
            .ok()?;
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(&literals)
            .build();
        Some(Prefilter {
            searcher,
            packed,
            all,
            owners,
            implied,
            backoff,
            regexes: regex_count,
            literals: literals.len(),
            newline,
        })
    }

    /// Which regexes may match `text`: `out[i]` is false only for a regex `i` that cannot.
    pub fn candidates(&self, text: &str, out: &mut Vec<bool>) {
        out.clear();
        out.resize(self.regexes, false);
        for m in self.all.find_overlapping_iter(text) {
            for &i in &self.owners[m.pattern().as_usize()] {
                out[i] = true;
            }
        }
    }

    /// Can one of the regexes match somewhere in `text`? `false` is certain.
    pub fn may_match(&self, text: &str) -> bool {
        self.searcher.is_match(text)
    }

    /// [`Self::may_match`] and [`Self::candidates`] together: `None` when no regex can match,
    /// else the candidates in `out`.
    ///
    /// One leftmost-longest pass instead of an overlapping one. A literal found stands for
    /// every literal it contains, and the search goes on from its end, less its
    /// [`backoff`](Self::backoff): a literal that starts inside the one found and reaches past
    /// its end starts with one of its proper suffixes, at most that long. So every literal in
    /// the text is either found or contained in one that is.
    pub fn check(&self, text: &str, out: &mut Vec<bool>) -> Option<()> {
        let find = |from: usize| -> Option<(usize, usize)> {
            let span = aho_corasick::Span::from(from..text.len());
            match &self.packed {
                Some(p) => p
                    .find_in(text, span)
                    .map(|m| (m.pattern().as_usize(), m.end())),
                None => {
                    let input = aho_corasick::Input::new(text).span(span);
                    self.searcher
                        .find(input)
                        .map(|m| (m.pattern().as_usize(), m.end()))
                }
            }
        };
        let (mut lit, mut end) = find(0)?;
        out.clear();
        out.resize(self.regexes, false);
        loop {
            for &i in &self.implied[lit] {
                out[i] = true;
            }
            let next = end - self.backoff[lit];
            if next >= text.len() {
                break;
            }
            match find(next) {
                Some(found) => (lit, end) = found,
                None => break,
            }
        }
        Some(())
    }

    /// Does a literal hold a line break? (Then a text searched in pieces, such as a
    /// prefregex's `<F-CONTENT>` with a `\n` added, may hold one that the line does not.)
    pub fn has_newline(&self) -> bool {
        self.newline
    }

    /// How many literals are searched for.
    pub fn literals(&self) -> usize {
        self.literals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefregexes_that_match_every_line() {
        let sshd = r"^(?P<mlfid>(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:@vserver_\S+\s+)?(?:(?:(?:\[\d+\])?:\s+[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?|[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?)\s+)?(?:\[ID \d+ \S+\]\s+)?)(?:(?:error|fatal): (?:PAM: )?)?(?P<content>.+)$";
        assert!(matches_every_nonempty_line(sshd));
        // What the regex itself says, on lines as the single-line path searches them.
        let compiled = crate::CompiledRegex::new(sshd, crate::UseDns::Warn, false).unwrap();
        for line in [
            "",
            " ",
            "\t",
            "  ",
            "\r",
            "x",
            "é",
            "a b",
            "bastion sshd[1]: ",
            "sshd[1]: x",
            "host kernel: [ 1.0]: y",
            ":",
            "[]",
            "error: ",
        ] {
            let text = format!("{line}\n");
            assert_eq!(compiled.is_match(&text), !line.is_empty(), "{line:?}");
        }
        assert!(matches_every_nonempty_line(r"^(?P<content>.+)$"));
        assert!(matches_every_nonempty_line(r"^\s*(?:x)?(?P<content>.+)$"));
        // An optional look-around can be left out.
        assert!(matches_every_nonempty_line(r"^(?:\b)?(?P<content>.+)$"));
        // A part that must be there, a look-around, a narrower class, a lazy or bounded
        // repetition, a missing anchor: not every line.
        for re in [
            r"^sshd(?P<content>.+)$",
            r"^\b(?P<content>.+)$",
            r"^(?=a)(?P<content>.+)$",
            r"^(?P<content>\S+)$",
            r"^(?P<content>.+?)$",
            r"^(?P<content>.{1,80})$",
            r"(?P<content>.+)$",
            r"^(?P<content>.+)",
            r"^(?s)(?P<content>.+)$",
        ] {
            assert!(!matches_every_nonempty_line(re), "{re}");
        }
    }

    fn lits(re: &str) -> Option<Vec<String>> {
        required_literals(re, false).map(|s| {
            s.into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect()
        })
    }

    #[test]
    fn literals_of_a_concatenation() {
        assert_eq!(
            lits(r"^Failed \S+ for (?P<user>.*) from (?P<ip>\d+\.\d+)$"),
            Some(vec!["Failed ".to_string()])
        );
    }

    #[test]
    fn alternatives_and_small_classes_expand() {
        let l = lits(r"^[iI](?:llegal|nvalid) user \S+ from x").unwrap();
        assert!(l.contains(&"Illegal user ".to_string()), "{l:?}");
        assert!(l.contains(&"invalid user ".to_string()), "{l:?}");
    }

    #[test]
    fn optional_parts_give_nothing() {
        assert_eq!(lits(r"(?:abc)?\d+"), None);
        assert_eq!(lits(r"\w+|abcdef"), None);
        assert_eq!(lits(r".*"), None);
    }

    #[test]
    fn lookaround_and_backrefs_stay_sound() {
        // The look-ahead's text is not required; the literal around it is.
        let l = lits(r"foo(?=barbaz)qux").unwrap();
        assert_eq!(l, vec!["foo".to_string()]);
        // A back-reference can be anything: "ab" and "cd" are not one literal.
        let l = lits(r"(x)abc\1cde").unwrap();
        assert_eq!(l, vec!["xabc".to_string()]);
        // A conditional's branches are optional.
        assert_eq!(lits(r"(?P<a>a)?(?(a)bcdef|ghijk)"), None);
    }

    #[test]
    fn case_insensitive_literals() {
        let l = lits(r"(?i)ssh").unwrap();
        // s/S/ſ and h/H: every spelling Python's IGNORECASE matches.
        assert!(l.contains(&"ſsh".to_string()));
        assert!(l.contains(&"SSH".to_string()));
    }

    #[test]
    fn prefilter_rules_out_only_impossible_lines() {
        let p = Prefilter::new(
            [r"^Failed \S+ for .* from \S+", r"Invalid user \S+ from"],
            false,
        )
        .unwrap();
        assert!(p.may_match("Failed password for x from 192.0.2.1"));
        assert!(p.may_match("... Invalid user bob from 192.0.2.1"));
        assert!(!p.may_match("pam_unix(cron:session): session opened"));
        let mut c = Vec::new();
        p.candidates("x Invalid user bob from y", &mut c);
        assert_eq!(c, vec![false, true]);
        p.candidates("Failed Invalid user ", &mut c);
        assert_eq!(c, vec![true, true]);
        p.candidates("nothing", &mut c);
        assert_eq!(c, vec![false, false]);
        assert!(Prefilter::new([r"Failed", r"\d+"], false).is_none());
    }

    #[test]
    fn coarsened_sets_keep_a_member_wherever_the_set_had_one() {
        let set = |v: &[&str]| -> Set { v.iter().map(|s| s.as_bytes().to_vec()).collect() };
        let show = |s: Set| -> Vec<String> {
            s.into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect()
        };
        let got = coarsen(set(&[
            "Connection closed by",
            "Connection closed from",
            "Connection reset by",
            "Disconnected by",
            "Disconnected from",
        ]));
        assert_eq!(show(got), ["Connection ", "Disconnected "]);
        // Prefixes shorter than MIN_MERGED_LEN stay apart; a member holding another goes.
        let got = coarsen(set(&[
            "Illegal user ",
            "Invalid user ",
            "Failed ",
            "xx Failed x",
        ]));
        assert_eq!(show(got), ["Failed ", "Illegal user ", "Invalid user "]);
        // Every text that holds a member of the set holds a member of the coarse one.
        let original = set(&["abcdefgh", "abcdefxy", "zzabcdefgh", "qqqq"]);
        let coarse = coarsen(original.clone());
        for text in ["..abcdefgh..", "abcdefxy", "zzabcdefgh", "qqqq", "none"] {
            let holds = |s: &Set| {
                s.iter()
                    .any(|m| memchr::memmem::find(text.as_bytes(), m).is_some())
            };
            assert!(!holds(&original) || holds(&coarse), "{text}");
        }
    }

    #[test]
    fn many_literals_are_coarsened_to_the_fast_layout() {
        // 36 literals (six regexes with six spellings each); coarsened, 12.
        let regexes: Vec<String> = ["alpha", "bravo", "delta", "hotel", "oscar", "tango"]
            .iter()
            .map(|w| format!("^{w}-(?:one|two|three|four|five|six)-long"))
            .collect();
        let p = Prefilter::new(regexes.iter().map(String::as_str), false).unwrap();
        assert_eq!(p.literals(), 6);
        let mut c = Vec::new();
        assert!(p.check("x hotel-two-long y", &mut c).is_some());
        assert_eq!(c, [false, false, false, true, false, false]);
        // A few: left as they are.
        let p = Prefilter::new(regexes[..2].iter().map(String::as_str), false).unwrap();
        assert_eq!(p.literals(), 12);
    }

    #[test]
    fn check_finds_what_the_overlapping_pass_finds() {
        // Random literal sets over a three-letter alphabet, so that literals overlap, contain
        // one another and share prefixes and suffixes, and random texts over the same letters:
        // the one-pass check must find exactly the candidates of the overlapping pass.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut compared = 0;
        for _ in 0..400 {
            let regexes: Vec<String> = (0..1 + next(4))
                .map(|_| {
                    let alternatives: Vec<String> = (0..1 + next(3))
                        .map(|_| (0..3 + next(4)).map(|_| ['a', 'b', 'c'][next(3)]).collect())
                        .collect();
                    format!("(?:{})", alternatives.join("|"))
                })
                .collect();
            let p = Prefilter::new(regexes.iter().map(String::as_str), false).unwrap();
            for _ in 0..50 {
                let text: String = (0..40).map(|_| ['a', 'b', 'c'][next(3)]).collect();
                let (mut want, mut got) = (Vec::new(), Vec::new());
                p.candidates(&text, &mut want);
                match p.check(&text, &mut got) {
                    Some(()) => assert_eq!(got, want, "{regexes:?} on {text}"),
                    None => assert!(want.iter().all(|c| !c), "{regexes:?} on {text}"),
                }
                compared += 1;
            }
        }
        assert_eq!(compared, 20_000);
    }

    #[test]
    fn check_is_may_match_and_candidates_in_one() {
        // Literals that overlap and contain one another: the leftmost one starts the
        // overlapping pass, and every literal at or after it is still found.
        let p = Prefilter::new(
            [
                r"^authentication failure",
                r"failure; user=\S+",
                r"ure; us",
                r"^x user=(\S+)",
            ],
            false,
        )
        .unwrap();
        for text in [
            "authentication failure; user=root",
            "xx failure; user=bob",
            "nothing here",
            "ure; user=",
            "a user= b",
            "pam: authentication failure; logname= uid=0",
        ] {
            let (mut want, mut got) = (Vec::new(), Vec::new());
            p.candidates(text, &mut want);
            let checked = p.check(text, &mut got);
            assert_eq!(checked.is_some(), p.may_match(text), "{text}");
            if checked.is_some() {
                assert_eq!(got, want, "{text}");
            }
        }
    }
}
