#!/usr/bin/env python3
"""Golden test of the TFTP tree: `mkmaster build --board all` on the cached
armhf sysroot, with a fixed stand-in agent and SOURCE_DATE_EPOCH, must give
exactly the digests in <board>.sha256. highbank.sha256 was recorded from the
tree mkmaster built before board profiles existed, so Highbank's tree stays
byte for byte what it was.

The digests depend on the sysroot (the kernel, the packages) and on
mkmaster's version (the stamp). When one of those changes on purpose, check
the new tree and record it again:
    tree_golden.py MKMASTER --update
usage: tree_golden.py MKMASTER [--update]
"""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH = "1700000000"


def stand_in_agent(path):
    # The smallest static 32-bit ARM ELF mkmaster build accepts (as in
    # cli_build_test.cpp): the real agent changes with every commit.
    e = bytearray(52)
    e[0:4] = b"\x7fELF"
    e[4], e[5], e[6], e[16], e[18], e[20], e[40] = 1, 1, 1, 2, 40, 1, 52
    with open(path, "wb") as f:
        f.write(bytes(e))
    os.chmod(path, 0o755)


def digests(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def board_of(rel):
    # master/files/<board>/..., master/pxelinux.cfg/default-arm-<board>
    parts = rel.split("/")
    return parts[2] if parts[1] == "files" else parts[2].rsplit("-", 1)[1]


def main():
    mkmaster, update = sys.argv[1], "--update" in sys.argv[2:]
    with tempfile.TemporaryDirectory(prefix="mkmaster-golden-") as work:
        agent = os.path.join(work, "target-agent")
        stand_in_agent(agent)
        out = os.path.join(work, "tftp")
        env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
        subprocess.run([mkmaster, "build", "--board", "all", "--agent", agent, "--out", out],
                       check=True, env=env, timeout=120, stdout=subprocess.DEVNULL)
        got = {}
        for rel, h in digests(out).items():
            got.setdefault(board_of(rel), {})[rel] = h
    failures = []
    for board, files in sorted(got.items()):
        path = os.path.join(HERE, board + ".sha256")
        if update:
            with open(path, "w") as f:
                f.writelines("%s  %s\n" % (files[r], r) for r in sorted(files))
            print("tree_golden: wrote %s" % path)
            continue
        if not os.path.exists(path):
            failures.append("%s: no golden digests for board %s (record them with --update)" % (path, board))
            continue
        want = {}
        with open(path) as f:
            for n, line in enumerate(f, 1):
                h, rel = line.split()
                want[rel] = h
        for rel in sorted(set(want) | set(files)):
            if want.get(rel) != files.get(rel):
                failures.append("%s: %s: want %s, got %s" % (path, rel, want.get(rel, "(absent)"),
                                                              files.get(rel, "(absent)")))
        print("tree_golden: %-10s %d files %s" % (board, len(files), "ok" if not failures else "checked"))
    if failures:
        print("tree_golden: FAILED (if the sysroot or the version changed on purpose: %s %s --update)\n%s"
              % (sys.argv[0], mkmaster, "\n".join(failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
