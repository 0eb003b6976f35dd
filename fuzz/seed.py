#!/usr/bin/env python3
"""Write seed corpora for the fuzz targets into fuzz/corpus/<target>/ (not committed).

Seeds come from Warden's own config/ tree, the shared differential corpus (../shared/corpus)
when present, and Debian's fail2ban package when scripts/fetch-fail2ban can provide it (its
files are GPL: they are only read here, at run time, never committed). Every seed is in the
input format its target documents at the top of its source file.

Usage: python3 fuzz/seed.py [--no-fail2ban]
"""

import hashlib
import json
import pathlib
import re
import subprocess
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"
SHARED = ROOT.parent / "shared" / "corpus"
MAX_SEEDS = 3000


def fail2ban_root():
    if "--no-fail2ban" in sys.argv:
        return None
    try:
        out = subprocess.run(
            [str(ROOT / "scripts" / "fetch-fail2ban")],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"fail2ban package not available ({e}); seeding without it", file=sys.stderr)
        return None
    return pathlib.Path(out)


def put(target, data):
    """Store one seed, named by its hash (so reruns do not duplicate)."""
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def jsonl(name):
    path = SHARED / name
    if not path.is_file():
        return []
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def conf_dirs(f2b):
    dirs = [ROOT / "config"]
    if f2b:
        dirs.append(f2b / "etc" / "fail2ban")
    return dirs


def option_lines(text, option):
    """Values (continuation lines included) of `option = ...` in an INI text, `%%` -> `%`."""
    out = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(rf"^{option}\s*=\s*(.*)$", line)
        if not m:
            continue
        vals = [m.group(1)]
        for nxt in lines[i + 1:]:
            if nxt[:1] in (" ", "\t") and nxt.strip() and not nxt.lstrip().startswith(("#", ";")):
                vals.append(nxt.strip())
            else:
                break
        out.extend(v.replace("%%", "%") for v in vals if v)
    return out


def seed_dialect(f2b):
    regexes = set()
    for row in jsonl("match_cases.jsonl") + jsonl("date_cases.jsonl"):
        regexes.add((row["regex"], bool(row.get("multiline"))))
    for d in conf_dirs(f2b):
        for f in sorted((d / "filter.d").glob("*.conf")):
            text = f.read_text(errors="replace")
            for opt in ("failregex", "ignoreregex", "prefregex", r"mdre-\S+", r"_\w+"):
                for v in option_lines(text, opt):
                    regexes.add((v, False))
    for i, (r, ml) in enumerate(sorted(regexes)[:MAX_SEEDS]):
        mode = (i % 4) | (4 if ml else 0)
        put("dialect", bytes([mode]) + r.encode())


def sample_logs(f2b):
    if not f2b:
        return []
    logs = sorted(p for p in f2b.glob("usr/lib/python3/dist-packages/fail2ban/tests/files/logs/**/*")
                  if p.is_file())
    out = []
    for f in logs:
        lines = [l for l in f.read_text(errors="replace").split("\n")
                 if l and not l.startswith("#")]
        out.append((f.name, lines))
    return out


def seed_date_detector(f2b):
    rows = jsonl("date_cases.jsonl")
    for i, row in enumerate(rows[:MAX_SEEDS]):
        put("date_detector", bytes([0, i % 40]) + row["input"].encode())
    for name, lines in sample_logs(f2b):
        for k in range(0, min(len(lines), 24), 8):
            put("date_detector", bytes([0, k]) + "\n".join(lines[k:k + 8]).encode())
    # Custom datepatterns (selector past the built-in list): pattern, zone, lines.
    put("date_detector", b"\xff\x00^%Y-%m-%d %H:%M:%S\nUTC+0100\n2005-01-23 21:59:59 host x")
    put("date_detector", b"\xff\x00{^LN-BEG}%ExY%Exm%Exd\n\n20050123 x\n20050124 y")
    put("date_detector", b"\xff\x00LEPOCH\n\n1106513999000 x\n@4000000041f43ef21e1b0b8c y")


def seed_line_matching(f2b):
    local = [
        "Jan 23 21:59:59 host sshd[1234]: Failed password for invalid user admin from 192.0.2.1 port 4711 ssh2",
        "Jan 23 21:59:59 host sshd[1234]: Connection from 192.0.2.1 port 4711 on 10.0.0.1 port 22\n"
        "Jan 23 21:59:59 host sshd[1234]: Failed publickey for root from 192.0.2.1 port 4711 ssh2: RSA x\n"
        "Jan 23 21:59:59 host sshd[1234]: Disconnected from authenticating user root 192.0.2.1 port 4711 [preauth]",
        "Jan 23 21:59:59 host sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::1  user=root",
        "[2005-01-23 21:59:59] ssh: 192.0.2.7 denied a b c again by ssh",
        "[2005-01-23 21:59:59] [core] client 192.0.2.9:80 x [core] tagged\n*4",
        "2005-01-23 21:59:59 session abc123 opened\nnoise\n2005-01-23 21:59:59 login failed for bob from 192.0.2.3",
        "1106513999 user eve unknown\n1106513999 rhost=198.51.100.4",
        "word word word word word word word word word word word word word word word word word word x\n*5",
    ]
    for i, text in enumerate(local):
        put("line_matching", bytes([i]) + text.encode())
    for name, lines in sample_logs(f2b):
        for k in range(0, min(len(lines), 16), 4):
            put("line_matching", bytes([k]) + "\n".join(lines[k:k + 4]).encode())


