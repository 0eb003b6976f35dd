//! `bantime.increment`: longer bans for addresses banned before.
//!
//! Fail2Ban computes the next ban time from the number of earlier bans with either
//! `bantime.multipliers` (`bantime * factor * multipliers[min(count, last)]`) or
//! `bantime.formula`, a Python expression over `ban.Time`, `ban.Count` and `banFactor`
//! (default `ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor`), capped by
//! `bantime.maxtime` and mixed with up to `bantime.rndtime` random seconds. Formulas are parsed
//! here by a small evaluator for the arithmetic subset such formulas use (numbers, `+ - * / //
//! % ** << >>`, comparisons, `and/or/not`, `x if c else y`, `min max abs int float round` and
//! `math.exp/log/sqrt/pow`); anything else is a configuration error, never `eval`.

use std::collections::BTreeMap;

/// A jail's increment settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BanTimeIncrement {
    factor: f64,
    rule: Rule,
    maxtime: Option<f64>,
    rndtime: Option<f64>,
    /// Count earlier bans in every jail, not just this one.
    pub overalljails: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Multipliers(Vec<f64>),
    Formula(Expr),
}

/// The default formula.
pub const DEFAULT_FORMULA: &str = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";

fn as_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

impl BanTimeIncrement {
    /// Read `bantime.*` from a jail's options; `Ok(None)` when `bantime.increment` is off.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        let get = |k: &str| options.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if !get("bantime.increment").is_some_and(as_bool) {
            return Ok(None);
        }
        let num = |k: &str, v: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .map_err(|_| format!("{k}: expected a number, got {v:?}"))
        };
        let dur = |k: &str, v: &str| -> Result<f64, String> {
            warden_config::parse_duration(v)
                .map(|s| s as f64)
                .map_err(|e| format!("{k}: {e}"))
        };
        let factor = match get("bantime.factor") {
            Some(v) => num("bantime.factor", v)?,
            None => 1.0,
        };
        let rule = match get("bantime.multipliers") {
            Some(m) => {
                let list = m
                    .split_whitespace()
                    .map(|x| num("bantime.multipliers", x))
                    .collect::<Result<Vec<_>, _>>()?;
                Rule::Multipliers(list)
            }
            None => {
                let text = get("bantime.formula").unwrap_or(DEFAULT_FORMULA);
                let expr = parse(text).map_err(|e| format!("bantime.formula: {e} in {text:?}"))?;
                // Catch unknown names and bad calls now rather than at the first ban.
                eval(
                    &expr,
                    &Vars {
                        time: 600.0,
                        count: 1.0,
                        factor,
                    },
                )
                .map_err(|e| format!("bantime.formula: {e} in {text:?}"))?;
                Rule::Formula(expr)
            }
        };
        Ok(Some(BanTimeIncrement {
            factor,
            rule,
            maxtime: get("bantime.maxtime")
                .map(|v| dur("bantime.maxtime", v))
                .transpose()?,
            rndtime: get("bantime.rndtime")
                .map(|v| dur("bantime.rndtime", v))
                .transpose()?,
            overalljails: get("bantime.overalljails").is_some_and(as_bool),
        }))
    }

    /// The ban time for an address banned `count` times before (0: first ban → `bantime`).
    /// Permanent bans (`bantime < 0`) stay permanent.
    pub fn bantime(&self, bantime: i64, count: u32) -> i64 {
        if bantime <= 0 || count == 0 {
            return bantime;
        }
        let base = bantime as f64;
        let mut t = match &self.rule {
            Rule::Multipliers(m) if !m.is_empty() => {
                let i = (count as usize).min(m.len() - 1);
                base * self.factor * m[i]
            }
            Rule::Multipliers(_) => base,
            Rule::Formula(e) => eval(
                e,
                &Vars {
                    time: base,
                    count: count as f64,
                    factor: self.factor,
                },
            )
            .unwrap_or(base)
            .max(base),
        };
        if let Some(max) = self.maxtime {
            t = t.min(max);
        }
        if let Some(rnd) = self.rndtime {
            t += random_unit() * rnd;
        }
        if !t.is_finite() || t >= i64::MAX as f64 {
            return i64::MAX / 2;
        }
        t.round() as i64
    }
}

fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

