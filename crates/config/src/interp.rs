//! `%(name)s` interpolation, as Python's `BasicInterpolation` plus Fail2Ban's extensions.
//!
//! A name is looked up in the caller's variables, then the section, then `[DEFAULT]`; the value
//! found is itself interpolated in the *same* section (so a `[DEFAULT]` value such as
//! `filter = %(__name__)s[mode=%(mode)s]` sees the jail's own `mode`). On top of that:
//! `%(__name__)s` is the section name, `%(sec/x)s` reads section `sec`, `%(default/x)s` reads
//! `[DEFAULT]`, and `%(known/x)s` reads the value `x` had before its last override (else the
//! `[DEFAULT]` one). `%%` is a literal `%`; any other `%` is an error, as in Python.
//!
//! Nesting is limited to 10 levels (so a cycle is an error, not a hang) and the total work and
//! output size are bounded, so a hostile file cannot make interpolation blow up exponentially.

use std::collections::BTreeMap;

use crate::overlay::Tree;

/// Deepest nesting of references, as Python's `MAX_INTERPOLATION_DEPTH`.
const MAX_DEPTH: usize = 10;
/// Largest interpolated value accepted.
const MAX_OUTPUT: usize = 1 << 20;
/// Most references followed for one value.
const MAX_STEPS: usize = 100_000;

