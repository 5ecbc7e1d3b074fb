"""A fake Graph API: POST /{version}/{phone_number_id}/messages answers like Meta's Cloud API.

A raw ASGI app on uvicorn (uvloop + httptools), run as its own process:

    python -m bench.sink --port 9100 [--latency-ms 150] [--cap 80]

- `--latency-ms`: every send waits this long before its answer (Meta's round trip).
- `--cap`: per phone_number_id throughput cap; a send that would make more than `cap`
  accepted sends within any one second is refused with Meta's error 130429, as Meta does.
- It records every accepted send (its biz_opaque_callback_data, i.e. wacast's message id, and
  the wamid it gave), so a test can count sends per message and find duplicates.

GET /_stats answers counters; GET /_accepted the accepted sends; GET /_times per-number
accept times (monotonic seconds, for rate analysis), GET /_rejected_times those of the 130429s;
POST /_reset forgets everything.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import time
from typing import Any

import orjson

OK_HEAD = [(b"content-type", b"application/json")]


class Sink:
    def __init__(self, latency: float = 0.0, cap: int = 0, record_times: bool = True) -> None:
        self.latency = latency
        self.cap = cap
        self.record_times = record_times
        self.reset()

    def reset(self) -> None:
        self.counter = itertools.count(1)
        self.accepted = 0
        self.rejected_cap = 0
        self.bad = 0
        self.by_id: dict[str, list[list]] = {}  # message id -> [[wamid, arrival time], ...]
        self.windows: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.rejected_times: dict[str, list[float]] = collections.defaultdict(list)  # the 130429s' arrivals
        self.per_number: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])

    def stats(self) -> dict[str, Any]:
        duplicates = sum(len(v) - 1 for v in self.by_id.values() if len(v) > 1)
        return {
            "accepted": self.accepted,
            "rejected_130429": self.rejected_cap,
            "bad_requests": self.bad,
            "distinct_messages": len(self.by_id),
            "duplicate_sends": duplicates,
            "per_number": {k: {"accepted": v[0], "rejected_130429": v[1]} for k, v in self.per_number.items()},
        }

    def admit(self, number: str) -> bool:
        """Strict sliding window: at most `cap` accepted sends in any 1-second interval."""
        if self.cap <= 0:
            return True
        now = time.monotonic()
        window = self.windows[number]
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.cap:
            return False
        window.append(now)
        return True

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if path.endswith("/messages") and scope["method"] == "POST":
            status, out = await self.send_message(path, body)
        elif path == "/_stats":
            status, out = 200, self.stats()
        elif path == "/_accepted":
            status, out = 200, self.by_id
        elif path == "/_times":
            status, out = 200, self.times
        elif path == "/_rejected_times":
            status, out = 200, self.rejected_times
        elif path == "/_reset":
            self.reset()
            status, out = 200, {"reset": True}
        else:
            status, out = 404, {"error": {"message": "Unknown path", "code": 100}}
        raw = orjson.dumps(out)
        await send({"type": "http.response.start", "status": status, "headers": OK_HEAD + [(b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})

    async def send_message(self, path: str, body: bytes) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        number = parts[-2] if len(parts) >= 2 else ""
        try:
            data = orjson.loads(body)
            to = data["to"]
            opaque = str(data.get("biz_opaque_callback_data", ""))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.bad += 1
            return 400, {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
        arrived = time.monotonic()
        admitted = self.admit(number)  # Meta counts a send when it arrives
        if self.latency:
            await asyncio.sleep(self.latency)
        if not admitted:
            self.rejected_cap += 1
            self.per_number[number][1] += 1
            if self.record_times:
                self.rejected_times[number].append(arrived)
            return 400, {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
                                   "error_data": {"messaging_product": "whatsapp", "details": "Cloud API message throughput has been reached."}}}
        wamid = f"wamid.BENCH{next(self.counter):012d}"
        self.accepted += 1
        self.per_number[number][0] += 1
        if self.record_times:
            self.times[number].append(arrived)
        self.by_id.setdefault(opaque, []).append([wamid, arrived])
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                     "messages": [{"id": wamid, "message_status": "accepted"}]}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--cap", type=int, default=0)
    args = parser.parse_args()
    sink = Sink(args.latency_ms / 1000.0, args.cap)
    uvicorn.run(sink, host=args.host, port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", backlog=4096)


if __name__ == "__main__":
    main()