struct Vars {
    time: f64,
    count: f64,
    factor: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(String, Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
            out.push(b[st..i].iter().collect());
        } else if c.is_alphabetic() || c == '_' {
            let st = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                i += 1;
            }
            out.push(b[st..i].iter().collect());
        } else {
            let two: String = b[i..(i + 2).min(b.len())].iter().collect();
            if ["**", "//", "<<", ">>", "<=", ">=", "==", "!="].contains(&two.as_str()) {
                out.push(two);
                i += 2;
            } else if "+-*/%()<>,".contains(c) {
                out.push(c.to_string());
                i += 1;
            } else {
                return Err(format!("unexpected character {c:?}"));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<String>,
    pos: usize,
    depth: usize,
}

fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
        depth: 0,
    };
    let e = p.ternary()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("expression nested too deeply".into());
        }
        Ok(())
    }
    fn ternary(&mut self) -> Result<Expr, String> {
        self.deeper()?;
        let a = self.or()?;
        let r = if self.eat("if") {
            let c = self.or()?;
            if !self.eat("else") {
                return Err("expected 'else'".into());
            }
            let b = self.ternary()?;
            Expr::If(Box::new(c), Box::new(a), Box::new(b))
        } else {
            a
        };
        self.depth -= 1;
        Ok(r)
    }
    fn binary(
        &mut self,
        ops: &[&str],
        next: fn(&mut Parser) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut a = next(self)?;
        while let Some(op) = self.peek().filter(|t| ops.contains(t)).map(str::to_string) {
            self.pos += 1;
            let b = next(self)?;
            a = Expr::Bin(op, Box::new(a), Box::new(b));
        }
        Ok(a)
    }
    fn or(&mut self) -> Result<Expr, String> {
        self.binary(&["or"], Parser::and)
    }
    fn and(&mut self) -> Result<Expr, String> {
        self.binary(&["and"], Parser::not)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.eat("not") {
            self.deeper()?;
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.binary(&["<", ">", "<=", ">=", "==", "!="], Parser::shift)
    }
    fn shift(&mut self) -> Result<Expr, String> {
        self.binary(&["<<", ">>"], Parser::arith)
    }
    fn arith(&mut self) -> Result<Expr, String> {
        self.binary(&["+", "-"], Parser::term)
    }
    fn term(&mut self) -> Result<Expr, String> {
        self.binary(&["*", "/", "//", "%"], Parser::unary)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("-") {
            self.deeper()?;
            let e = Expr::Neg(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        if self.eat("+") {
            return self.unary();
        }
        let base = self.atom()?;
        if self.eat("**") {
            self.deeper()?;
            let exp = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Bin("**".into(), Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }
    fn atom(&mut self) -> Result<Expr, String> {
        let Some(t) = self.peek().map(str::to_string) else {
            return Err("unexpected end".into());
        };
        self.pos += 1;
        if t == "(" {
            let e = self.ternary()?;
            if !self.eat(")") {
                return Err("expected ')'".into());
            }
            return Ok(e);
        }
        if let Ok(n) = t.parse::<f64>() {
            return Ok(Expr::Num(n));
        }
        if t.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            if self.eat("(") {
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.ternary()?);
                        if self.eat(")") {
                            break;
                        }
                        if !self.eat(",") {
                            return Err("expected ',' or ')'".into());
                        }
                    }
                }
                return Ok(Expr::Call(t, args));
            }
            return Ok(Expr::Var(t));
        }
        Err(format!("unexpected {t:?}"))
    }
}

