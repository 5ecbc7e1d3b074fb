"""`make bench`: every scenario beside its baseline, in the same run, on this machine.

    python -m bench [--quick] [--seconds N] [--backlog N] [--only embedded,ingest,production,delivery,scaleout,ratecap,webhook,redirect]

Writes bench/results/latest.md and latest.json (a run with --only: only-<scenarios>.md/.json) (value, baseline, ratio, target, met?) and
prints the table. Reports, never asserts. Method and the numbers: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import setup
from bench.load import campaign_body, open_loop, wrk, wrk_get, wrk_replay

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
PG_URL = os.environ.get("WACAST_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test_bench_run")
SQLITE_URL = "sqlite:////tmp/wacast-bench/bench.db"
APP_SECRET = "bench-app-secret"
ALL_SCENARIOS = "embedded,ingest,production,delivery,scaleout,ratecap,webhook,redirect"
rows: list[dict[str, Any]] = []
notes: list[str] = []


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def row(scenario: str, metric: str, value: float, unit: str, *, baseline: float | None = None, baseline_name: str = "",
        target: str = "", met: bool | None = None, note: str = "") -> None:
    ratio = value / baseline if baseline else None
    rows.append({"scenario": scenario, "metric": metric, "value": round(value, 2), "unit": unit,
                 "baseline": round(baseline, 2) if baseline is not None else None, "baseline_name": baseline_name,
                 "ratio": round(ratio, 3) if ratio is not None else None, "target": target, "met": met, "note": note})


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=url, WACAST_META_APP_SECRET=APP_SECRET, WACAST_META_VERIFY_TOKEN="bench",
               WACAST_CACHE_SECONDS="5", PYTHONPATH=f"{ROOT}:{ROOT / 'src'}",  # this checkout, not the installed one
               # The per-key API rate limit would cap the load generator's single key: lifted.
               WACAST_API_RATE_LIMIT="1000000", WACAST_API_RATE_BURST="1000000", **extra)
    return env


def stat_cpu_seconds(stat: str) -> float:
    """User + system CPU seconds from the text of a /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    def __init__(self, argv: list[str], env: dict[str, str], health: str | None = None) -> None:
        # Output to a file, never a pipe nobody reads (a full pipe blocks the server's logging).
        self.log_path = Path(f"/tmp/wacast-bench/{argv[2].split('.')[-1]}-{time.time_ns()}.log")
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        if health:
            for _ in range(300):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{argv} exited: {self.log_path.read_text()[-2000:]}")
                try:
                    httpx.get(health, timeout=1)
                    return
                except httpx.HTTPError:
                    time.sleep(0.05)
            raise RuntimeError(f"{argv} did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def peak_rss_mb(self) -> float:
        """VmHWM: the process's peak resident set size."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def cpu_seconds(self, pid: int | None = None) -> float:
        """User + system CPU of the process and of its live children (`wacast serve`'s worker)."""
        pid = pid or self.pid
        try:
            own = stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
        except OSError:
            return float("nan") if pid == self.pid else 0.0
        children = [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in _read(task / "children").split()]
        return own + sum(self.cpu_seconds(c) for c in children)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(url: str, **env: str) -> tuple[Proc, int]:
    port = free_port()
    env = {"WACAST_RUN_DISPATCHER": "0", **env}  # the production setup's server unless asked
    proc = Proc([PY, "-m", "bench.server_app"], base_env(url, WACAST_PORT=str(port), **env),
                health=f"http://127.0.0.1:{port}/healthz")
    return proc, port


def start_sink(latency_ms: float = 0, cap: int = 0) -> tuple[Proc, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Proc([PY, "-m", "bench.sink", "--port", str(port), "--latency-ms", str(latency_ms), "--cap", str(cap)], dict(os.environ),
                health=url + "/_stats")
    return proc, url


def run_async(coro):  # noqa: ANN001, ANN201
    import uvloop

    return uvloop.run(coro)


# --- ingest ---------------------------------------------------------------------------


def ingest(backend: str, url: str, seconds: float, connections: int, memory: dict) -> float:
    log(f"ingest on {backend}: fresh database")
    setup.fresh_database(url)
    seeded = run_async(setup.seed(url))
    server, port = start_server(url)
    base = f"http://127.0.0.1:{port}"
    scenario = f"ingest {backend}"
    try:
        wrk(base + "/bench/noop", 2, connections, seeded.api_key, seeded.campaign, 0)  # warm up
        wrk(base + "/campaign/t1/api/v2", 2, connections, seeded.api_key, seeded.campaign, 50_000_000)
        log(f"{scenario}: closed loop, {connections} connections, {seconds:.0f} s each")
        noop = wrk(base + "/bench/noop", seconds, connections, seeded.api_key, seeded.campaign, 0)
        cpu0 = server.cpu_seconds()
        accepted = wrk(base + "/campaign/t1/api/v2", seconds, connections, seeded.api_key, seeded.campaign, 100_000_000)
        cpu_share = (server.cpu_seconds() - cpu0) / (accepted["duration_us"] / 1e6)
        r_noop, r_ingest = noop["rate"], accepted["rate"]
        log(f"{scenario}: R_noop {r_noop:.0f}/s, accepted {r_ingest:.0f}/s ({accepted['errors']} errors), server CPU {cpu_share:.0%} of a core")
        row(scenario, "accepted/s (closed loop)", r_ingest, "req/s", baseline=r_noop, baseline_name="R_noop",
            target=">= 0.5 x R_noop", met=r_ingest >= 0.5 * r_noop,
            note=f"{accepted['errors']} errors; server process {cpu_share:.0%} of one core; wrk p99 {accepted['p99_us'] / 1000:.0f} ms")
        if backend == "postgresql":
            row(scenario, "accepted/s (absolute)", r_ingest, "req/s", target=">= 2000/s", met=r_ingest >= 2000)
        # Open loop at 50 % and 80 % of the maximum, beside the no-op at the same rates.
        for share, p99_target in ((0.5, 25.0), (0.8, 100.0)):
            rate = max(10.0, r_ingest * share)
            offset = 150_000_000 if share == 0.5 else 170_000_000
            log(f"{scenario}: open loop at {share:.0%} = {rate:.0f}/s for {seconds:.0f} s")
            res = run_async(open_loop("127.0.0.1", port, "/campaign/t1/api/v2", rate, seconds,
                                      lambda i, o=offset: campaign_body(seeded.api_key, seeded.campaign, o + i)))
            base_res = run_async(open_loop("127.0.0.1", port, "/bench/noop", rate, seconds,
                                           lambda i: campaign_body(seeded.api_key, seeded.campaign, i)))
            label = f"{share:.0%} load ({rate:.0f}/s)"
            note = f"{res.errors} errors, {res.completed}/{res.sent} completed; statuses {res.status}"
            row(scenario, f"p50 at {label}", res.ms(50), "ms", baseline=base_res.ms(50), baseline_name="no-op p50",
                target="<= 5 ms (anchor)" if share == 0.5 else "<= 10 ms (anchor)", met=res.ms(50) <= (5 if share == 0.5 else 10))
            row(scenario, f"p99 at {label}", res.ms(99), "ms", baseline=base_res.ms(99), baseline_name="no-op p99",
                target=f"<= {p99_target:.0f} ms" + ("" if share == 0.5 else " (anchor)"), met=res.ms(99) <= p99_target, note=note)
            row(scenario, f"p99.9 at {label}", res.ms(99.9), "ms", baseline=base_res.ms(99.9), baseline_name="no-op p99.9",
                target="<= 250 ms (anchor)", met=res.ms(99.9) <= 250)
        memory[f"server ({backend}, ingest)"] = server.peak_rss_mb()
        return r_ingest
    finally:
        server.stop()


# --- the embedded default: SQLite, the dispatcher delivering in `wacast serve` -------------


def sent_count(url: str) -> tuple[int, int]:
    """(messages that left the queue for Meta or the sandbox, all messages)."""
    counts = run_async(setup.count_status(url))
    return sum(n for status, n in counts.items() if status in ("sent", "delivered", "read")), sum(counts.values())


def sent_after(url: str, seconds: float) -> tuple[int, int]:
    """`sent_count` once every message has left the queue, or after `seconds` (the load has stopped)."""
    deadline = time.monotonic() + seconds
    sent, total = sent_count(url)
    while time.monotonic() < deadline and sent < total:
        time.sleep(1)
        sent, total = sent_count(url)
    return sent, total


def embedded(seconds: float, connections: int, memory: dict) -> None:
    """Ingest as `make run` runs wacast: one `wacast serve` on SQLite whose dispatcher delivers
    through the sandbox (one number at 1,000 messages/s, no per-key limit), beside the same
    server with the dispatcher off, in the same run."""
    scenario = "ingest sqlite, dispatcher delivering (make run)"
    url = SQLITE_URL
    figures: dict[str, float] = {}
    for mode in ("off", "on"):
        setup.fresh_database(url)
        seeded = run_async(setup.seed(url, senders=1, mps=1000))
        server, port = start_server(url, WACAST_RUN_DISPATCHER="1" if mode == "on" else "0")
        base = f"http://127.0.0.1:{port}"
        try:
            wrk(base + "/campaign/t1/api/v2", 2, connections, seeded.api_key, seeded.campaign, 50_000_000)  # warm up
            log(f"{scenario}: dispatcher {mode}, closed loop, {connections} connections, {seconds:.0f} s")
            cpu0 = server.cpu_seconds()
            accepted = wrk(base + "/campaign/t1/api/v2", seconds, connections, seeded.api_key, seeded.campaign, 100_000_000)
            figures[f"rate_{mode}"] = accepted["rate"]
            figures[f"p99_{mode}"] = accepted["p99_us"] / 1000
            figures[f"cpu_{mode}"] = (server.cpu_seconds() - cpu0) / (accepted["duration_us"] / 1e6)
            log(f"{scenario}: dispatcher {mode}: {accepted['rate']:.0f} accepted/s, wrk p99 {accepted['p99_us'] / 1000:.0f} ms")
            if mode == "on":
                sent, total = sent_after(url, 30)
                figures["sent_share"] = sent / total if total else 0.0
                figures["total"] = total
                rate = max(10.0, accepted["rate"] * 0.5)
                log(f"{scenario}: open loop at 50% = {rate:.0f}/s for {seconds:.0f} s")
                res = run_async(open_loop("127.0.0.1", port, "/campaign/t1/api/v2", rate, seconds,
                                          lambda i: campaign_body(seeded.api_key, seeded.campaign, 150_000_000 + i)))
                figures["p99_half"] = res.ms(99)
                figures["p99_half_errors"] = res.errors
                memory["server (sqlite, dispatcher delivering)"] = server.peak_rss_mb()
        finally:
            server.stop()
    on, off = figures["rate_on"], figures["rate_off"]
    row(scenario, "accepted/s (closed loop)", on, "req/s", baseline=off, baseline_name="dispatcher off",
        target=">= 0.8 x dispatcher off", met=on >= 0.8 * off,
        note=f"server and its worker process {figures['cpu_on']:.0%} of a core (off: {figures['cpu_off']:.0%}); wrk p99 {figures['p99_on']:.0f} ms (off: {figures['p99_off']:.0f} ms)")
    row(scenario, "accepted/s (absolute)", on, "req/s", target=">= 1000/s", met=on >= 1000)
    row(scenario, "sent within 30 s after the load", figures["sent_share"] * 100, "%", target=">= 90 %",
        met=figures["sent_share"] >= 0.9, note=f"{figures['total']:.0f} messages accepted in all")
    row(scenario, "p99 at 50% load", figures["p99_half"], "ms", target="<= 50 ms", met=figures["p99_half"] <= 50,
        note=f"{figures['p99_half_errors']} errors")


# --- the production setup: PostgreSQL, `wacast serve --workers N`, separate workers -------


def production(seconds: float, connections: int, memory: dict, serve_workers: int = 2, workers: int = 2) -> None:
    """Ingest on PostgreSQL as production runs it: `wacast serve --workers 2` with the
    dispatcher off, beside the no-op route of the same servers; first with delivery paused,
    then with `workers` `wacast worker`s delivering at the same time, through the sandbox and
    through the Cloud API (the fake Graph API at 0 ms). CPU per accepted request and per sent
    message, so that the figures carry to a bigger machine."""
    url = PG_URL
    scenario = f"ingest postgresql, production (serve --workers {serve_workers}, {workers} workers)"
    for provider in ("paused", "sandbox", "cloud"):
        setup.fresh_database(url)
        seeded = run_async(setup.seed(url, senders=1, mps=1000, cloud=provider == "cloud"))
        sink = sink_url = None
        if provider == "cloud":
            sink, sink_url = start_sink(0)
        server, port = start_server(url, WACAST_BENCH_SERVE_WORKERS=str(serve_workers))
        base = f"http://127.0.0.1:{port}"
        procs: list[Proc] = []
        try:
            wrk(base + "/bench/noop", 2, connections, seeded.api_key, seeded.campaign, 0)  # warm up
            if provider == "paused":
                wrk(base + "/campaign/t1/api/v2", 2, connections, seeded.api_key, seeded.campaign, 50_000_000)
                noop = wrk(base + "/bench/noop", seconds, connections, seeded.api_key, seeded.campaign, 0)
            else:
                # No warm-up of the campaign route: every message in the database is then one
                # of the measured load (the share sent after it counts them all).
                procs = start_workers(url, sink_url or "http://127.0.0.1:9", workers)
                time.sleep(2)  # the workers join and take the number
            cpu0 = server.cpu_seconds()
            worker_cpu0 = [p.cpu_seconds() for p in procs]
            pg0 = postgres_cpu_seconds()
            accepted = wrk(base + "/campaign/t1/api/v2", seconds, connections, seeded.api_key, seeded.campaign, 100_000_000)
            n = max(1, accepted["requests"] - accepted["non2xx"])
            server_ms = (server.cpu_seconds() - cpu0) * 1000 / n
            pg_ms = (postgres_cpu_seconds() - pg0) * 1000 / n
            note = f"{accepted['errors']} errors; wrk p99 {accepted['p99_us'] / 1000:.0f} ms; CPU per accepted request: servers {server_ms:.2f} ms"
            if provider == "paused":
                row(scenario + ", delivery paused", "accepted/s (closed loop)", accepted["rate"], "req/s", baseline=noop["rate"],
                    baseline_name="no-op, same servers", target=">= 0.5 x no-op and >= 2000/s",
                    met=accepted["rate"] >= 0.5 * noop["rate"] and accepted["rate"] >= 2000,
                    note=note + f", PostgreSQL {pg_ms:.2f} ms")
                memory["server (postgresql, production ingest)"] = server.peak_rss_mb()
                continue
            sent, total = sent_after(url, 30)
            worker_ms = sum(p.cpu_seconds() - c for p, c in zip(procs, worker_cpu0)) * 1000 / max(1, sent)
            label = f"{scenario}, delivering through the {'sandbox' if provider == 'sandbox' else 'Cloud API (sink 0 ms)'}"
            row(label, "accepted/s (closed loop)", accepted["rate"], "req/s", target=">= 1000/s", met=accepted["rate"] >= 1000,
                note=note + f"; per sent message: workers {worker_ms:.2f} ms (both include PostgreSQL's share: {pg_ms:.2f} ms per request)")
            row(label, "sent within 30 s after the load", 100 * sent / max(1, total), "%", target=">= 90 %",
                met=total > 0 and sent >= 0.9 * total, note=f"{sent}/{total}")
            for p in procs:
                memory["worker (production, peak)"] = max(memory.get("worker (production, peak)", 0), p.peak_rss_mb())
        finally:
            for p in procs:
                p.stop()
            server.stop()
            if sink is not None:
                sink.stop()


# --- delivery -------------------------------------------------------------------------


def start_workers(url: str, sink_url: str, n: int, **env: str) -> list[Proc]:
    return [Proc([PY, "-m", "wacast.cli", "worker"], base_env(url, WACAST_GRAPH_API_URL=sink_url, WACAST_LOG_LEVEL="warning", **env))
            for _ in range(n)]


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process on this machine (the server's share of a run)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += stat_cpu_seconds(text)
    return total


def delivery(url: str, backlog: int, latency_ms: float, workers: int, cap_seconds: float, memory: dict,
             scenario: str | None = None) -> float:
    scenario = scenario or f"delivery postgresql, sink {latency_ms:.0f} ms"
    log(f"{scenario}: fresh database, backlog of {backlog}")
    setup.fresh_database(url)
    seeded = run_async(setup.seed(url, senders=4, mps=1000, cloud=True))
    t0 = time.perf_counter()
    run_async(setup.insert_backlog(url, seeded, backlog))
    log(f"{scenario}: backlog inserted in {time.perf_counter() - t0:.1f} s")
    sink, sink_url = start_sink(latency_ms)
    try:
        concurrency = 200  # WACAST_DISPATCHER_CONCURRENCY default
        clients = [subprocess.Popen([PY, "-m", "bench.client_rate", "--url", sink_url, "--concurrency", str(concurrency), "--seconds", "6"],
                                    cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
        r_client = sum(json.loads(c.communicate()[0])["rate"] for c in clients)
        httpx.post(sink_url + "/_reset")
        log(f"{scenario}: R_client {r_client:.0f}/s ({workers} processes x {concurrency} in flight)")
        procs = start_workers(url, sink_url, workers)
        start = time.perf_counter()
        first = last = None
        done = 0
        while time.perf_counter() - start < cap_seconds:
            time.sleep(0.25)
            done = httpx.get(sink_url + "/_stats").json()["accepted"]
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
                cpu_first = [p.cpu_seconds() for p in procs], postgres_cpu_seconds()
            if done >= backlog:
                last = (now, done)
                break
            last = (now, done)
        elapsed = (last[0] - first[0]) if first and last and last[0] > first[0] else 1.0
        rate = (last[1] - first[1]) / elapsed if first else 0.0
        # CPU per message over the measured window: each worker's, and PostgreSQL's.
        sent_in_window = max(1, last[1] - first[1]) if first else 1
        cpu_note = ""
        if first:
            worker_ms = [(p.cpu_seconds() - c) * 1000 / sent_in_window for p, c in zip(procs, cpu_first[0])]
            postgres_ms = (postgres_cpu_seconds() - cpu_first[1]) * 1000 / sent_in_window
            cpu_note = (f"CPU per message: workers {sum(worker_ms):.2f} ms in all ({', '.join(f'{m:.2f}' for m in worker_ms)}), "
                        f"PostgreSQL {postgres_ms:.2f} ms")
        stats = httpx.get(sink_url + "/_stats").json()
        for p in procs:
            memory.setdefault("worker (delivery, peak)", 0)
            memory["worker (delivery, peak)"] = max(memory["worker (delivery, peak)"], p.peak_rss_mb())
        time.sleep(1.0)
        for p in procs:
            p.stop()
        statuses = run_async(setup.count_status(url))
        drained = "drained" if done >= backlog else f"capped at {cap_seconds:.0f} s with {backlog - done} left"
        log(f"{scenario}: {rate:.0f}/s, {drained}; statuses {statuses}; duplicates {stats['duplicate_sends']}")
        row(scenario, "delivered/s", rate, "msg/s", baseline=r_client, baseline_name="R_client", target=">= 0.5 x R_client",
            met=rate >= 0.5 * r_client, note=f"backlog {backlog}, {drained}; {workers} workers; final statuses {statuses}; "
                                              f"{stats['duplicate_sends']} duplicate sends; {cpu_note}")
        row(scenario, "delivered/s (absolute)", rate, "msg/s", target=">= 1000/s", met=rate >= 1000)
        return rate
    finally:
        sink.stop()


# --- rate-cap fidelity ----------------------------------------------------------------


def lease_holdings(url: str) -> dict[str, str]:
    """Which worker holds each sender number right now (phone_number_id -> holder)."""
    query = ("SELECT p.phone_number_id, l.holder FROM sender_leases l "
             "JOIN projects p ON p.id = l.project_id WHERE l.holder <> '' AND l.expires_at > now()")
    out = subprocess.run(["psql", url, "-Atc", query], capture_output=True, text=True, check=False).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def ratecap(url: str, seconds: float, numbers: int, workers: int, memory: dict, cap: int = 80) -> None:
    """`numbers` Cloud API numbers at `cap`/s each, a backlog for all, `workers` worker processes
    started together; the sink refuses with 130429 what would exceed a number's cap in any one
    second. Every number should send at its cap, no second above it, spread evenly over the
    workers for the whole run (the holders are sampled every second)."""
    scenario = f"rate cap postgresql, {numbers} numbers x {cap}/s, {workers} workers"
    setup.fresh_database(url)
    seeded = run_async(setup.seed(url, senders=numbers, mps=cap, cloud=True))
    backlog = int(numbers * cap * (seconds + 15))
    run_async(setup.insert_backlog(url, seeded, backlog))
    sink, sink_url = start_sink(0, cap=cap)
    log(f"{scenario}: backlog {backlog}, measuring {seconds:.0f} s")
    samples: list[dict[str, str]] = []
    try:
        procs = start_workers(url, sink_url, workers)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds + 6:
            time.sleep(1.0)
            samples.append(lease_holdings(url))
        for p in procs:
            memory["worker (rate cap, peak)"] = max(memory.get("worker (rate cap, peak)", 0), p.peak_rss_mb())
        for p in procs:
            p.stop()
        times = httpx.get(sink_url + "/_times", timeout=30).json()
        rejected = httpx.get(sink_url + "/_rejected_times", timeout=30).json()
        stats = httpx.get(sink_url + "/_stats").json()
    finally:
        sink.stop()
    # The raw arrivals, for a closer look at where a 130429 came from.
    raw = Path(f"/tmp/wacast-bench/ratecap-{numbers}x{workers}.json")
    raw.write_bytes(orjson.dumps({"accepted": times, "rejected": rejected, "holders": samples}))
    rates, busiest = {}, {}
    for number, ts in sorted(times.items()):
        ts.sort()
        # Sustained rate: from 3 s after the number's first send, over `seconds - 3` seconds.
        lo = ts[0] + 3
        hi = lo + max(1.0, seconds - 3)
        rates[number] = sum(1 for t in ts if lo <= t < hi) / (hi - lo)
        j, best = 0, 0
        for i, t in enumerate(ts):
            while ts[j] <= t - 1.0:
                j += 1
            best = max(best, i - j + 1)
        busiest[number] = best
    served = len(rates)
    slowest = min(rates.values()) if rates else 0.0
    row(scenario, "slowest number's sustained rate", slowest, "msg/s", baseline=cap, baseline_name="cap",
        target=">= 0.95 x cap", met=served == numbers and slowest >= 0.95 * cap,
        note=f"{served}/{numbers} numbers served; per number: " + ", ".join(f"{r:.1f}" for r in rates.values()))
    top = max(busiest.values()) if busiest else 0
    row(scenario, "busiest 1-second window (any number)", top, "msg", baseline=cap, baseline_name="cap", target="<= cap", met=top <= cap)
    row(scenario, "130429 errors from the sink", stats["rejected_130429"], "count", target="0", met=stats["rejected_130429"] == 0,
        note=f"{stats['accepted']} accepted")
    # Fairness over the run: in each sample after the first 3 s, the most and fewest numbers
    # one worker held, and how often a number changed hands.
    steady = [sample for sample in samples[3:] if sample]
    share = -(-numbers // workers)
    counts = [Counter(sample.values()) for sample in steady]  # worker -> numbers held, per sample
    most = max((max(c.values()) for c in counts), default=0)
    fewest = min((min(c.values()) if len(c) == workers else 0 for c in counts), default=0)
    moves, last_holder = 0, {}
    for sample in steady:  # a number given back has no holder for a moment: compare with its last one
        for number, holder in sample.items():
            moves += number in last_holder and last_holder[number] != holder
            last_holder[number] = holder
    row(scenario, "numbers per worker (most / fewest, sampled each second)", most, "numbers", baseline=share, baseline_name="fair share",
        target="<= fair share, each worker serving", met=bool(steady) and most <= share and fewest >= numbers // workers,
        note=f"fewest {fewest}; {moves} hand-overs after the first 3 s; {len(steady)} samples")
    log(f"{scenario}: rates {rates}; busiest {busiest}; 130429 {stats['rejected_130429']}; per worker {most}/{fewest}, {moves} moves")


# --- webhooks -------------------------------------------------------------------------


def webhooks(backend: str, url: str, seconds: float, memory: dict) -> None:
    """Meta's signed status webhooks for real wamids while delivery runs: a closed loop (wrk
    replaying signed bodies) for the most acknowledged per second, then an open loop at a
    steady 1,500/s for the latency Meta sees; and for both, how long a stored event waited
    until the inbound loop had applied it (stored-to-applied lag)."""
    scenario = f"webhook intake {backend}, delivery running"
    steady = 1500.0
    setup.fresh_database(url)
    seeded = run_async(setup.seed(url, senders=4, mps=1000, cloud=True))
    run_async(setup.insert_backlog(url, seeded, 80_000))
    sink, sink_url = start_sink(150)
    # PostgreSQL: the production setup, `wacast serve` (dispatcher off) and one `wacast worker`
    # delivering and applying the events. SQLite: one `wacast serve` doing everything (make run).
    if backend == "postgresql":
        server, port = start_server(url)
        workers = start_workers(url, sink_url, 1)
    else:
        server, port = start_server(url, WACAST_RUN_DISPATCHER="1", WACAST_GRAPH_API_URL=sink_url)
        workers = []
    base = f"http://127.0.0.1:{port}"
    stamp = int(time.time())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sent_count(url)[0] < 10_000:
            time.sleep(0.5)
        wamids = run_async(setup.sent_wamids(url, 10_000)) or [(f"wamid.unknown{i}", "100000") for i in range(1000)]
        log(f"{scenario}: {len(wamids)} sent messages to report on; delivery goes on")

        def status_body(i: int) -> bytes:
            wamid, number = wamids[i % len(wamids)]
            status = ("sent", "delivered", "read")[(i // len(wamids)) % 3]
            return orjson.dumps({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": number},
                "statuses": [{"id": wamid, "status": status, "timestamp": str(stamp + i), "recipient_id": "919800000000",
                              "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"}}]}}]}]})

        def signature(body: bytes) -> str:
            return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()

        replay = [(b, signature(b)) for b in (status_body(i) for i in range(3 * len(wamids)))]
        noop = wrk_replay(base + "/bench/noop", seconds, 64, replay[:1000])
        since = setup.now()
        closed = wrk_replay(base + "/webhooks/whatsapp", seconds, 64, replay)
        lag_closed = run_async(setup.inbound_lag(url, since, wait_seconds=60))
        log(f"{scenario}: closed loop {closed['rate']:.0f} acknowledged/s (no-op {noop['rate']:.0f}/s), wrk p99 "
            f"{closed['p99_us'] / 1000:.0f} ms; lag p99 {lag_closed['p99']:.2f} s")
        row(scenario, "acknowledged/s (closed loop)", closed["rate"], "req/s", baseline=noop["rate"], baseline_name="no-op, same server",
            target=">= 3000/s" if backend == "postgresql" else "", met=closed["rate"] >= 3000 if backend == "postgresql" else None,
            note=f"{closed['errors']} errors; wrk p99 {closed['p99_us'] / 1000:.0f} ms; 64 connections")
        row(scenario, "stored-to-applied lag p99 (closed loop)", lag_closed["p99"] * 1000, "ms", target="<= 2000 ms",
            met=lag_closed["p99"] <= 2.0, note=f"p50 {lag_closed['p50'] * 1000:.0f} ms; {lag_closed['pending']} not applied after 60 s")

        since = setup.now()
        offset = 3 * len(wamids)  # new timestamps: new bodies, not duplicates
        res = run_async(open_loop("127.0.0.1", port, "/webhooks/whatsapp", steady, seconds, lambda i: status_body(offset + i),
                                  lambda b: {"X-Hub-Signature-256": signature(b)}))
        lag_steady = run_async(setup.inbound_lag(url, since, wait_seconds=60))
        base_res = run_async(open_loop("127.0.0.1", port, "/bench/noop", steady, seconds, status_body,
                                       lambda b: {"X-Hub-Signature-256": signature(b)}))
        log(f"{scenario}: steady {steady:.0f}/s: {res.achieved:.0f}/s acknowledged, p99 {res.ms(99):.0f} ms; lag p99 {lag_steady['p99']:.2f} s")
        row(scenario, f"acknowledged/s offered {steady:.0f}/s", res.achieved, "req/s", baseline=steady, baseline_name="offered",
            target=">= 0.98 x offered", met=res.achieved >= 0.98 * steady and res.errors == 0, note=f"{res.errors} errors; statuses {res.status}")
        row(scenario, f"p99 at {steady:.0f}/s", res.ms(99), "ms", baseline=base_res.ms(99), baseline_name="no-op p99",
            target="<= 250 ms" if backend == "postgresql" else "", met=res.ms(99) <= 250 if backend == "postgresql" else None,
            note=f"p50 {res.ms(50):.1f} ms")
        row(scenario, f"stored-to-applied lag p99 at {steady:.0f}/s", lag_steady["p99"] * 1000, "ms", target="<= 2000 ms",
            met=lag_steady["p99"] <= 2.0, note=f"p50 {lag_steady['p50'] * 1000:.0f} ms; {lag_steady['pending']} not applied after 60 s; "
                                                f"sink accepted {httpx.get(sink_url + '/_stats').json()['accepted']} sends by the end")
        memory[f"server ({backend}, webhooks)"] = server.peak_rss_mb()
    finally:
        server.stop()
        for w in workers:
            w.stop()
        sink.stop()


# --- report ---------------------------------------------------------------------------


# --- tracked links: GET /r/{token} ------------------------------------------------------


def redirects(backend: str, url: str, seconds: float, connections: int, memory: dict, links: int = 20_000) -> None:
    """The redirect of tracked links as a tap reaches it (a phone's browser user agent): one
    indexed lookup, the click in a grouped commit, then the 302; beside a no-op 302 route."""
    log(f"redirect on {backend}: fresh database, {links} tracked links")
    setup.fresh_database(url)
    seeded = run_async(setup.seed(url))
    run_async(setup.insert_backlog(url, seeded, links))
    tokens = run_async(setup.mint_links(url, seeded, links))
    env = {"WACAST_RUN_DISPATCHER": "1", "WACAST_DISPATCHER_PROCESS": "1"} if backend == "sqlite" else {}
    server, port = start_server(url, **env)  # on SQLite as `make run` runs it: the dispatcher on, in its own process
    base = f"http://127.0.0.1:{port}"
    scenario = f"redirect {backend}"
    paths = [f"/r/{t}" for t in tokens]
    try:
        wrk_get(base + "/", 2, connections, ["/bench/noop-redirect"])  # warm up
        wrk_get(base + "/", 2, connections, paths[:1000])
        noop = wrk_get(base + "/", seconds, connections, ["/bench/noop-redirect"])
        redirected = wrk_get(base + "/", seconds, connections, paths)
        stored = subprocess.run(["psql", url, "-Atc", "select count(*) from link_clicks"], capture_output=True, text=True).stdout.strip() \
            if backend == "postgresql" else ""
        log(f"{scenario}: no-op {noop['rate']:.0f}/s, redirect {redirected['rate']:.0f}/s ({redirected['errors']} errors)")
        row(scenario, "redirects/s (closed loop)", redirected["rate"], "req/s", baseline=noop["rate"], baseline_name="no-op 302",
            target=">= 2000/s", met=redirected["rate"] >= 2000,
            note=f"{redirected['errors']} errors; wrk p99 {redirected['p99_us'] / 1000:.0f} ms" + (f"; {stored} clicks stored" if stored else ""))
        memory[f"server ({backend}, redirect)"] = server.peak_rss_mb()
    finally:
        server.stop()


def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def write_results(meta: dict) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [f"# wacast benchmark results ({meta['finished']})", "", f"Machine: {meta['machine']}. Mode: {meta['mode']}.", "",
             "| scenario | metric | value | baseline | ratio | target | met? | notes |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = f"{fmt(r['baseline'])} ({r['baseline_name']})" if r["baseline"] is not None else ""
        met = "" if r["met"] is None else ("yes" if r["met"] else "**NO**")
        lines.append(f"| {r['scenario']} | {r['metric']} | {fmt(r['value'])} {r['unit']} | {base} | {fmt(r['ratio'])} | {r['target']} | {met} | {r['note']} |")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    # A run of some scenarios (--only) keeps the last full run's latest.md beside it.
    name = "latest" if not meta.get("only") else "only-" + "-".join(meta["only"])
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": rows, "notes": notes}, indent=2))
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short scenarios (about 8 minutes)")
    parser.add_argument("--seconds", type=float, help="measurement seconds per scenario (default 15, quick 5)")
    parser.add_argument("--backlog", type=int, help="delivery backlog (default 100000, quick 20000)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the delivery scenario")
    parser.add_argument("--only", default=ALL_SCENARIOS)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds or (5 if args.quick else 15)
    backlog = args.backlog or (20_000 if args.quick else 100_000)
    only = set(args.only.split(","))
    Path("/tmp/wacast-bench").mkdir(exist_ok=True)
    memory: dict[str, float] = {}
    started = time.perf_counter()
    notes.append("Durability: PostgreSQL synchronous_commit="
                 + subprocess.run(["psql", PG_URL, "-Atc", "show synchronous_commit"], capture_output=True, text=True).stdout.strip()
                 + "; SQLite journal_mode=WAL, synchronous=NORMAL (db/engine.py: a commit survives a process crash, not a power cut).")
    notes.append("Everything shares the 2 cores: load generator (wrk, 2 threads / the open-loop client), server, database, sink, workers.")
    if "embedded" in only and not args.skip_sqlite:
        embedded(max(seconds, 30.0) if not args.quick else seconds, args.connections, memory)
    if "ingest" in only:
        for backend, url in (("sqlite", SQLITE_URL), ("postgresql", PG_URL)):
            if backend == "sqlite" and args.skip_sqlite:
                continue
            ingest(backend, url, seconds, args.connections, memory)
    if "production" in only:
        production(seconds, args.connections, memory)
    if "delivery" in only:
        cap_seconds = max(30.0, seconds * 6)
        delivery(PG_URL, backlog, 0, args.workers, cap_seconds, memory)
        delivery(PG_URL, backlog, 150, args.workers, cap_seconds, memory)
    if "scaleout" in only:
        # One PostgreSQL, Meta at 150 ms: what each added worker brings (docs/scale-out.md).
        for workers in (1, 2, 4):
            delivery(PG_URL, backlog, 150, workers, max(30.0, seconds * 4), memory,
                     scenario=f"scale-out postgresql, sink 150 ms, {workers} worker{'s' if workers > 1 else ''}")
    if "webhook" in only:
        for backend, url in (("postgresql", PG_URL), ("sqlite", SQLITE_URL)):
            if backend == "sqlite" and args.skip_sqlite:
                continue
            webhooks(backend, url, seconds, memory)
    if "redirect" in only:
        for backend, url in (("postgresql", PG_URL), ("sqlite", SQLITE_URL)):
            if backend == "sqlite" and args.skip_sqlite:
                continue
            redirects(backend, url, seconds, args.connections, memory)
    if "ratecap" in only:
        for numbers, workers in ((8, 2), (16, 4)):
            ratecap(PG_URL, max(10.0, seconds * 2), numbers, workers, memory)
    for name, mb in memory.items():
        row("memory", f"peak RSS, {name}", mb, "MB", target="<= 150 MB", met=mb <= 150)
    meta = {"finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": f"{os.cpu_count()}-core {platform.machine()}, "
            f"{platform.python_implementation()} {platform.python_version()}", "mode": "quick" if args.quick else "full",
            "seconds_per_scenario": seconds, "backlog": backlog, "wall_seconds": round(time.perf_counter() - started),
            "only": sorted(only) if only != set(ALL_SCENARIOS.split(",")) else None}
    print()
    print(write_results(meta))
    missed = [r for r in rows if r["met"] is False]
    print(f"{len(rows) - len(missed)}/{len(rows)} targets met; gaps and their causes: docs/benchmarks.md. ({meta['wall_seconds']} s)")


if __name__ == "__main__":
    main()
