"""Local API figures, printed: up.sh start to the first answered POST /executions, and the
latency the local gateway adds, as a ratio against calling sfn-results directly in the same run.

    .venv/bin/python infra/local/bench.py [--rounds 2000]

Starts this clone's infra/local/up.sh on a free port (so a fresh clone's figure includes the
venv and the cargo build), polls POST /executions every 20 ms from the moment up.sh starts, then
sends the same requests alternately to the gateway and straight to sfn-results over one
keep-alive connection each: GET /healthz and a cached GET /executions/{arn}. Stops up.sh at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START = b'{"name": "bench", "echo": 1, "delaySeconds": 0}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_start(port: int, process: subprocess.Popen, started: float) -> tuple[float, str]:
    """Seconds from up.sh's start to the first 202 of POST /executions, and that execution's ARN."""
    while process.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("POST", "/executions", START, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            body = answer.read()
            if answer.status == 202:
                return time.monotonic() - started, json.loads(body)["executionArn"]
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit("up.sh stopped before answering")


def timed(connection: http.client.HTTPConnection, path: str, want: int) -> float:
    began = time.perf_counter()
    connection.request("GET", path)
    answer = connection.getresponse()
    answer.read()
    elapsed = time.perf_counter() - began
    assert answer.status == want, (path, answer.status)
    return elapsed * 1000


def summary(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"median {statistics.median(samples):.3f} ms, p90 {q[89]:.3f}, p99 {q[98]:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-up-", delete=False)
    started = time.monotonic()
    process = subprocess.Popen([str(ROOT / "infra/local/up.sh")], stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, LISTEN_ADDR=f"127.0.0.1:{port}"))
    try:
        seconds, arn = first_start(port, process, started)
        print(f"up.sh start -> first answered POST /executions: {seconds:.2f} s")
        while "Ctrl-C stops everything" not in Path(log.name).read_text():
            time.sleep(0.1)
        service = int(re.search(r"^  service +http://127\.0\.0\.1:(\d+)", Path(log.name).read_text(), re.M).group(1))
        gateway = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        direct = http.client.HTTPConnection("127.0.0.1", service, timeout=30)
        timed(gateway, f"/executions/{arn}?wait=10", 200)  # stopped, cached from here on
        for path, want in (("/healthz", 200), (f"/executions/{arn}", 200)):
            through, straight = [], []
            for _ in range(50):  # warm both connections and caches
                timed(gateway, path, want), timed(direct, path, want)
            for _ in range(args.rounds):
                through.append(timed(gateway, path, want))
                straight.append(timed(direct, path, want))
            name = "GET /healthz" if path == "/healthz" else "GET /executions/{arn} (cached)"
            ratio = statistics.median(through) / statistics.median(straight)
            added = statistics.median(through) - statistics.median(straight)
            print(f"{name}, {args.rounds} sequential requests each:")
            print(f"  sfn-results directly : {summary(straight)}")
            print(f"  through the gateway  : {summary(through)}")
            print(f"  ratio of medians {ratio:.1f}x, added {added:.3f} ms per request")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        os.unlink(log.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
