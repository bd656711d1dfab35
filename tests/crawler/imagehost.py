"""A loopback image host for the crawler tests: real photos in several formats plus every failure.

A threaded http.server (no asyncio), HTTP/1.1 keep-alive, on 127.0.0.1 and a free port. Routes:
  /photo/<i>.<jpg|png|webp|gif>  a distinct real photo (crop <i> of a sample photo)
  /status/<code>/<k>             that status (404, 403, 410, 500 ...)
  /flaky/<k>.jpg                 500 the first time, then a photo
  /ratelimit/<k>.jpg             429 with Retry-After: 1 the first time, then a photo
  /slow/<k>.jpg                  headers, half the body, then a pause longer than any test timeout
  /redirect/<k>.jpg              302 (odd k: 301) to a photo
  /html-as-jpeg/<k>              an HTML page labelled image/jpeg
  /text/<k>                      an HTML page labelled text/html
  /truncated/<k>.jpg             the first 60% of a JPEG
  /tiny/<k>.png                  a 30x30 noise PNG (over the byte minimum, under the size minimum)
  /huge/<k>.jpg                  a body over the tests' maximum, with Content-Length
  /huge-chunked/<k>.jpg          the same without Content-Length (chunked)
  /dup/<k>.jpg                   the same JPEG bytes whatever k is
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

FORMATS = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp"),
           "gif": ("GIF", "image/gif")}
SLOW_PAUSE_S = 4.0  # longer than any test timeout, retry included
HUGE_BYTES = 300_000  # tests set max_bytes below this


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops connections under the crawler's concurrency

    def handle_error(self, request, client_address):  # clients hanging up mid-body are part of the tests
        pass


class ImageHost:
    def __init__(self, photos: dict[str, Image.Image], delay_s: float = 0.0):
        self.photos = list(photos.values())
        self.delay_s = delay_s  # before every response
        self.hits: Counter[str] = Counter()  # path -> requests
        self.log: list[tuple[float, str, int]] = []  # (time, path, status)
        self.active = 0  # requests being answered now
        self.max_active = 0
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, str], bytes] = {}
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> ImageHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def photo_bytes(self, i: int, ext: str = "jpg", side: int = 96) -> bytes:
        """Photo number i: a crop of a sample photo with i written in its corner, so every i differs."""
        key = (i, f"{ext}{side}")
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        base = self.photos[i % len(self.photos)]
        shift = (i // len(self.photos)) % 40
        pixels = np.array(base.crop((shift, shift, shift + 256, shift + 192)).resize((side, side * 3 // 4)))
        bits = (i >> np.arange(24)) & 1  # i as 24 black/white 2x2 squares along the top edge
        pixels[:2, : 48] = np.repeat(bits * 255, 2)[None, :, None].astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format=FORMATS[ext][0], **({"quality": 90} if ext == "jpg" else {}))
        with self._lock:
            self._cache[key] = buf.getvalue()
        return buf.getvalue()

    def requests_for(self, path: str) -> list[tuple[float, int]]:
        with self._lock:
            return [(t, status) for t, p, status in self.log if p == path]

    def served_images(self, prefix: str = "/photo/") -> int:
        with self._lock:
            return sum(1 for _, p, status in self.log if p.startswith(prefix) and status == 200)

    def _record(self, path: str, status: int) -> None:
        with self._lock:
            self.hits[path] += 1
            self.log.append((time.monotonic(), path, status))


def _handler_for(host: ImageHost):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            with host._lock:
                host.active += 1
                host.max_active = max(host.max_active, host.active)
            try:
                self._answer()
            finally:
                with host._lock:
                    host.active -= 1

        def _answer(self):
            if host.delay_s:
                time.sleep(host.delay_s)
            parts = self.path.strip("/").split("/")
            route, arg = parts[0], parts[-1]
            stem, _, ext = arg.partition(".")
            with host._lock:
                seen = host.hits[self.path]  # earlier requests of this path
            if route == "photo":
                self._send(200, host.photo_bytes(int(stem), ext), FORMATS[ext][1])
            elif route == "status":
                self._send(int(parts[1]), b"no", "text/plain")
            elif route == "flaky":
                if seen == 0:
                    self._send(500, b"try later", "text/plain")
                else:
                    self._send(200, host.photo_bytes(10_000 + int(stem)), "image/jpeg")
            elif route == "ratelimit":
                if seen == 0:
                    self._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
                else:
                    self._send(200, host.photo_bytes(20_000 + int(stem)), "image/jpeg")
            elif route == "slow":
                body = host.photo_bytes(30_000 + int(stem))
                self._record_status(200)
                self._headers(200, "image/jpeg", {"Content-Length": str(len(body))})
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(SLOW_PAUSE_S)
                self.wfile.write(body[len(body) // 2 :])
            elif route == "redirect":
                code = 301 if int(stem) % 2 else 302
                self._send(code, b"", "text/plain", {"Location": f"/photo/{40_000 + int(stem)}.jpg"})
            elif route == "html-as-jpeg":
                self._send(200, b"<html><body>" + b"not an image " * 200 + b"</body></html>", "image/jpeg")
            elif route == "text":
                self._send(200, b"<html><body>" + b"a web page " * 200 + b"</body></html>", "text/html")
            elif route == "truncated":
                body = host.photo_bytes(50_000 + int(stem), side=256)
                self._send(200, body[: len(body) * 6 // 10], "image/jpeg")
            elif route == "tiny":
                noise = np.random.default_rng(int(stem)).integers(0, 256, (30, 30, 3), dtype=np.uint8)
                buf = io.BytesIO()
                Image.fromarray(noise).save(buf, format="PNG")
                self._send(200, buf.getvalue(), "image/png")
            elif route == "huge":
                self._send(200, host.photo_bytes(60_000 + int(stem)).ljust(HUGE_BYTES, b"\0"), "image/jpeg")
            elif route == "huge-chunked":
                self._record_status(200)
                self._headers(200, "image/jpeg", {"Transfer-Encoding": "chunked"})
                chunk = b"\xff" * 16_384
                try:
                    for _ in range(HUGE_BYTES // len(chunk) + 1):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client hung up once over its limit: the point of the test
                    self.close_connection = True
            elif route == "dup":
                self._send(200, host.photo_bytes(70_000), "image/jpeg")
            else:
                self._send(404, b"unknown route", "text/plain")

        def _record_status(self, status: int) -> None:
            host._record(self.path, status)

        def _headers(self, status: int, content_type: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self._record_status(status)
            self._headers(status, content_type, {"Content-Length": str(len(body)), **(extra or {})})
            try:
                self.wfile.write(body)
            except OSError:
                self.close_connection = True

    return Handler