def read(path):
    return path.read_text(errors="replace")


def seed_ini(f2b):
    for d in conf_dirs(f2b):
        filters = sorted(p.stem for p in (d / "filter.d").glob("*.conf"))
        actions = sorted(p.stem for p in (d / "action.d").glob("*.conf"))
        common = [p for p in [d / "filter.d" / "common.conf"] if p.is_file()]
        paths = sorted(d.glob("paths-*.conf"))
        # The whole jail.conf with a few enabled jails and their files.
        jail = read(d / "jail.conf")
        for i, name in enumerate(filters):
            if name == "common":
                continue
            action = actions[i % len(actions)] if actions else None
            parts = [
                f"[{name}]\nenabled = true\nfilter = {name}\nlogpath = /var/log/x.log\n"
                + (f"action = {action}[name=%(__name__)s, port=\"80,443\"]\n" if action else ""),
                f"@@ filter.d/{name}.conf\n" + read(d / "filter.d" / f"{name}.conf"),
            ]
            parts += [f"@@ filter.d/{p.name}\n" + read(p) for p in common]
            if action:
                a = d / "action.d" / f"{action}.conf"
                parts.append(f"@@ action.d/{action}.conf\n" + read(a))
                for inc in re.findall(r"^(?:before|after)\s*=\s*(\S+\.conf)", read(a), re.M):
                    if (d / "action.d" / inc).is_file():
                        parts.append(f"@@ action.d/{inc}\n" + read(d / "action.d" / inc))
            put("ini", "\n".join(parts))
        # Stock jail.conf with its paths files and one jail.d drop-in.
        stock = [jail] + [f"@@ {p.name}\n" + read(p) for p in paths]
        stock.append("@@ jail.d/local.conf\n[sshd]\nenabled = true\nbackend = auto\n")
        stock += [f"@@ filter.d/{n}.conf\n" + read(d / "filter.d" / f"{n}.conf")
                  for n in ("sshd", "common") if (d / "filter.d" / f"{n}.conf").is_file()]
        put("ini", "\n".join(stock))
        if (d / "fail2ban.conf").is_file():
            put("ini", "[x]\n@@ fail2ban.conf\n" + read(d / "fail2ban.conf"))
    # Cycles that must be errors.
    put("ini", "[DEFAULT]\na = %(b)s\nb = %(a)s\n[j]\nenabled = true\nfilter = %(a)s\n")
    put("ini", "[INCLUDES]\nbefore = jail.conf\nafter = jail.local\n@@ jail.local\n[INCLUDES]\nbefore = jail.conf\n")
    put("ini", "[j]\nenabled = true\nfilter = f\nlogpath = /x\n@@ filter.d/f.conf\n[Definition]\na = <b>\nb = <a>\nfailregex = <a> <HOST>\n")


def sections(text):
    """Split an INI text into {section name: body}."""
    out, cur = {}, None
    for line in text.split("\n"):
        m = re.match(r"^\[([^\]]+)\]\s*$", line)
        if m:
            cur = m.group(1)
            out.setdefault(cur, "")
        elif cur is not None:
            out[cur] += line + "\n"
    return out


def seed_interpolation(f2b):
    jail_default = "port = 0:65535\nprotocol = tcp\nchain = INPUT\nbantime = 10m\nbanaction = demo\n"
    jail_own = "port = ssh\nmode = aggressive\nlogtype = file\n"
    params = 'name=%(__name__)s, port="%(port)s", protocol=%(protocol)s, chain=%(chain)s'
    for d in conf_dirs(f2b):
        for a in sorted((d / "action.d").glob("*.conf")):
            s = sections(read(a))
            parts = [jail_default, jail_own, params,
                     s.get("Definition", ""), s.get("Init", ""), s.get("Init?family=inet6", "")]
            put("interpolation", "\n@@\n".join(parts))
    put("interpolation", "\n@@\n".join([
        "a = %(b)s\nb = %(a)s\n", "x = %(known/x)s y\n", "p=<q>",
        "actionban = <a> <ip> <p>\nactionunban = <actionban>\n",
        "a = <b>\nb = <a>\n", "a = <b?family=inet6>\n",
    ]))


def main():
    f2b = fail2ban_root()
    seed_dialect(f2b)
    seed_date_detector(f2b)
    seed_line_matching(f2b)
    seed_ini(f2b)
    seed_interpolation(f2b)
    for t in sorted(CORPUS.iterdir()):
        print(f"{t.name}: {sum(1 for _ in t.iterdir())} seeds")


if __name__ == "__main__":
    main()
