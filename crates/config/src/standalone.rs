//! One filter resolved on its own, outside any jail: what `warden regex` and `warden test-filter`
//! need (Fail2Ban's `fail2ban-regex` and sample tests read filters the same way).

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::error;
use crate::filter::{resolve, FilterRequest};
use crate::optlist::extract_options;
use crate::overlay::Loader;
use crate::{Diagnostic, FilterConfig, Location};

/// Resolve `spec` (`name` or `name[key=value, ...]`) from `dir/filter.d`, with `params` added to
/// (and overriding) the spec's own parameters. `backend` decides the default `logtype` (`auto`
/// gives `file`, `systemd` gives `journal`).
pub fn load_filter(
    dir: &Path,
    spec: &str,
    params: &BTreeMap<String, String>,
    backend: &str,
) -> Result<FilterConfig, Vec<Diagnostic>> {
    let mut loader = Loader::new(dir);
    let loc = Location::at(dir, None);
    let (name, mut opts) = match extract_options(spec) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![error(loc, None, Some("filter"), e.message(spec)).diag]);
        }
    };
    opts.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut jail_first = BTreeMap::new();
    jail_first.insert("backend".to_string(), backend.to_string());
    jail_first.insert("filter".to_string(), spec.to_string());
    let req = FilterRequest {
        jail: "standalone",
        name: &name,
        params: &opts,
        jail_first: &jail_first,
        backend,
        loc: &loc,
    };
    let resolved = resolve(&mut loader, &req);
    let (errors, _warnings) = loader.diags.split();
    match resolved {
        Some(r) if errors.is_empty() => Ok(r.config),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("filter.d")).unwrap();
        std::fs::write(
            dir.path().join("filter.d/demo.conf"),
            "[Init]\nmode = normal\n[Definition]\nmdre-normal = ^normal <HOST>$\nmdre-aggressive = ^aggressive <HOST>$\nfailregex = <mdre-<mode>>\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn options_in_the_spec_and_extra_params_select_the_variant() {
        let dir = tree();
        let none = BTreeMap::new();
        let f = load_filter(dir.path(), "demo", &none, "auto").unwrap();
        assert_eq!(f.failregex[0].0, "^normal <HOST>$");
        let f = load_filter(dir.path(), "demo[mode=aggressive]", &none, "auto").unwrap();
        assert_eq!(f.failregex[0].0, "^aggressive <HOST>$");
        let mut p = BTreeMap::new();
        p.insert("mode".to_string(), "aggressive".to_string());
        let f = load_filter(dir.path(), "demo[mode=normal]", &p, "auto").unwrap();
        assert_eq!(f.failregex[0].0, "^aggressive <HOST>$");
    }

    #[test]
    fn unknown_filter_and_bad_spec_are_errors() {
        let dir = tree();
        let none = BTreeMap::new();
        let e = load_filter(dir.path(), "nope", &none, "auto").unwrap_err();
        assert!(e[0].message.contains("unknown filter"), "{e:?}");
        let e = load_filter(dir.path(), "demo[mode=x", &none, "auto").unwrap_err();
        assert!(e[0].message.contains("unterminated"), "{e:?}");
    }
}
