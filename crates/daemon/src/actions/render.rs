//! Turning an action command template into a shell script without ever pasting data into it.
//!
//! Static tags (`<iptables>`, `<chain>`, ...) were substituted by the configuration layer from
//! trusted configuration text. What remains are *dynamic* tags whose values come from the log —
//! `<ip>`, `<matches>`, `<F-USER>` — and an attacker writes the log. Fail2Ban pastes such values
//! into the command text (escaping some); Warden never does. Each dynamic tag becomes a reference
//! to an environment variable (`<F-USER>` → `$WARDEN_F_USER`), quoted for the place it stands in
//! (unquoted, inside `"…"`, inside `'…'`, inside `` `…` `` or `$(…)`), and the value travels in
//! the environment of the `sh` process. The shell expands a variable exactly once and never
//! parses its value as code, so `$(touch X)` in a user name stays text.

/// A value for a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagValue {
    /// Trusted text pasted as is (only for `<br>`, `<sp>` and similar layout tags).
    Literal(String),
    /// Data, passed through the environment.
    Data(String),
}

/// A script ready for `sh -c`, with the environment it needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// Shell text; contains only configuration text and variable references.
    pub text: String,
    /// Variables to set for the shell.
    pub env: Vec<(String, String)>,
}

/// Name of the environment variable carrying tag `tag`.
pub fn env_name(tag: &str) -> String {
    let mut name = String::from("WARDEN_");
    for c in tag.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_uppercase());
        } else {
            name.push('_');
        }
    }
    name
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Unquoted,
    Single,
    Double,
    Backtick,
    /// Inside `$(...)`, with the count of plain parentheses opened inside it.
    Subst(u32),
}

/// Substitute every tag `lookup` knows in `template`; unknown tags stay as written.
pub fn render(template: &str, lookup: &dyn Fn(&str) -> Option<TagValue>) -> Script {
    let mut out = Script::default();
    let mut stack: Vec<Ctx> = vec![Ctx::Unquoted];
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'<' {
            if let Some((tag, end)) = tag_at(template, i) {
                if let Some(value) = lookup(tag) {
                    let ctx = *stack.last().unwrap_or(&Ctx::Unquoted);
                    emit(&mut out, tag, value, ctx);
                    i = end;
                    continue;
                }
            }
        }
        let ctx = *stack.last().unwrap_or(&Ctx::Unquoted);
        // Copy one character (UTF-8 aware) and update the quoting state.
        let ch_len = utf8_len(c);
        out.text.push_str(&template[i..i + ch_len]);
        match (ctx, c) {
            (Ctx::Single, b'\'') => {
                stack.pop();
            }
            (Ctx::Single, _) => {}
            // The escaped character is copied verbatim and has no quoting effect.
            (_, b'\\') if i + 1 < bytes.len() => {
                let l = utf8_len(bytes[i + 1]);
                out.text.push_str(&template[i + 1..i + 1 + l]);
                i += 1 + l;
                continue;
            }
            (Ctx::Double, b'"') => {
                stack.pop();
            }
            (Ctx::Backtick, b'`') => {
                stack.pop();
            }
            (_, b'`') => stack.push(Ctx::Backtick),
            (_, b'$') if bytes.get(i + 1) == Some(&b'(') => {
                out.text.push('(');
                i += 2;
                stack.push(Ctx::Subst(0));
                continue;
            }
            (Ctx::Double, _) => {}
            (_, b'\'') => stack.push(Ctx::Single),
            (_, b'"') => stack.push(Ctx::Double),
            (Ctx::Subst(n), b'(') => {
                stack.pop();
                stack.push(Ctx::Subst(n + 1));
            }
            (Ctx::Subst(n), b')') => {
                stack.pop();
                if n > 0 {
                    stack.push(Ctx::Subst(n - 1));
                }
            }
            _ => {}
        }
        i += ch_len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// A `<name>` starting at byte `start`: the name and the index after `>`.
fn tag_at(s: &str, start: usize) -> Option<(&str, usize)> {
    let rest = &s[start + 1..];
    let end = rest.find(['>', '<', '\n', ' ', '\t'])?;
    if !rest[end..].starts_with('>') || end == 0 {
        return None;
    }
    let name = &rest[..end];
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return None;
    }
    Some((name, start + 1 + end + 1))
}

