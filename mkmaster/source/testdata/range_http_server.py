#!/usr/bin/env python3
"""A small HTTP file server for tests and benchmarks: Range requests
(206/416; several ranges in one request are answered multipart/byteranges,
as nginx and Apache do), HTTP/1.1 keep-alive with --keep-alive, and faults
chosen by the query string:

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
        multi = re.fullmatch(r"bytes=\d+-\d+(,\d+-\d+)+", rng) if rng and "norange" not in query else None
        if multi:
            return self.serve_multipart(path, url.path, size, rng, head)
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

    def serve_multipart(self, path, name, size, rng, head):
        spans = [(int(a), min(int(b) + 1, size)) for a, b in re.findall(r"(\d+)-(\d+)", rng)]
        spans = [(a, b) for a, b in spans if a < size]
        if not spans:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        boundary = "mkmaster-test-boundary"
        with open(path, "rb") as f:
            chunks = []
            for a, b in spans:
                f.seek(a)
                chunks.append(f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                              f"Content-Range: bytes {a}-{b - 1}/{size}\r\n\r\n".encode())
                chunks.append(f.read(b - a))
            chunks.append(f"\r\n--{boundary}--\r\n".encode())
        body = b"".join(chunks)
        self.send_response(206)
        self.send_header("Content-Type", f"multipart/byteranges; boundary={boundary}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        with LOCK:
            SENT[name] = SENT.get(name, 0) + len(body)
            LOG[self.log_index] += f" sent={len(body)}"

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
    ap.add_argument("--keep-alive", action="store_true", help="HTTP/1.1: connections stay open between requests")
    args = ap.parse_args()
    Handler.root = args.root
    if args.keep_alive:
        Handler.protocol_version = "HTTP/1.1"
    srv = ThreadingHTTPServer((args.bind, args.port), Handler)
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