fn truth(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

fn eval(e: &Expr, v: &Vars) -> Result<f64, String> {
    Ok(match e {
        Expr::Num(n) => *n,
        Expr::Var(name) => match name.as_str() {
            "ban.Time" => v.time,
            "ban.Count" => v.count,
            "banFactor" => v.factor,
            "True" => 1.0,
            "False" => 0.0,
            "math.pi" => std::f64::consts::PI,
            "math.e" => std::f64::consts::E,
            other => {
                return Err(format!(
                    "unknown name {other:?} (use ban.Time, ban.Count, banFactor)"
                ))
            }
        },
        Expr::Neg(a) => -eval(a, v)?,
        Expr::Not(a) => f64::from(!truth(eval(a, v)?)),
        Expr::If(c, a, b) => {
            if truth(eval(c, v)?) {
                eval(a, v)?
            } else {
                eval(b, v)?
            }
        }
        Expr::Bin(op, a, b) => {
            let x = eval(a, v)?;
            if op == "and" {
                return Ok(if truth(x) { eval(b, v)? } else { x });
            }
            if op == "or" {
                return Ok(if truth(x) { x } else { eval(b, v)? });
            }
            let y = eval(b, v)?;
            match op.as_str() {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "/" => x / y,
                "//" => (x / y).floor(),
                "%" => x - y * (x / y).floor(),
                "**" => x.powf(y),
                "<<" => x.trunc() * 2f64.powi(y.trunc().clamp(0.0, 1023.0) as i32),
                ">>" => (x.trunc() / 2f64.powi(y.trunc().clamp(0.0, 1023.0) as i32)).floor(),
                "<" => f64::from(x < y),
                ">" => f64::from(x > y),
                "<=" => f64::from(x <= y),
                ">=" => f64::from(x >= y),
                "==" => f64::from(x == y),
                "!=" => f64::from(x != y),
                other => return Err(format!("unknown operator {other:?}")),
            }
        }
        Expr::Call(name, args) => {
            let a = args
                .iter()
                .map(|x| eval(x, v))
                .collect::<Result<Vec<_>, _>>()?;
            let one = || -> Result<f64, String> {
                match a.as_slice() {
                    [x] => Ok(*x),
                    _ => Err(format!("{name}() takes one argument")),
                }
            };
            match name.as_str() {
                "float" | "abs" | "int" | "round" | "math.exp" | "math.log" | "math.sqrt"
                | "math.floor" | "math.ceil" => {
                    let x = one()?;
                    match name.as_str() {
                        "float" => x,
                        "abs" => x.abs(),
                        "int" => x.trunc(),
                        "round" => x.round(),
                        "math.exp" => x.exp(),
                        "math.log" => x.ln(),
                        "math.sqrt" => x.sqrt(),
                        "math.floor" => x.floor(),
                        _ => x.ceil(),
                    }
                }
                "min" if !a.is_empty() => a.iter().copied().fold(f64::INFINITY, f64::min),
                "max" if !a.is_empty() => a.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                "math.pow" if a.len() == 2 => a[0].powf(a[1]),
                other => return Err(format!("unknown function {other:?}")),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn off_unless_enabled() {
        assert_eq!(BanTimeIncrement::from_options(&opts(&[])).unwrap(), None);
        assert_eq!(
            BanTimeIncrement::from_options(&opts(&[("bantime.increment", "false")])).unwrap(),
            None
        );
    }

    #[test]
    fn default_formula_doubles_per_earlier_ban() {
        let inc = BanTimeIncrement::from_options(&opts(&[("bantime.increment", "true")]))
            .unwrap()
            .unwrap();
        let got: Vec<i64> = (0..5).map(|c| inc.bantime(600, c)).collect();
        assert_eq!(got, vec![600, 1200, 2400, 4800, 9600]);
        // 1<<20 is the ceiling of the default formula.
        assert_eq!(inc.bantime(1, 30), 1 << 20);
        assert_eq!(inc.bantime(-1, 3), -1, "permanent stays permanent");
    }

    #[test]
    fn multipliers_factor_and_maxtime() {
        let inc = BanTimeIncrement::from_options(&opts(&[
            ("bantime.increment", "true"),
            ("bantime.multipliers", "1 5 30 60"),
            ("bantime.factor", "2"),
            ("bantime.maxtime", "1h"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(inc.bantime(60, 1), 600);
        assert_eq!(inc.bantime(60, 2), 3600);
        assert_eq!(
            inc.bantime(60, 9),
            3600,
            "last multiplier, capped by maxtime"
        );
    }

    #[test]
    fn aggressive_example_formula_from_jail_conf() {
        let inc = BanTimeIncrement::from_options(&opts(&[
            ("bantime.increment", "true"),
            ("bantime.factor", "0.6931471805599453"),
            (
                "bantime.formula",
                "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)",
            ),
        ]))
        .unwrap()
        .unwrap();
        // factor ln 2 makes it double per ban, like the default.
        assert_eq!(inc.bantime(600, 1), 1200);
        assert_eq!(inc.bantime(600, 2), 2400);
    }

    #[test]
    fn rndtime_adds_at_most_its_value() {
        let inc = BanTimeIncrement::from_options(&opts(&[
            ("bantime.increment", "true"),
            ("bantime.rndtime", "100"),
        ]))
        .unwrap()
        .unwrap();
        for _ in 0..50 {
            let t = inc.bantime(600, 1);
            assert!((1200..=1300).contains(&t), "{t}");
        }
    }

    #[test]
    fn bad_formulas_are_configuration_errors() {
        for f in ["__import__('os').system('x')", "ban.Time *", "nope * 2", "ban.Time ; 1", "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))"] {
            let r = BanTimeIncrement::from_options(&opts(&[
                ("bantime.increment", "true"),
                ("bantime.formula", f),
            ]));
            assert!(r.is_err(), "{f} accepted");
        }
        assert!(BanTimeIncrement::from_options(&opts(&[
            ("bantime.increment", "true"),
            ("bantime.multipliers", "1 two"),
        ]))
        .is_err());
    }
}