fn emit(out: &mut Script, tag: &str, value: TagValue, ctx: Ctx) {
    match value {
        TagValue::Literal(text) => out.text.push_str(&text),
        TagValue::Data(data) => {
            let name = env_name(tag);
            let reference = match ctx {
                Ctx::Double => format!("${{{name}}}"),
                Ctx::Single => format!("'\"${{{name}}}\"'"),
                Ctx::Unquoted | Ctx::Backtick | Ctx::Subst(_) => format!("\"${{{name}}}\""),
            };
            out.text.push_str(&reference);
            // The environment cannot carry NUL bytes; nothing legitimate contains them.
            let data = data.replace('\0', "");
            if !out.env.iter().any(|(n, _)| *n == name) {
                out.env.push((name, data));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(tag: &str) -> Option<TagValue> {
        match tag {
            "ip" => Some(TagValue::Data("192.0.2.66".into())),
            "F-USER" => Some(TagValue::Data("$(touch X)".into())),
            "br" => Some(TagValue::Literal("\n".into())),
            _ => None,
        }
    }

    #[test]
    fn unquoted_tag_becomes_quoted_variable() {
        let s = render("iptables -I f2b 1 -s <ip> -j DROP", &data);
        assert_eq!(s.text, "iptables -I f2b 1 -s \"${WARDEN_IP}\" -j DROP");
        assert_eq!(s.env, vec![("WARDEN_IP".into(), "192.0.2.66".into())]);
    }

    #[test]
    fn tag_in_double_quotes_is_a_bare_reference() {
        let s = render("echo \"user <F-USER> from <ip>\"", &data);
        assert_eq!(s.text, "echo \"user ${WARDEN_F_USER} from ${WARDEN_IP}\"");
    }

    #[test]
    fn tag_in_single_quotes_leaves_and_reenters_the_quotes() {
        let s = render("echo 'user <F-USER>'", &data);
        assert_eq!(s.text, "echo 'user '\"${WARDEN_F_USER}\"''");
    }

    #[test]
    fn tag_in_command_substitution_inside_double_quotes_is_quoted_again() {
        let s = render("printf \"x `whois <ip>` $(host <ip>) y\"", &data);
        assert_eq!(
            s.text,
            "printf \"x `whois \"${WARDEN_IP}\"` $(host \"${WARDEN_IP}\") y\""
        );
    }

    #[test]
    fn unknown_tags_and_escaped_quotes_are_kept() {
        let s = render("echo \\\"<name> <br>", &data);
        assert_eq!(s.text, "echo \\\"<name> \n");
    }

    #[test]
    fn shell_really_treats_values_as_text() {
        let dir = std::env::temp_dir().join(format!("warden-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("X");
        let evil = format!(
            "$(touch {m}) `touch {m}` ;touch {m} |touch {m}\ntouch {m} '\"",
            m = marker.display()
        );
        let lookup = |tag: &str| match tag {
            "F-USER" => Some(TagValue::Data(evil.clone())),
            _ => None,
        };
        for template in [
            "echo <F-USER> >/dev/null",
            "echo \"<F-USER>\" >/dev/null",
            "echo '<F-USER>' >/dev/null",
            "echo `echo <F-USER>` >/dev/null",
            "echo \"$(echo '<F-USER>')\" >/dev/null",
        ] {
            let s = render(template, &lookup);
            let st = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&s.text)
                .envs(s.env.iter().map(|(k, v)| (k, v)))
                .status()
                .unwrap();
            assert!(st.success(), "{template} -> {}", s.text);
            assert!(!marker.exists(), "injection through {template}: {}", s.text);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
