#!/usr/bin/env python3
"""TCP fault-injection proxy for tests.

Listens on 127.0.0.1, forwards every connection to --target, and on a
seeded schedule injects faults into the client->server byte stream ("up"),
or both directions with --directions up,down:

  drop  close both sides abruptly (RST) when the connection has forwarded
        a random number of bytes in [0, --max-gap]
  flip  invert one random bit of one byte at a random position in
        [--grace, --max-gap] (the grace keeps the handshake intact)

At most one fault per connection, so each fault forces exactly one
reconnect when the endpoints detect it. Bounded: --drops and --flips faults
in total, none after --fault-time seconds, and the proxy exits after
--max-runtime seconds whatever happens.

Prints "PORT <n>" once listening. --log FILE gets one JSON object per
finished connection (flushed at once), then a {"summary": ...} line on exit
(SIGTERM/SIGINT or max-runtime). Same seed + same traffic = same faults.
"""
import argparse
import asyncio
import json
import random
import signal
import sys
import time


class Schedule:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.drops_left = args.drops
        self.flips_left = args.flips
        self.grace = args.grace
        self.max_gap = args.max_gap
        self.directions = args.directions
        self.deadline = time.monotonic() + args.fault_time
        self.applied = {"drop": 0, "flip": 0}

    def take(self):
        """Reserves a fault for a new connection (or None)."""
        if time.monotonic() > self.deadline:
            return None
        total = self.drops_left + self.flips_left
        if total == 0:
            return None
        kind = "drop" if self.rng.randrange(total) < self.drops_left else "flip"
        if kind == "drop":
            self.drops_left -= 1
            pos = self.rng.randint(0, self.max_gap)
        else:
            self.flips_left -= 1
            pos = self.rng.randint(self.grace, max(self.grace, self.max_gap))
        return {"kind": kind, "dir": self.rng.choice(self.directions), "pos": pos,
                "bit": self.rng.randrange(8), "applied": False}

    def give_back(self, fault):
        """A connection ended before its fault's position: keep it for later."""
        if fault and not fault["applied"]:
            if fault["kind"] == "drop":
                self.drops_left += 1
            else:
                self.flips_left += 1


class Proxy:
    def __init__(self, args):
        self.args = args
        self.sched = Schedule(args)
        self.log = open(args.log, "a") if args.log else None
        self.conns = 0
        self.start = time.monotonic()
        host, port = args.target.rsplit(":", 1)
        self.target = (host, int(port))

    def record(self, obj):
        if self.log:
            self.log.write(json.dumps(obj) + "\n")
            self.log.flush()

    async def handle(self, creader, cwriter):
        self.conns += 1
        cid = self.conns
        try:
            sreader, swriter = await asyncio.open_connection(*self.target)
        except OSError as e:
            self.record({"conn": cid, "error": f"connect to target: {e}"})
            cwriter.transport.abort()
            return
        fault = self.sched.take()
        state = {"closed_by": None, "up": 0, "down": 0, "after_fault": 0, "t0": time.monotonic()}

        def abort_both():
            cwriter.transport.abort()
            swriter.transport.abort()

        async def pump(reader, writer, direction, peer):
            try:
                while True:
                    data = await reader.read(256 * 1024)
                    if not data:
                        if state["closed_by"] is None:
                            state["closed_by"] = peer
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    seen = state[direction]
                    if fault and not fault["applied"] and fault["dir"] == direction \
                            and seen <= fault["pos"] < seen + len(data):
                        i = fault["pos"] - seen
                        fault["applied"] = True
                        fault["t"] = round(time.monotonic() - self.start, 3)
                        self.sched.applied[fault["kind"]] += 1
                        if fault["kind"] == "drop":
                            writer.write(data[:i])
                            state[direction] += i
                            state["closed_by"] = "proxy"
                            abort_both()
                            return
                        buf = bytearray(data)
                        buf[i] ^= 1 << fault["bit"]
                        data = bytes(buf)
                    elif fault and fault["applied"]:
                        state["after_fault"] += len(data)
                    writer.write(data)
                    state[direction] += len(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                if state["closed_by"] is None:
                    state["closed_by"] = peer + "-reset"
                abort_both()

        await asyncio.gather(pump(creader, swriter, "up", "client"),
                             pump(sreader, cwriter, "down", "server"))
        for w in (cwriter, swriter):
            w.close()
        self.sched.give_back(fault)
        self.record({"conn": cid, "fault": fault, "up": state["up"], "down": state["down"],
                     "closed_by": state["closed_by"], "after_fault": state["after_fault"],
                     "seconds": round(time.monotonic() - state["t0"], 3)})

    def summary(self):
        return {"summary": {"connections": self.conns, "drops": self.sched.applied["drop"],
                            "flips": self.sched.applied["flip"],
                            "seconds": round(time.monotonic() - self.start, 3)}}


async def main_async(args):
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, args.bind, args.port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_runtime)
    except asyncio.TimeoutError:
        print("fault_proxy: max-runtime reached, exiting", file=sys.stderr)
    server.close()
    proxy.record(proxy.summary())
    print(json.dumps(proxy.summary()), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drops", type=int, default=0)
    ap.add_argument("--flips", type=int, default=0)
    ap.add_argument("--grace", type=int, default=4096, help="no flip in a direction's first bytes")
    ap.add_argument("--max-gap", type=int, default=4 << 20, help="faults land within this many bytes")
    ap.add_argument("--directions", type=lambda s: s.split(","), default=["up"])
    ap.add_argument("--fault-time", type=float, default=120, help="no faults after this many seconds")
    ap.add_argument("--max-runtime", type=float, default=600, help="exit after this many seconds")
    ap.add_argument("--log", help="JSON lines: one per connection, then a summary")
    args = ap.parse_args()
    for d in args.directions:
        if d not in ("up", "down"):
            ap.error(f"--directions: '{d}' is not up or down")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
