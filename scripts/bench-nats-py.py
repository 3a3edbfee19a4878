#!/usr/bin/env python3
"""Reference workloads for `dv-bench bus` with nats-py (the NATS maintainers' client).

Run by dv-bench (not by hand) against a stream it has created (STREAM, subjects of SUBJECT), one WORKLOAD each:
- publish-ack: WARMUP unmeasured messages, then MESSAGES measured ones of PAYLOAD bytes to SUBJECT, with
  CONCURRENCY workers each awaiting every PubAck before its next publish (worker i sends messages i, i+C, i+2C,
  ... as dv-bench's own loop does);
- publish: core PUBs (no ack) to a subject no stream takes, one after the other, timed until a flush returns;
- request: request/reply against an echoing responder on the same connection, CONCURRENCY in flight;
- pull: the stream holds MESSAGES already (dv-bench filled it); a durable pull consumer fetches 100 at a time
  and acks each.
Prints one line `DVBENCH {json}` with the count, wall seconds and per-message latency percentiles (publish-ack
and request). Bounded: the whole run is cancelled after --timeout seconds.
"""
import argparse
import asyncio
import json
import sys
import time

import nats
import nats.errors
from nats.aio.client import __version__ as nats_py_version


async def run(args):
    nc = await nats.connect(args.url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False)
    latencies = []
    try:
        js = nc.jetstream(timeout=args.ack_timeout)
        payload = bytes(i % 251 for i in range(args.payload))
        count = args.messages

        async def workers(operation, total, record):
            per_worker = [[] for _ in range(args.concurrency)]

            async def worker(first):
                index = first
                while index < total:
                    began = time.perf_counter()
                    await operation()
                    if record:
                        per_worker[first].append(time.perf_counter() - began)
                    index += args.concurrency

            await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
            return [x for chunk in per_worker for x in chunk]

        if args.workload == "publish-ack":
            async def publish_ack():
                await js.publish(args.subject, payload)
            if args.warmup:
                await workers(publish_ack, args.warmup, False)
            start = time.perf_counter()
            latencies = await workers(publish_ack, count, True)
            elapsed = time.perf_counter() - start
        elif args.workload == "publish":
            subject = "bench.core." + args.stream
            for _ in range(args.warmup):
                await nc.publish(subject, payload)
            await nc.flush(timeout=60)
            start = time.perf_counter()
            for _ in range(count):
                await nc.publish(subject, payload)
            await nc.flush(timeout=60)
            elapsed = time.perf_counter() - start
        elif args.workload == "request":
            subject = "bench.rr." + args.stream

            async def echo(msg):
                await msg.respond(msg.data)

            sub = await nc.subscribe(subject, cb=echo, pending_msgs_limit=65536)
            await nc.flush()

            async def request():
                await nc.request(subject, payload, timeout=5)
            if args.warmup:
                await workers(request, args.warmup, False)
            start = time.perf_counter()
            latencies = await workers(request, count, True)
            elapsed = time.perf_counter() - start
            await sub.unsubscribe()
        else:  # pull
            psub = await js.pull_subscribe(args.subject, durable="pull_py", stream=args.stream)
            start = time.perf_counter()
            consumed = 0
            empty = 0
            while consumed < count and empty < 10:
                try:
                    batch = await psub.fetch(min(100, count - consumed), timeout=5)
                except nats.errors.TimeoutError:
                    batch = []
                if not batch:
                    empty += 1
                for msg in batch:
                    await msg.ack()
                consumed += len(batch)
            elapsed = time.perf_counter() - start
            if consumed != count:
                raise RuntimeError(f"pull-consume got {consumed} of {count} messages")
    finally:
        await nc.close()
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    result = {
        "client": "nats-py " + nats_py_version,
        "workload": args.workload,
        "concurrency": args.concurrency,
        "count": count,
        "seconds": elapsed,
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
    }
    print("DVBENCH " + json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--workload", choices=["publish-ack", "publish", "request", "pull"], default="publish-ack")
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
