"""How long a stalled client holds a connection: main's code against this tree, default timeouts.

Each tree's server runs in its own process the way `vistamatch serve` runs it (this tree with
`server_options(settings)`, main without), over an empty gallery and broken weights (no engine is
needed: the stall happens before any search). Three raw sockets per server, at once:
  nothing   - connects and sends nothing
  headers   - sends half of a request's headers
  body      - sends the headers of POST /api/search with Content-Length 5000, then 10 bytes
and the time until the server closes each is printed; a socket still open after --cap seconds is
reported as such.

    python benchmarks/bench_stalled.py                    # main at /work/main/src, cap 60 s
    python benchmarks/bench_stalled.py --main-src ../main/src --cap 90
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "nothing": b"",
    "headers": b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ",
    "body": (
        b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b'Content-Length: 5000\r\n\r\n--b\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n\r\n'
    ),
}
SERVER = """
import sys, uvicorn
from vistamatch.server import Settings, create_app
settings = Settings.for_folder(sys.argv[1], sys.argv[2], sys.argv[3], update_index=False)
try:
    from vistamatch.server.timeouts import server_options
except ImportError:  # main: no timeouts of its own
    server_options = lambda settings: {}
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[4]), log_level="error", **server_options(settings))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def held(port: int, sent: bytes, cap: float) -> float | None:
    """Seconds until the server closed the socket, None if still open after cap."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        start = time.monotonic()
        sock.sendall(sent)
        sock.settimeout(cap)
        try:
            while sock.recv(65536):
                pass
        except socket.timeout:
            return None
        except ConnectionResetError:
            pass
        return time.monotonic() - start


def measure(src: Path, cap: float, work: Path) -> dict[str, float | None]:
    gallery = work / "gallery"
    gallery.mkdir(exist_ok=True)
    weights = work / "broken.npz"  # exists, so the background load fails at once, with no hub look-up
    weights.write_bytes(b"not weights")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-c", SERVER, str(gallery), str(work / "data"), str(weights), str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server from {src} did not start")
                time.sleep(0.2)
        with ThreadPoolExecutor(len(CASES)) as pool:
            futures = {name: pool.submit(held, port, sent, cap) for name, sent in CASES.items()}
            return {name: f.result() for name, f in futures.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--main-src", type=Path, default=Path("/work/main/src"), help="main's src folder")
    parser.add_argument("--cap", type=float, default=60.0, help="stop waiting after this many seconds")
    args = parser.parse_args()
    trees = {"main": args.main_src, "this tree": REPO / "src"}
    print(f"{'tree':<10} " + " ".join(f"{name:>22}" for name in CASES))
    for label, src in trees.items():
        with tempfile.TemporaryDirectory() as tmp:
            times = measure(src, args.cap, Path(tmp))
        cells = [f"{t:.1f} s" if t is not None else f"still open after {args.cap:g} s" for t in times.values()]
        print(f"{label:<10} " + " ".join(f"{c:>22}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
