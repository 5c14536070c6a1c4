"""Benchmark of sfn-results against this machine's emulator, side by side in one run.

Started by infra/bench/run.sh (which builds the release binaries first). Prints a table and
writes BENCHMARKS.md at the repository root. Servers listen on 127.0.0.1 only; every load is
bounded in count and time.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON = sys.executable
ENV = {
    **os.environ,
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
}


# Processes sharing the table in the upstream-economy runs, as Lambda environments would.
FLEET = 6


def start_emulator():
    proc = subprocess.Popen(
        [PYTHON, str(ROOT / "infra/local/emulator.py"), "--exit-on-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    port = int(line.split()[1])
    return proc, f"http://127.0.0.1:{port}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None, timeout=30):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Service:
    """The release binary, started on a free port; its log lines are drained and dropped."""

    def __init__(self, binary, env, port=None):
        self.port = port or free_port()
        self.binary = binary
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [binary], env={**env, "LISTEN_ADDR": f"127.0.0.1:{self.port}"},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"

    def until_healthy(self):
        """Seconds from process start to the first answered /healthz."""
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("service exited")
            time.sleep(0.0005)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def cpu_seconds(pid):
    """User + system CPU time the process has used (/proc/PID/stat, fields 14 and 15)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Baseline:
    """service/examples/baseline.rs: the least an axum server can do to answer the same bytes."""

    def __init__(self, target, body, encoding=None):
        self.body_file = tempfile.NamedTemporaryFile(delete=False)
        self.body_file.write(body)
        self.body_file.close()
        env = {**ENV, "BODY_FILE": self.body_file.name}
        if encoding:
            env["CONTENT_ENCODING"] = encoding
        self.proc = subprocess.Popen([str(target / "examples/baseline")], env=env, stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.proc.stdout.readline().split()[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        os.unlink(self.body_file.name)


def alternate(sides, rounds, seconds, headers):
    """`rounds` wrk runs of each side, the order flipped every round; each run with the CPU time
    its server used per 1,000 answers."""
    out = []
    names = list(sides)
    for i in range(rounds):
        run = {}
        for name in names if i % 2 == 0 else names[::-1]:
            server, url = sides[name]
            before = cpu_seconds(server.proc.pid)
            run[name] = wrk(url, seconds, 32, headers)
            run[name]["cpu_ms_per_1000"] = (cpu_seconds(server.proc.pid) - before) * 1e6 / run[name]["requests"]
        run["rps_ratio"] = run["service"]["rps"] / run["baseline"]["rps"]
        run["cpu_ratio"] = run["service"]["cpu_ms_per_1000"] / run["baseline"]["cpu_ms_per_1000"]
        print(f"round {i + 1}: " + ", ".join(
            f"{n} {run[n]['rps']:,.0f}/s p50 {run[n]['p50']:.2f} p99 {run[n]['p99']:.2f} ms cpu {run[n]['cpu_ms_per_1000']:.1f} ms/1000"
            for n in names) + f"; ratio {run['rps_ratio']:.2f}, cpu ratio {run['cpu_ratio']:.2f}", file=sys.stderr)
        out.append(run)
    return out


def profile(server, url, seconds):
    """`perf record` of the server during one more hot-hit run: where its CPU time goes, by
    binary and by function (the binary keeps its symbols: profile 'profiling')."""
    if subprocess.run(["sh", "-c", "command -v perf"], capture_output=True).returncode != 0:
        return None
    data = tempfile.NamedTemporaryFile(suffix=".perf", delete=False).name
    recorder = subprocess.Popen(
        ["perf", "record", "-F", "999", "-p", str(server.proc.pid), "-o", data, "--", "sleep", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    wrk(url, seconds, 32)
    recorder.wait(timeout=seconds + 30)

    def report(*sort):
        out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", ",".join(sort)],
                             capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(.*?)\s*$", line)
            if m and not line.startswith("#"):
                rows.append([float(m.group(1)), re.sub(r"\s+", " ", m.group(2))])
        return rows

    by_dso = report("dso")
    by_symbol = [r for r in report("dso", "sym") if r[1].startswith(pathlib.Path(server.binary).name)][:25]
    os.unlink(data)
    return {"by_dso": by_dso[:6], "top_symbols_in_binary": by_symbol}


def summarise(rounds):
    """Medians over the rounds: each side's throughput, p50, p99 and CPU, and the ratios."""
    med = statistics.median

    def side(n):
        return {k: med([r[n][k] for r in rounds]) for k in ("rps", "p50", "p99", "cpu_ms_per_1000")}

    s, b = side("service"), side("baseline")
    return {
        "service": s, "baseline": b,
        "rps_ratio": med([r["rps_ratio"] for r in rounds]),
        "p99_ratio": s["p99"] / b["p99"],
        "cpu_ratio": med([r["cpu_ratio"] for r in rounds]),
        "non2xx": sum(r[n]["non2xx"] for r in rounds for n in ("service", "baseline")),
    }


def wrk(url, seconds, connections, headers=None):
    extra = [arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p):
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "requests": requests, "p50": percentile(50), "p99": percentile(99),
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default=str(ROOT / "target/release"))
    parser.add_argument("--seconds", type=int, default=8, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating hot-hit rounds")
    parser.add_argument("--large-bytes", type=int, default=200_000, help="output of the compressed case")
    parser.add_argument("--only", choices=["hot"], help="measure the hot path only, print JSON, write nothing")
    parser.add_argument("--misses", type=int, default=200, help="cache misses measured (half each side)")
    parser.add_argument("--long-poll", type=int, default=20, help="seconds of the long-poll economy run")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    target = pathlib.Path(args.target)
    results = {}

    emulator, endpoint = start_emulator()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    sfn = session.client("stepfunctions", endpoint_url=endpoint)
    bootstrap = subprocess.run(
        [PYTHON, str(ROOT / "infra/local/bootstrap.py"), "--endpoint", endpoint],
        capture_output=True, text=True, check=True,
    ).stdout
    names = dict(line.split("=", 1) for line in bootstrap.split())
    greeting = names["GREETING_ARN"]
    env = {
        **ENV,
        "RESULTS_TABLE": names["RESULTS_TABLE"],
        "ALLOWED_STATE_MACHINES": f"{greeting},{names['REJECTED_ARN']}",
        "START_STATE_MACHINE": greeting,
        # No reconcile timer: it would store the finished executions the miss step must miss.
        "RECONCILE_SECONDS": "0",
        "AWS_ENDPOINT_URL_SFN": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
    }
    counter = iter(range(10**9))

    def finished(n, delay=0, echo=None):
        arns = []
        for _ in range(n):
            arns.append(sfn.start_execution(
                stateMachineArn=greeting, name=f"bench-{os.getpid()}-{next(counter)}",
                input=json.dumps({"name": "Bench", "echo": echo or {"order": 1, "lines": list(range(20))}, "delaySeconds": delay}),
            )["executionArn"])
        for arn in arns:
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                time.sleep(0.05)
        return arns

    def counts():
        return json.loads(urllib.request.urlopen(f"{endpoint}/_emulator/counts").read())

    def describes(arn):
        return counts().get(f"AWSStepFunctions.DescribeExecution {arn}", 0)

    service = Service(str(target / "sfn-results"), env)
    results["cold_healthz_ms"] = service.until_healthy() * 1000
    time.sleep(1)
    results["rss_idle_kib"] = rss_kib(service.proc.pid)

    # Hot hits: a final result in memory, against a minimal axum server answering the same bytes,
    # in alternating rounds (the order flips each round) so the machine's noise hits both alike.
    [hot] = finished(1)
    status, _, body = get(f"{service.url}/executions/{hot}")
    assert status == 200
    baseline = Baseline(target, body)
    results["hot_rounds"] = alternate(
        {"service": (service, f"{service.url}/executions/{hot}"),
         "baseline": (baseline, f"{baseline.url}/executions/{hot}")},
        args.rounds, args.seconds, {},
    )
    results["profile"] = profile(service, f"{service.url}/executions/{hot}", args.seconds)
    baseline.stop()
    results["hot"] = summarise(results["hot_rounds"])
    results["hot_body_bytes"] = len(body)

    # The compressed case: a large result asked for with `Accept-Encoding: gzip`, against the bare
    # server answering the same gzip bytes.
    # Records of varied text and numbers, as a real output would be (not one repeated byte).
    records, size = [], 0
    while size < args.large_bytes:
        record = {"id": len(records), "sku": f"SKU-{len(records) * 7919 % 100000:05d}",
                  "name": f"item {len(records)} of the order", "price": round(len(records) * 3.17 % 997, 2),
                  "tags": [f"t{len(records) % 13}", f"w{len(records) * 31 % 17}"]}
        records.append(record)
        size += len(json.dumps(record)) + 1
    [large] = finished(1, echo=records)
    gzip_headers = {"Accept-Encoding": "gzip"}
    status, headers, gzipped = get(f"{service.url}/executions/{large}", gzip_headers)
    assert status == 200, status
    encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding")
    _, _, identity = get(f"{service.url}/executions/{large}")
    baseline = Baseline(target, gzipped, encoding=encoding)
    results["compressed_rounds"] = alternate(
        {"service": (service, f"{service.url}/executions/{large}"),
         "baseline": (baseline, f"{baseline.url}/executions/{large}")},
        max(1, args.rounds - 2), args.seconds, gzip_headers,
    )
    baseline.stop()
    results["compressed"] = summarise(results["compressed_rounds"])
    results["compressed_bytes"] = {"identity": len(identity), "sent": len(gzipped), "encoding": encoding}
    if args.only == "hot":
        service.stop()
        emulator.stdin.close()
        print(json.dumps({k: results[k] for k in ("hot", "compressed", "compressed_bytes")}, indent=2))
        return

    # Cache misses: through the service against the raw GetItem + DescribeExecution calls.
    arns = finished(args.misses)
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write("\n".join(arns))
    misses = json.loads(subprocess.run(
        [str(target / "examples/miss_latency"), service.url, endpoint, names["RESULTS_TABLE"], f.name],
        capture_output=True, text=True, check=True, env=ENV,
    ).stdout)
    results["misses"] = misses
    results["miss_ratio_p50"] = misses["service"]["p50"] / misses["raw"]["p50"]
    results["miss_ratio_mean"] = misses["service"]["mean"] / misses["raw"]["mean"]

    # Upstream economy, counted at the emulator, across 6 processes sharing the table: on Lambda
    # every concurrent request is its own process, so one process's coalescing proves nothing.
    fleet = [service] + [Service(str(target / "sfn-results"), env) for _ in range(FLEET - 1)]
    for member in fleet[1:]:
        member.until_healthy()
    [crowd] = finished(1)
    before = describes(crowd)  # this script's own polling until it finished
    start_line = threading.Barrier(500)

    def first_fetch(i):
        start_line.wait()
        return get(f"{fleet[i % FLEET].url}/executions/{crowd}")[0]

    with concurrent.futures.ThreadPoolExecutor(500) as pool:
        statuses = list(pool.map(first_fetch, range(500)))
    assert statuses.count(200) == 500, statuses
    results["describes_500_first"] = describes(crowd) - before
    before = describes(crowd)
    conn = http.client.HTTPConnection("127.0.0.1", service.port)
    for _ in range(1000):
        conn.request("GET", f"/executions/{crowd}")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    results["describes_1000_cached"] = describes(crowd) - before
    arn = sfn.start_execution(
        stateMachineArn=greeting, name=f"bench-{os.getpid()}-long",
        input=json.dumps({"name": "Long", "echo": 0, "delaySeconds": args.long_poll - 2}),
    )["executionArn"]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        polls = list(pool.map(
            lambda i: get(f"{fleet[i % FLEET].url}/executions/{arn}?wait={args.long_poll + 5}")[0],
            range(50),
        ))
    results["long_poll"] = {
        "waiters": 50, "processes": FLEET, "seconds": round(time.perf_counter() - started, 1),
        "statuses": sorted(set(polls)), "describes": describes(arn),
    }
    results["rss_after_kib"] = rss_kib(service.proc.pid)
    for member in fleet:
        member.stop()

    # Cold starts: process start to first /healthz, and to a first cached result.
    colds, firsts = [], []
    for _ in range(15):
        s = Service(str(target / "sfn-results"), env)
        colds.append(s.until_healthy() * 1000)
        assert get(f"{s.url}/executions/{hot}")[0] == 200
        firsts.append((time.perf_counter() - s.started) * 1000)
        s.stop()
    results["cold_healthz_ms_median"] = statistics.median(colds)
    results["cold_first_result_ms_median"] = statistics.median(firsts)

    binary = target / "sfn-results"
    with tempfile.TemporaryDirectory() as scratch:  # the size it ships at: without symbols
        stripped = pathlib.Path(scratch) / "sfn-results"
        subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
        results["binary_bytes"] = stripped.stat().st_size
    zip_path = ROOT / "target/lambda/sfn-results/bootstrap.zip"
    results["zip_bytes"] = zip_path.stat().st_size if zip_path.exists() else None
    emulator.stdin.close()
    emulator.wait(timeout=10)
    write_report(results, args)


def profile_text(prof):
    if not prof:
        return "No profile this run (`perf` is not installed)."
    lines = ["Where a hot hit's CPU time goes: `perf record -F 999` of the service during one more "
             "hot-hit run, by binary, then the busiest functions of the service's own binary:", ""]
    lines += [f"- {pct:.1f} % {name}" for pct, name in prof["by_dso"]]
    lines += ["", "| % of samples | function |", "| --- | --- |"]
    lines += [f"| {pct:.2f} | `{name.split(' ', 2)[-1][:140]}` |" for pct, name in prof["top_symbols_in_binary"]]
    return "\n".join(lines)


def write_report(r, args):
    hot, comp = r["hot"], r["compressed"]
    rounds = ", ".join(f"{x['rps_ratio']:.2f}" for x in r["hot_rounds"])
    cpu_rounds = ", ".join(f"{x['cpu_ratio']:.2f}" for x in r["hot_rounds"])
    comp_rounds = ", ".join(f"{x['rps_ratio']:.2f}" for x in r["compressed_rounds"])
    sent = r["compressed_bytes"]
    rows = [
        ("Hot hit (in memory), requests/s, median of rounds", f"{hot['service']['rps']:,.0f}", f"{hot['baseline']['rps']:,.0f} (minimal axum, same bytes)", f"**{hot['rps_ratio']:.2f}** (target ≥ 0.9); rounds {rounds}"),
        ("Hot hit p50 / p99 latency", f"{hot['service']['p50']:.2f} / {hot['service']['p99']:.2f} ms", f"{hot['baseline']['p50']:.2f} / {hot['baseline']['p99']:.2f} ms", f"p99 **{hot['p99_ratio']:.2f}** (target ≤ 1.5)"),
        ("Hot hit CPU time per 1,000 answers (/proc)", f"{hot['service']['cpu_ms_per_1000']:.1f} ms", f"{hot['baseline']['cpu_ms_per_1000']:.1f} ms", f"**{hot['cpu_ratio']:.2f}** (target ≤ 1.2); rounds {cpu_rounds}"),
        (f"Compressed hot hit ({sent['identity']:,} B result sent as {sent['sent']:,} B {sent['encoding'] or 'identity'}), requests/s", f"{comp['service']['rps']:,.0f}", f"{comp['baseline']['rps']:,.0f} (same compressed bytes)", f"{comp['rps_ratio']:.2f}; rounds {comp_rounds}"),
        ("Compressed hot hit p50 / p99, CPU per 1,000", f"{comp['service']['p50']:.2f} / {comp['service']['p99']:.2f} ms, {comp['service']['cpu_ms_per_1000']:.1f} ms", f"{comp['baseline']['p50']:.2f} / {comp['baseline']['p99']:.2f} ms, {comp['baseline']['cpu_ms_per_1000']:.1f} ms", f"CPU {comp['cpu_ratio']:.2f}"),
        ("Cache miss p50 latency", f"{r['misses']['service']['p50']:.2f} ms", f"{r['misses']['raw']['p50']:.2f} ms (raw GetItem + DescribeExecution)", f"{r['miss_ratio_p50']:.2f} (one more call: the read lease)"),
        ("Cache miss mean / p99 latency", f"{r['misses']['service']['mean']:.2f} / {r['misses']['service']['p99']:.2f} ms", f"{r['misses']['raw']['mean']:.2f} / {r['misses']['raw']['p99']:.2f} ms", f"{r['miss_ratio_mean']:.2f} (mean)"),
        (f"DescribeExecution for 500 concurrent first fetches over {FLEET} processes", str(r["describes_500_first"]), "", "target ≤ 2"),
        ("DescribeExecution for 1,000 fetches of a cached result", str(r["describes_1000_cached"]), "", "target 0"),
        (f"DescribeExecution for {r['long_poll']['waiters']} clients long-polling {r['long_poll']['seconds']} s over {FLEET} processes", str(r["long_poll"]["describes"]), "", f"≤ 1 per second; answers {r['long_poll']['statuses']}"),
        ("Process start → first /healthz (median of 15)", f"{r['cold_healthz_ms_median']:.1f} ms", "", ""),
        ("Process start → first cached result (median of 15)", f"{r['cold_first_result_ms_median']:.1f} ms", "", "one GetItem"),
        ("Resident memory: idle / after the load", f"{r['rss_idle_kib'] / 1024:.1f} / {r['rss_after_kib'] / 1024:.1f} MiB", "", ""),
        ("Release binary (x86_64, stripped)", f"{r['binary_bytes'] / 1024 / 1024:.1f} MiB", "", ""),
        ("Lambda zip (cargo lambda, target/lambda)", f"{r['zip_bytes'] / 1024 / 1024:.2f} MiB ({r['zip_bytes']:,} B)" if r["zip_bytes"] else "not built (run infra/checks/offline.sh)", "", "target ≤ 4 MiB"),
    ]
    table = ["| measure | sfn-results | reference | ratio / note |", "| --- | --- | --- | --- |"]
    table += [f"| {' | '.join(row)} |" for row in rows]
    text = "\n".join(table)
    print(text)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    profile = pathlib.Path(args.output).with_name("PROFILE.md")
    write_section(pathlib.Path(args.output), f"""Measured by `./infra/bench/run.sh` on {now}, on this project's machine kind ({os.cpu_count()} cores,
shared and noisy): compare the ratios, not the absolute numbers. Upstream is the moto emulator
(one Python process, a few ms a call), so miss latencies are mostly the emulator's. What the hot
path costs and where, with `perf`, is in [PROFILE.md]({profile.name}).

{text}

{profile_text(r.get("profile"))}

How each is measured:
- Hot hits: `wrk -t1 -c32 -d{args.seconds}s --latency` against `GET /executions/{{arn}}` of a final
  result already in memory, and against `service/examples/baseline.rs`, a minimal axum server
  answering the same {r['hot_body_bytes']} bytes and headers from memory; {args.rounds} rounds, alternating
  (the order flips each round), medians reported. CPU time is the server process's user + system
  time from `/proc/PID/stat` over each run, divided by the answers wrk counted; wrk shares the 2
  cores, so both sides are measured under the same load.
- Compressed: a result of {sent['identity']:,} bytes asked for with `Accept-Encoding: gzip`, which the service
  compresses once and keeps; the baseline answers the same gzip bytes; {max(1, args.rounds - 2)} alternating rounds.
- Cache misses: `service/examples/miss_latency.rs`, interleaving a first fetch through the service
  (GetItem miss, the read lease's conditional UpdateItem, DescribeExecution; the conditional
  PutItem follows the answer) with the raw `GetItem` + `DescribeExecution` calls for another
  finished execution, {args.misses // 2} of each.
- Upstream economy across processes: {FLEET} release processes share the table, as {FLEET} Lambda
  environments would; the 500 first fetches and the 50 long-pollers are spread over them.
- Upstream calls: counted by the emulator per target and execution ARN (`GET /_emulator/counts`).
- Cold start: the release binary started 15 times; time to the first 200 from `/healthz`, and to
  the first answered result (read from DynamoDB); resident memory from `/proc/PID/status`.

Raw figures:

```json
{json.dumps(r, indent=2)}
```
""")


BEGIN = "<!-- infra/bench/run.py writes from here to the END marker; the rest of this file is kept by hand -->"
END = "<!-- END of run.py's section -->"


def write_section(path: pathlib.Path, section: str) -> None:
    """Replaces run.py's own section of `path`, between its markers, and keeps the rest as it is:
    the hand-kept parts (earlier runs, notes) survive a run. A new file gets a title and the section."""
    block = f"{BEGIN}\n{section.strip()}\n{END}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} lacks run.py's markers ({BEGIN!r} ... {END!r}): add them around the generated part")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    path.write_text(before + block + after, encoding="utf-8")
    print(f"wrote run.py's section of {path}")


if __name__ == "__main__":
    main()
