#!/usr/bin/python3
"""Renders LAVA v2 device dictionaries exactly as lava-server does and checks
the result with LAVA's own device schema.

    render_device.py [--lava-root DIR] [--out-dir OUT] DICT.jinja2...

lava-server (lava_scheduler_app/environment.py, lava_server/files.py) renders
a device with a jinja2 SandboxedEnvironment over a FileSystemLoader of
[devices dir, device-types dir], autoescape=False, trim_blocks=True, and
loads the YAML with yaml.safe_load. The templates and lava_common come from
the lava-server and lava-common .debs unpacked by scripts/setup-lava.sh into
$MKMASTER_CACHE/lava/root (no lava-server installed). Each rendered device
is written to OUT/<name>.yaml (what lava-run --device takes). Exits non-zero
naming the dictionary on any error. Needs Debian's python3-jinja2,
python3-yaml and python3-voluptuous (hence /usr/bin/python3).
"""
import argparse
import os
import sys

DEFAULT_ROOT = os.path.join(os.environ.get("MKMASTER_CACHE", "/var/cache/mkmaster"), "lava", "root")


def lava_paths(root):
    types = os.path.join(root, "usr/share/lava-server/device-types")
    py = os.path.join(root, "usr/lib/python3/dist-packages")
    if not os.path.isfile(os.path.join(types, "highbank.jinja2")):
        sys.exit(f"render_device: no LAVA device types under {root} (run scripts/setup-lava.sh)")
    return types, py


def render(path, types):
    import jinja2.sandbox
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([os.path.dirname(os.path.abspath(path)), types]),
        autoescape=False, trim_blocks=True)
    return env.get_template(os.path.basename(path)).render()


def check(path, types):
    """The rendered YAML text and its data; raises with a message on error."""
    import yaml
    from lava_common.schemas import device as device_schema
    text = render(path, types)
    data = yaml.safe_load(text)
    device_schema.validate(data)
    return text, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lava-root", default=DEFAULT_ROOT)
    ap.add_argument("--out-dir")
    ap.add_argument("dictionaries", nargs="+")
    a = ap.parse_args()
    types, py = lava_paths(a.lava_root)
    sys.path.insert(0, py)
    failed = 0
    for d in a.dictionaries:
        try:
            text, _ = check(d, types)
        except Exception as e:  # jinja2, yaml and voluptuous errors alike
            print(f"render_device: {d}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
            continue
        if a.out_dir:
            os.makedirs(a.out_dir, exist_ok=True)
            name = os.path.basename(d)[: -len(".jinja2")] if d.endswith(".jinja2") else os.path.basename(d)
            with open(os.path.join(a.out_dir, name + ".yaml"), "w") as f:
                f.write(text)
        print(f"render_device: {d}: valid LAVA device")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
