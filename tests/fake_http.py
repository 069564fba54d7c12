"""A scriptable HTTP server on loopback for the downloader tests (figshare, GitHub).

Requests are recorded; per URL path a list of faults is consumed one per request: an HTTP status
code, "truncate" (promise the whole file, send half, close), "ignore_range" (answer a Range request
with the whole file), or anything a subclass's handler understands. Files honour Range requests.
"""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeServer:
    def __init__(self, base: str):
        self.base = base
        self.faults: dict[str, list] = {}  # URL path -> faults, one consumed per request
        self.requests: list[tuple[str, dict, str | None]] = []  # (path, query, Range header)
        self.lock = threading.Lock()

    def requests_to(self, path: str) -> list[tuple[str, dict, str | None]]:
        with self.lock:
            return [r for r in self.requests if r[0] == path]


class Handler(BaseHTTPRequestHandler):
    fake: FakeServer  # set by serve()

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.fake.lock:
            self.fake.requests.append((url.path, query, self.headers.get("Range")))
            script = self.fake.faults.get(url.path, [])
            fault = script.pop(0) if script else None
        if isinstance(fault, int):
            self.send_error(fault)
        else:
            self.route(url.path, query, fault)

    def route(self, path: str, query: dict, fault):
        """Answer one request; each fake server overrides this for its own paths."""
        self.send_error(404)

    def send(self, status: int, body: bytes, headers: dict | None = None, cut: int = 0):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        # cut > 0: promise len(body) bytes but send fewer, then the connection closes.
        self.wfile.write(body[: len(body) - cut])

    def send_file(self, data: bytes, fault):
        rng = self.headers.get("Range")
        if fault == "truncate":
            self.send(200, data, cut=len(data) // 2)
        elif rng and fault != "ignore_range":
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_error(416)
                return
            self.send(206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        else:
            self.send(200, data)


@contextmanager
def serve(make_fake, handler: type[Handler]):
    """Start a server on 127.0.0.1 (free port); yield the fake built by make_fake(base_url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    fake = make_fake(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("BoundHandler", (handler,), {"fake": fake})
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