/// Where names are looked up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    tree: &'a Tree,
    section: &'a str,
    vars: Option<&'a BTreeMap<String, String>>,
    extra: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Scope<'a> {
    /// Names of `section` (and `[DEFAULT]`) in `tree`.
    pub fn new(tree: &'a Tree, section: &'a str) -> Scope<'a> {
        Scope {
            tree,
            section,
            vars: None,
            extra: None,
        }
    }

    /// With caller variables that take precedence over the section (Python's `vars=`).
    pub fn with_vars(mut self, vars: &'a BTreeMap<String, String>) -> Scope<'a> {
        self.vars = Some(vars);
        self
    }

    /// With extra section options that take precedence over the file's (merged-in options).
    pub fn with_extra(mut self, extra: &'a BTreeMap<String, String>) -> Scope<'a> {
        self.extra = Some(extra);
        self
    }

    /// Raw text of `name`: variables, extra options, section, `[DEFAULT]`.
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        if let Some(v) = self.vars.and_then(|v| v.get(name)) {
            return Some(v);
        }
        if let Some(v) = self.extra.and_then(|v| v.get(name)) {
            return Some(v);
        }
        self.tree.raw(self.section, name).map(|v| v.text.as_str())
    }

    /// `name`'s value, interpolated; `None` when it is not defined.
    pub fn get(&self, name: &str) -> Option<Result<String, String>> {
        self.raw(name).map(|raw| self.interpolate(raw))
    }

    /// Interpolate `text` in this scope.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        if !text.contains('%') {
            return Ok(text.to_string());
        }
        let mut out = String::new();
        let mut steps = 0;
        self.expand(text, &mut Vec::new(), &mut out, &mut steps)?;
        Ok(out)
    }

    /// The value a `%(name)s` reference stands for, raw.
    fn lookup(&self, name: &str) -> Option<&'a str> {
        if let Some(v) = self.raw(name) {
            return Some(v);
        }
        if name == "__name__" {
            return Some(self.section);
        }
        let (sec, opt) = name.split_once('/')?;
        if sec.is_empty()
            || !sec
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        let from_default = || self.tree.defaults.get(opt).map(|v| v.text.as_str());
        match sec.to_lowercase().as_str() {
            "default" => from_default(),
            "known" => self
                .tree
                .known
                .get(self.section)
                .and_then(|s| s.get(opt))
                .map(|v| v.text.as_str())
                .or_else(from_default),
            _ => {
                let section = self.tree.sections.get(sec)?;
                section
                    .get(opt)
                    .map(|v| v.text.as_str())
                    .or_else(from_default)
            }
        }
    }

    fn expand(
        &self,
        mut rest: &str,
        chain: &mut Vec<String>,
        out: &mut String,
        steps: &mut usize,
    ) -> Result<(), String> {
        if chain.len() >= MAX_DEPTH {
            return Err(format!(
                "%(...)s references nest deeper than {MAX_DEPTH} levels (is there a cycle? {})",
                chain
                    .iter()
                    .map(|n| format!("%({n})s"))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ));
        }
        while let Some(p) = rest.find('%') {
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            if let Some(r) = rest.strip_prefix("%%") {
                out.push('%');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("%(") {
                let close = r
                    .find(')')
                    .filter(|&c| c > 0 && r[c + 1..].starts_with('s'));
                let Some(close) = close else {
                    return Err(format!(
                        "bad reference {:?}: expected %(name)s",
                        truncate(rest, 40)
                    ));
                };
                let name = r[..close].to_lowercase();
                rest = &r[close + 2..];
                *steps += 1;
                if *steps > MAX_STEPS {
                    return Err("too many %(...)s references to expand".into());
                }
                let Some(value) = self.lookup(&name) else {
                    let via = if chain.is_empty() {
                        String::new()
                    } else {
                        format!(" (reached through %({})s)", chain.join(")s -> %("))
                    };
                    return Err(format!(
                        "%({name})s refers to an option that is not defined{via}"
                    ));
                };
                if value.contains('%') {
                    chain.push(name);
                    self.expand(value, chain, out, steps)?;
                    chain.pop();
                } else {
                    out.push_str(value);
                }
            } else {
                return Err(format!(
                    "'%' must be followed by '%' or '(name)s', found {:?}; write %% for a literal percent sign",
                    truncate(rest, 40)
                ));
            }
            if out.len() > MAX_OUTPUT {
                return Err("interpolated value is larger than 1 MiB".into());
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini;
    use std::path::Path;

    fn tree(texts: &[&str]) -> Tree {
        let mut t = Tree::default();
        for (i, text) in texts.iter().enumerate() {
            let (f, d) = ini::parse(Path::new(&format!("f{i}.conf")), text);
            assert!(d.is_empty(), "{d:?}");
            t.merge(&f);
        }
        t
    }

    #[test]
    fn section_then_default_with_dynamic_scope() {
        let t = tree(&["[DEFAULT]\nmode = normal\nfilter = %(__name__)s[mode=%(mode)s]\n[sshd]\nmode = aggressive\n[other]\n"]);
        assert_eq!(
            Scope::new(&t, "sshd").get("filter").unwrap().unwrap(),
            "sshd[mode=aggressive]"
        );
        assert_eq!(
            Scope::new(&t, "other").get("filter").unwrap().unwrap(),
            "other[mode=normal]"
        );
    }

    #[test]
    fn percent_escape_and_errors() {
        let t = tree(&["[a]\nx = 100%%\ny = 5%\nz = %(nope)s\nw = %(x\n"]);
        let s = Scope::new(&t, "a");
        assert_eq!(s.get("x").unwrap().unwrap(), "100%");
        assert!(s
            .get("y")
            .unwrap()
            .unwrap_err()
            .contains("must be followed"));
        assert!(s.get("z").unwrap().unwrap_err().contains("not defined"));
        assert!(s.get("w").unwrap().unwrap_err().contains("bad reference"));
    }

    #[test]
    fn cycles_are_errors() {
        let t = tree(&["[a]\nx = %(y)s\ny = %(x)s\nself = a%(self)s\n"]);
        let s = Scope::new(&t, "a");
        assert!(s.get("x").unwrap().unwrap_err().contains("deeper than 10"));
        assert!(s
            .get("self")
            .unwrap()
            .unwrap_err()
            .contains("deeper than 10"));
    }

    #[test]
    fn exponential_blowup_is_bounded() {
        let mut text = String::from("[a]\nv0 = xxxxxxxxxxxxxxxx\n");
        for i in 1..10 {
            text.push_str(&format!(
                "v{i} = %(v{0})s%(v{0})s%(v{0})s%(v{0})s%(v{0})s%(v{0})s%(v{0})s%(v{0})s\n",
                i - 1
            ));
        }
        let t = tree(&[&text]);
        assert!(Scope::new(&t, "a").get("v9").unwrap().is_err());
    }

    #[test]
    fn section_default_and_known_references() {
        let t = tree(&[
            "[DEFAULT]\nd = dv\n[other]\nx = ox\n[a]\nk = first\n",
            "[a]\nk = %(known/k)s second\nr = %(other/x)s %(default/d)s %(known/d)s\n",
        ]);
        let s = Scope::new(&t, "a");
        assert_eq!(s.get("k").unwrap().unwrap(), "first second");
        assert_eq!(s.get("r").unwrap().unwrap(), "ox dv dv");
    }

    #[test]
    fn vars_take_precedence() {
        let t = tree(&["[a]\nport = 22\ncmd = --dport %(port)s\n"]);
        let vars = BTreeMap::from([("port".to_string(), "80".to_string())]);
        assert_eq!(
            Scope::new(&t, "a")
                .with_vars(&vars)
                .get("cmd")
                .unwrap()
                .unwrap(),
            "--dport 80"
        );
    }
}
