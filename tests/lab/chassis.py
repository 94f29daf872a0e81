#!/usr/bin/env python3
"""ipmi_sim's chassis_control program for one lab node.

ipmi_sim runs `chassis.py STATE NODE get power|boot`, `... set power 0|1`,
`... set reset 1`, `... set boot pxe|default|none|...` and `... check`, and
reads `name:value` lines back.  The work is done by the lab daemon (labd.py),
which owns the node's QEMU; this only forwards the request over
STATE/labd.sock, so ipmi_sim is never blocked for longer than a QMP call.
"""

import json
import os
import socket
import sys


def main():
    if len(sys.argv) < 4:
        print("usage: chassis.py STATE NODE get|set|check ...", file=sys.stderr)
        return 2
    state, node, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(os.path.join(state, "labd.sock"))
        f = s.makefile("rwb")
        f.write(json.dumps({"op": "chassis", "node": node, "args": args}).encode() + b"\n")
        f.flush()
        rep = json.loads(f.readline() or b"{}")
    except (OSError, ValueError) as e:
        print(f"chassis: node {node}: lab daemon unreachable: {e}", file=sys.stderr)
        return 1
    if not rep.get("ok"):
        print(f"chassis: node {node}: {rep.get('error')}", file=sys.stderr)
        return 1
    sys.stdout.write(rep.get("out", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
