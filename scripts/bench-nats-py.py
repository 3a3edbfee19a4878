#!/usr/bin/env python3
"""Reference workload for `dv-bench bus`: JetStream publish + PubAck with nats-py (the NATS maintainers' client).

Run by dv-bench (not by hand) against a stream it has created: publishes WARMUP unmeasured messages, then
MESSAGES measured ones of PAYLOAD bytes to SUBJECT, with CONCURRENCY workers each awaiting every PubAck
before its next publish (worker i sends messages i, i+C, i+2C, ... as dv-bench's own loop does). Prints one
line `DVBENCH {json}` with the count, wall seconds and per-publish latency percentiles. Bounded: the whole
run is cancelled after --timeout seconds.
"""
import argparse
import asyncio
import json
import sys
import time

import nats
from nats.aio.client import __version__ as nats_py_version


async def run(args):
    nc = await nats.connect(args.url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=args.ack_timeout)
        payload = bytes(i % 251 for i in range(args.payload))

        async def worker(first, count, latencies):
            index = first
            while index < count:
                began = time.perf_counter()
                await js.publish(args.subject, payload)
                if latencies is not None:
                    latencies.append(time.perf_counter() - began)
                index += args.concurrency

        if args.warmup:
            await asyncio.gather(*(worker(w, args.warmup, None) for w in range(args.concurrency)))
        per_worker = [[] for _ in range(args.concurrency)]
        start = time.perf_counter()
        await asyncio.gather(*(worker(w, args.messages, per_worker[w]) for w in range(args.concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        await nc.close()
    latencies = sorted(x for chunk in per_worker for x in chunk)

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    result = {
        "client": "nats-py " + nats_py_version,
        "concurrency": args.concurrency,
        "count": args.messages,
        "seconds": elapsed,
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
    }
    print("DVBENCH " + json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--payload", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--ack-timeout", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    args = parser.parse_args()
    if args.concurrency < 1 or args.messages < 1:
        parser.error("--concurrency and --messages must be at least 1")
    try:
        asyncio.run(asyncio.wait_for(run(args), args.timeout))
    except asyncio.TimeoutError:
        print(f"bench-nats-py: timed out after {args.timeout:.0f} s", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
