#!/usr/bin/env python3
"""A small HTTP file server for tests and benchmarks: Range requests
(206/416), and faults chosen by the query string:

  ?cut=N        every response body stops after N bytes (connection closed)
  ?cut_first=N  only the first response for this path is cut
  ?norange=1    ignore Range (always 200 with the whole file)
  ?status=CODE  answer CODE with an empty body

GET /_log lists the requests so far ("METHOD PATH RANGE" per line, then
" sent=N" once the body of N bytes went out).
GET /_sent lists the body bytes sent so far per path ("PATH BYTES" per line).
Prints "PORT <n>" on stdout once listening (use --port 0 for any port).
"""
import argparse
import os
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = []
SENT = {}
CUT_DONE = set()
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    root = "."

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        rng = self.headers.get("Range", "")
        with LOCK:
            LOG.append(f"{self.command} {url.path} {rng or '-'}")
            self.log_index = len(LOG) - 1
        if url.path == "/_log":
            with LOCK:
                body = ("\n".join(LOG) + "\n").encode()
            return self.reply(200, body)
        if url.path == "/_sent":
            with LOCK:
                body = "".join(f"{p} {n}\n" for p, n in SENT.items()).encode()
            return self.reply(200, body)
        if "status" in query:
            return self.reply(int(query["status"]), b"")
        path = os.path.join(self.root, urllib.parse.unquote(url.path).lstrip("/"))
        if not os.path.isfile(path):
            return self.reply(404, b"not found\n")
        size = os.path.getsize(path)
        start, end = 0, size
        status = 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng) if rng and "norange" not in query else None
        if m:
            start = int(m.group(1))
            end = int(m.group(2)) + 1 if m.group(2) else size
            end = min(end, size)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if head:
            return
        limit = end - start
        cut = None
        if "cut" in query:
            cut = int(query["cut"])
        elif "cut_first" in query:
            with LOCK:
                if url.path not in CUT_DONE:
                    CUT_DONE.add(url.path)
                    cut = int(query["cut_first"])
        if cut is not None:
            limit = min(limit, cut)
        sent = 0  # counted as it goes: a client that hangs up got part of it
        with open(path, "rb") as f:
            try:
                self.wfile.flush()
                while sent < limit:
                    n = os.sendfile(self.connection.fileno(), f.fileno(), start + sent, limit - sent)
                    if n == 0:
                        break
                    sent += n
            except (BrokenPipeError, ConnectionResetError):
                pass
            with LOCK:
                SENT[url.path] = SENT.get(url.path, 0) + sent
                LOG[self.log_index] += f" sent={sent}"
        if cut is not None:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=".")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    Handler.root = args.root
    srv = ThreadingHTTPServer((args.bind, args.port), Handler)
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
