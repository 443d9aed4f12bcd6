#!/usr/bin/env python3
"""A file server for the firmware download tests, on Python's own http.server.

    http_files.py DIR [--port P] [--drop-after N] [--stall-after N] [--no-range]
                  [--tls CERT KEY]

Serves DIR on 127.0.0.1 (port P, by default an ephemeral one) with Python's http.server, plus
single byte ranges ("Range: bytes=A-" and "bytes=A-B", 206 with
Content-Range, 416 past the end), which SimpleHTTPRequestHandler lacks.
--drop-after N: the first answer with a body closes the connection after N
bytes of it (a lost connection, once).  --stall-after N: the first answer with a body stops after N bytes of it, the
connection left open, and the server answers nothing more (a peer gone
silent; another server on the same --port then stands in for it).  --no-range: Range is ignored, as
by a server without ranges (every answer is 200 with the whole file).  --tls: HTTPS with that certificate.
Events on stdout, one JSON object per line:
    {"event":"listening","port":P}
    {"event":"request","path":"/x","range":"bytes=..." or null,"code":C}
    {"event":"dropped","path":"/x","sent":N}
It ends at the end of its standard input, and on SIGTERM.
"""
import json
import os
import re
import signal
import ssl
import sys
import threading
from http.server import HTTPServer, SimpleHTTPRequestHandler

drop_after = None
stall_after = None
stalled = threading.Event()
no_range = False
lock = threading.Lock()


def event(**kw):
    with lock:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()


class Handler(SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        global drop_after, stall_after
        path = self.translate_path(self.path)
        rng = self.headers.get("Range")
        if not os.path.isfile(path):
            event(event="request", path=self.path, range=rng, code=404)
            self.send_error(404)
            return
        size = os.path.getsize(path)
        start, end, code = 0, size - 1, 200
        if rng and not no_range:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
                end = min(end, size - 1)
                code = 206
                if start >= size or start > end:
                    event(event="request", path=self.path, range=rng, code=416)
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
        event(event="request", path=self.path, range=rng, code=code)
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("ETag", '"%x-%x"' % (size, int(os.path.getmtime(path))))
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        left = end - start + 1
        limit = drop_after
        drop_after = None
        stall = stall_after
        stall_after = None
        sent = 0
        with open(path, "rb") as f:
            f.seek(start)
            while left > 0:
                chunk = f.read(min(left, 16384))
                if not chunk:
                    break
                if limit is not None and sent + len(chunk) >= limit:
                    self.wfile.write(chunk[: limit - sent])
                    self.wfile.flush()
                    event(event="dropped", path=self.path, sent=limit)
                    self.close_connection = True
                    # An abrupt end: the client sees the connection reset.
                    self.connection.shutdown(2)
                    return
                if stall is not None and sent + len(chunk) >= stall:
                    self.wfile.write(chunk[: stall - sent])
                    self.wfile.flush()
                    event(event="stalled", path=self.path, sent=stall)
                    stalled.wait()  # until the process ends
                    return
                self.wfile.write(chunk)
                sent += len(chunk)
                left -= len(chunk)


def main():
    global drop_after, stall_after, no_range
    args = sys.argv[1:]
    if not args:
        sys.stderr.write(__doc__)
        return 2
    root = args.pop(0)
    tls = None
    port = 0
    while args:
        a = args.pop(0)
        if a == "--port":
            port = int(args.pop(0))
        elif a == "--drop-after":
            drop_after = int(args.pop(0))
        elif a == "--stall-after":
            stall_after = int(args.pop(0))
        elif a == "--no-range":
            no_range = True
        elif a == "--tls":
            tls = (args.pop(0), args.pop(0))
        else:
            sys.stderr.write("http_files.py: unknown option %s\n" % a)
            return 2
    os.chdir(root)
    srv = HTTPServer(("127.0.0.1", port), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    event(event="listening", port=srv.server_address[1])
    for _ in sys.stdin:
        pass
    srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
