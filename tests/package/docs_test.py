#!/usr/bin/env python3
"""The man pages and the bash completion say what --help says.

usage: docs_test.py MKMASTER MAN_DIR COMPLETION LAB_INI
MAN_DIR and COMPLETION are what the build generated (packaging/gen_docs.cmake).
Every subcommand `mkmaster --help` lists must have a page that lists every
option its `--help` lists; `man -l` must render each page without warnings;
the completion must offer the subcommands, a subcommand's options and the
node names of an inventory. Exit 0 = pass."""
import gzip
import os
import re
import subprocess
import sys

mkmaster, man_dir, completion, lab_ini = sys.argv[1:5]
failures = []


def check(name, ok, detail=""):
    print("docs_test: %-60s %s" % (name, "ok" if ok else "FAILED"), flush=True)
    if not ok:
        failures.append("%s: %s" % (name, detail))


def help_of(*args):
    return subprocess.run([mkmaster, *args, "--help"], capture_output=True, text=True, timeout=30, check=True).stdout


def options_in(help_text):
    """Every -x / --long spelling in the OPTIONS part of a --help."""
    opts = set()
    for line in help_text.splitlines():
        m = re.match(r"^\s+((?:-[-\w]+,?\s*)+)", line)
        if m:
            opts.update(re.findall(r"--?[\w][-\w]*", m.group(1)))
    return opts


def subcommands_in(help_text):
    part = help_text.split("Subcommands:", 1)[1] if "Subcommands:" in help_text else ""
    return [m.group(1) for m in re.finditer(r"^\s+([a-z][-a-z]*)\s", part, re.M)]


def page(name):
    with gzip.open(os.path.join(man_dir, name + ".1.gz"), "rt") as f:
        # roff's \- is the '-' of an option name.
        return f.read().replace("\\-", "-")


top = help_of()
subs = subcommands_in(top)
check("--help lists subcommands", len(subs) >= 10, top)
check("hidden generators not in --help", "man" not in subs and "completion" not in subs, subs)
main_page = page("mkmaster")
for sec in ("FILES", "ENVIRONMENT", "EXIT STATUS"):
    check("mkmaster.1 has " + sec, ".SH " + sec in main_page)
for var in ("MKMASTER_INVENTORY", "MKMASTER_CACHE", "MKMASTER_DATA_DIR", "SOURCE_DATE_EPOCH"):
    check("mkmaster.1 ENVIRONMENT names " + var, var in main_page.split(".SH ENVIRONMENT", 1)[1])
for opt in options_in(top):
    check("mkmaster.1 lists " + opt, opt in main_page)
for sub in subs:
    check("mkmaster.1 lists command " + sub, "\\fB%s\\fR" % sub in main_page)
    try:
        p = page("mkmaster-" + sub)
    except FileNotFoundError:
        check("mkmaster-%s.1 exists" % sub, False)
        continue
    for opt in options_in(help_of(sub)):
        check("mkmaster-%s.1 lists %s" % (sub, opt), "\\fB%s\\fR" % opt in p, opt)

env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
for f in sorted(os.listdir(man_dir)):
    r = subprocess.run(["man", "--warnings", "-l", os.path.join(man_dir, f)], capture_output=True, text=True,
                       env=env, timeout=30)
    check("man -l %s renders without warnings" % f, r.returncode == 0 and not r.stderr.strip() and "SYNOPSIS" in r.stdout,
          r.stderr[-2000:])


def complete(*words):
    """COMPREPLY of the completion for a command line whose last word is being typed."""
    line = " ".join("'%s'" % w for w in words)
    script = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mkmaster; '
              'printf "%%s\\n" "${COMPREPLY[@]}"') % (completion, line)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                       cwd=os.path.dirname(lab_ini))
    return set(r.stdout.split())


check("completion: subcommands", {"build", "push", "labfiles", "paths"} <= complete(mkmaster, ""),
      complete(mkmaster, ""))
check("completion: build options", {"--out", "--sysroot", "--agent"} <= complete(mkmaster, "build", "--"),
      complete(mkmaster, "build", "--"))
check("completion: global --data-dir", "--data-dir" in complete(mkmaster, "--d"))
got = complete(mkmaster, "power", "-i", lab_ini, "on", "calx")
check("completion: node names from the inventory", {"calxeda02-01", "calxeda03-02"} <= got, got)

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
