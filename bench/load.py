"""Load generators: wrk (closed loop, C, for maximum throughput) and an open-loop asyncio client
that schedules each request at its intended time and measures latency from that time into an
HdrHistogram (no coordinated omission: a stalled server makes the queue, and the latency, grow).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import httptools
from hdrh.histogram import HdrHistogram

# Shared by both scripts: each thread knows its index; the summary is printed as one JSON line.
WRK_SETUP = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
"""
WRK_DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

WRK_LUA = WRK_SETUP + r"""
function init(args)
  mode = args[1]; key = args[2]; camp = args[3]; offset = tonumber(args[4])
  counter = 0
end
request = function()
  counter = counter + 1
  local n = 9800000000 + offset + tid * 10000000 + counter
  local body = string.format('{"apiKey":"%s","campaignName":"%s","destination":"+91%d","userName":"Customer %d","templateParams":["Customer %d","ORD-%d"],"source":"bench","tags":["customer"],"attributes":{"city":"Pune"},"media":{},"buttons":[],"carouselCards":[],"location":{}}', key, camp, n, counter, counter, counter)
  return wrk.format("POST", nil, {["Content-Type"]="application/json"}, body)
end
""" + WRK_DONE


def campaign_body(key: str, campaign: str, n: int) -> bytes:
    return (
        f'{{"apiKey":"{key}","campaignName":"{campaign}","destination":"+91{9800000000 + n}","userName":"Customer {n}",'
        f'"templateParams":["Customer {n}","ORD-{n}"],"source":"bench","tags":["customer"],"attributes":{{"city":"Pune"}},'
        f'"media":{{}},"buttons":[],"carouselCards":[],"location":{{}}}}'
    ).encode()


def _run_wrk(script_text: str, url: str, seconds: float, connections: int, threads: int, args: list[str]) -> dict:
    """Run wrk with a Lua script for `seconds`; its summary, with the rate of 2xx answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script_text)
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, int(seconds))}s", "--timeout", "10s",
             "-s", script, url, "--", *args],
            capture_output=True, text=True, timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script)
    match = re.search(r"WRKJSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk failed: {out[-500:]}")
    data = json.loads(match.group(1))
    data["rate"] = (data["requests"] - data["non2xx"]) / (data["duration_us"] / 1e6)  # 2xx answers only
    data["errors"] = data["non2xx"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    return data


def wrk(url: str, seconds: float, connections: int, key: str, campaign: str, offset: int, threads: int = 2) -> dict:
    """Closed loop: `connections` keep-alive connections, each sending as soon as answered."""
    return _run_wrk(WRK_LUA, url, seconds, connections, threads, ["campaign", key, campaign, str(offset)])


WRK_REPLAY_LUA = WRK_SETUP + r"""
function init(args)
  REQUESTS = {}
  for line in io.lines(args[1]) do  -- signature TAB body, one request a line
    local tab = string.find(line, "\t", 1, true)
    table.insert(REQUESTS, {string.sub(line, tab + 1), string.sub(line, 1, tab - 1)})
  end
  counter = tid * 7919
end
request = function()
  counter = counter + 1
  local r = REQUESTS[(counter % #REQUESTS) + 1]
  return wrk.format("POST", nil, {["Content-Type"]="application/json", ["X-Hub-Signature-256"]=r[2]}, r[1])
end
""" + WRK_DONE


def wrk_replay(url: str, seconds: float, connections: int, requests: list[tuple[bytes, str]], threads: int = 2) -> dict:
    """Closed loop replaying pre-built (body, X-Hub-Signature-256) pairs, round robin (Meta's
    signed webhooks: the signature cannot be computed in wrk's Lua)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".tsv", delete=False) as f:
        for body, signature in requests:
            f.write(signature.encode() + b"\t" + body + b"\n")  # compact JSON holds no newline
        data_file = f.name
    try:
        return _run_wrk(WRK_REPLAY_LUA, url, seconds, connections, threads, [data_file])
    finally:
        os.unlink(data_file)


WRK_GET_LUA = WRK_SETUP + r"""
function init(args)
  PATHS = {}
  for line in io.lines(args[1]) do table.insert(PATHS, line) end
  counter = tid * 7919
end
request = function()
  counter = counter + 1
  return wrk.format("GET", PATHS[(counter % #PATHS) + 1], {["User-Agent"]="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"})
end
""" + WRK_DONE


def wrk_get(url: str, seconds: float, connections: int, paths: list[str], threads: int = 2) -> dict:
    """Closed loop of GETs of the given paths, round robin, as a phone's browser."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths) + "\n")
        data_file = f.name
    try:
        data = _run_wrk(WRK_GET_LUA, url, seconds, connections, threads, [data_file])
    finally:
        os.unlink(data_file)
    return data  # wrk counts only statuses >= 400 as errors: each 302 is an answer


@dataclass
class OpenLoopResult:
    rate_target: float
    sent: int
    completed: int
    errors: int
    status: dict
    seconds: float
    hist: HdrHistogram

    @property
    def achieved(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return self.hist.get_value_at_percentile(q) / 1000.0


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            await self.open()
        done = asyncio.get_running_loop().create_future()
        status = {}

        class P:
            def on_message_complete(self_inner) -> None:  # noqa: N805
                if not done.done():
                    done.set_result(True)

        parser = httptools.HttpResponseParser(P())
        self.writer.write(raw)
        while not done.done():
            data = await self.reader.read(65536)
            if not data:
                self.writer = None
                raise ConnectionError("closed")
            parser.feed_data(data)
        status["code"] = parser.get_status_code()
        if not parser.should_keep_alive():
            self.writer.close()
            self.writer = None
        return status["code"]


async def open_loop(host: str, port: int, path: str, rate: float, seconds: float, make_body: Callable[[int], bytes],
                    headers: Callable[[bytes], dict] | None = None, connections: int = 256) -> OpenLoopResult:
    """Send at a constant `rate` for `seconds`; latency counts from each request's intended time."""
    hist = HdrHistogram(1, 60_000_000, 3)  # microseconds, up to 60 s
    queue: asyncio.Queue = asyncio.Queue()
    counts = {"completed": 0, "errors": 0}
    statuses: dict[int, int] = {}
    total = int(rate * seconds)

    def raw_request(i: int) -> bytes:
        body = make_body(i)
        extra = headers(body) if headers else {}
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        return head.encode() + b"\r\n" + body

    async def worker() -> None:
        conn = _Conn(host, port)
        while True:
            item = await queue.get()
            if item is None:
                return
            intended, raw = item
            try:
                code = await asyncio.wait_for(conn.request(raw), 15)
                statuses[code] = statuses.get(code, 0) + 1
                if code >= 400:
                    counts["errors"] += 1
            except (OSError, ConnectionError, TimeoutError):
                counts["errors"] += 1
                conn = _Conn(host, port)
                continue
            hist.record_value(max(1, int((time.perf_counter() - intended) * 1e6)))
            counts["completed"] += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter() + 0.05
    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((intended, raw_request(i)))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    return OpenLoopResult(rate, total, counts["completed"], counts["errors"], statuses, elapsed, hist)
