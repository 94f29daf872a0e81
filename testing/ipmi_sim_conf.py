#!/usr/bin/env python3
"""Writes the configuration of one OpenIPMI ipmi_sim BMC: DIR/lan.conf (the
BMC's LAN channel, its one admin user, SOL and chassis control; mode 0600,
it holds the password) and DIR/bmc.emu (the management controller).

    ipmi_sim_conf.py --dir DIR --name NAME --host HOST --port PORT --user USER \\
        --chassis CMD --sol-port N        # password in $BMC_PASSWORD, never argv

Both the emulated lab (tests/lab/lab.py, which imports write()) and the C++
BMC fixture (tests/node/bmc_sim.cpp, which runs this script) use it, so the
simulated BMCs of every test are configured alike. Stdlib only.
"""
import argparse
import hashlib
import os
import sys

LAN_CONF = """# ipmi_sim configuration for {name} (written by testing/ipmi_sim_conf.py)
name "{name}"
set_working_mc 0x20
  startlan 1
    addr {host} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid {guid}
  endlan
  chassis_control "{chassis}"
  sol "tcp:127.0.0.1:{sol_port}" 115200
  user 2 true "{user}" "{password}" admin 10 none md2 md5 straight
"""

BMC_EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
"""


class ConfError(Exception):
    pass


def check_password(pw):
    """It goes into lan.conf between double quotes: keep it a plain token."""
    if not pw or len(pw) > 20 or any(c in pw for c in '"\\\n\r') or not pw.isprintable():
        raise ConfError("the BMC password must be 1-20 printable characters without "
                        "quotes or backslashes (ipmi_sim lan.conf)")


def write(directory, name, host, port, user, password, chassis, sol_port):
    check_password(password)
    if '"' in chassis:
        raise ConfError(f"the chassis control command must not contain quotes: {chassis}")
    os.makedirs(directory, exist_ok=True)
    guid = hashlib.md5(name.encode()).hexdigest()
    fd = os.open(os.path.join(directory, "lan.conf"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(LAN_CONF.format(name=name, host=host, port=port, guid=guid, chassis=chassis,
                                sol_port=sol_port, user=user, password=password))
    with open(os.path.join(directory, "bmc.emu"), "w") as f:
        f.write(BMC_EMU)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ("--dir", "--name", "--host", "--user", "--chassis"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sol-port", type=int, required=True)
    args = ap.parse_args()
    try:
        write(args.dir, args.name, args.host, args.port, args.user,
              os.environ.get("BMC_PASSWORD", ""), args.chassis, args.sol_port)
    except (ConfError, OSError) as e:
        print(f"ipmi_sim_conf.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
