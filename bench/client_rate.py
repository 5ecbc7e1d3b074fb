"""R_client: the raw rate of wacast's own Graph API client (wacast.whatsapp.cloud.GraphClient,
httpx) against the sink, at the dispatcher's concurrency, with no database or queue.

    python -m bench.client_rate --url http://127.0.0.1:9100 --concurrency 200 --seconds 8
prints {"sent": n, "seconds": s, "rate": r, "errors": e}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from wacast.messages.provider import OutgoingMessage
from wacast.meta.client import GraphClient
from wacast.meta.types import build_message_body


async def run(url: str, concurrency: int, seconds: float, numbers: int) -> dict:
    client = GraphClient(url, "v23.0")
    counts = {"sent": 0, "errors": 0}
    deadline = time.perf_counter() + seconds

    async def one(w: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            message = OutgoingMessage(f"client-{w}-{n}", "p", f"+91{9700000000 + w * 100000 + n}", {
                "template": "order_update", "language": "en", "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Customer"}, {"type": "text", "text": f"ORD-{n}"}]}]})
            result = await client.send_message(f"10{w % numbers:04d}", "token", build_message_body(message))
            counts["sent" if result.wamid else "errors"] += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.close()
    return {**counts, "seconds": elapsed, "rate": counts["sent"] / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--numbers", type=int, default=4)
    args = parser.parse_args()
    # Plain asyncio, as `wacast worker` runs its dispatcher.
    print(json.dumps(asyncio.run(run(args.url, args.concurrency, args.seconds, args.numbers))))


if __name__ == "__main__":
    main()
