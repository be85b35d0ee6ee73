"""How the service holds up under load: concurrent clients on loopback.

    python experiments/bench_serve.py [--requests 256] [--out experiments/results]

Starts ``deepface-gen serve`` (the real command, default limits, the starter) as its
own process, and drives it from this one: each client sends
one-face ``generate`` requests back to back (a description from a fixed list, its own
seed) over its own keep-alive connection (plain asyncio streams, so the load
generator costs the two shared cores little), for 1, 4, 16 and 64 clients and the
same number of requests each time. The
1-client row *is* "one at a time". A second server started with ``--max-batch 1``
(every request drawn alone) is measured the same way, so what batching adds is
separated from what concurrency alone does (HTTP work overlapping model work).

Records faces per second and p50/p95 latency per row, the warm single-request time
(median of sequential requests), the batch sizes the server reports, and the
targets: at 16 clients, throughput >= 2x one at a time and p95 <= 3x the warm
single-request time. Writes ``serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTIONS = ("smiling woman", "old man, eyeglasses", "young, blond hair", "male, beard",
                "female, wavy hair, lipstick", "bald", "bangs", "gray hair")  # fmt: skip
CLIENTS = (1, 4, 16, 64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*options: str) -> tuple[subprocess.Popen, str, float]:
    """(process, base URL, seconds from launch to ready) of ``deepface-gen serve``."""
    port = free_port()
    command = [sys.executable, "-m", "deepface_gen.cli.main", "serve", "--port", str(port),
               *options]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {process.stdout.read().decode()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.2)


async def _client(port: int, next_index, latencies: list[float]) -> None:
    """One keep-alive connection sending requests back to back. Plain asyncio streams:
    a load generator sharing two cores with the server must cost little itself."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (i := next_index()) is not None:
            body = json.dumps({"attrs": DESCRIPTIONS[i % len(DESCRIPTIONS)], "seed": 1000 + i})
            head = (
                "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            start = time.perf_counter()
            writer.write(head.encode() + body.encode())
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if b" 200 " not in status:
                raise SystemExit(f"request {i} failed: {status!r}")
    finally:
        writer.close()


def load(url: str, clients: int, requests: int) -> dict:
    """``requests`` one-face requests from ``clients`` connections, back to back."""
    port = int(url.rsplit(":", 1)[1])
    latencies: list[float] = []
    counter = iter(range(requests))

    async def run() -> None:
        await asyncio.gather(
            *(_client(port, lambda: next(counter, None), latencies) for _ in range(clients))
        )

    start = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": requests,
        "faces_per_second": round(requests / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


def warm_single_ms(url: str, count: int = 40) -> float:
    """Median latency of sequential one-face requests on a warm server."""
    with httpx.Client(timeout=60) as session:
        times = []
        for i in range(count):
            start = time.perf_counter()
            session.post(f"{url}/api/generate", json={"attrs": "smiling", "seed": i})
            times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 2)


def measure(options: tuple[str, ...], requests: int) -> dict:
    process, url, ready = start_server(*options)
    try:
        load(url, 4, 32)  # settle: first requests of each shape, connections
        single = warm_single_ms(url)
        rows = [load(url, clients, requests) for clients in CLIENTS]
        batches = httpx.get(f"{url}/api/stats").json()["batches"].get("generate", {})
        device = httpx.get(f"{url}/api/health").json()["device"]
    finally:
        process.terminate()
        process.wait(30)
    return {"options": list(options), "ready_seconds": round(ready, 1), "device": device,
            "warm_single_ms": single, "rows": rows, "batch_sizes": batches}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    args = parser.parse_args()
    batched = measure((), args.requests)
    alone = measure(("--max-batch", "1"), args.requests)
    rows = {r["clients"]: r for r in batched["rows"]}
    throughput = rows[16]["faces_per_second"] / rows[1]["faces_per_second"]
    latency = rows[16]["p95_ms"] / batched["warm_single_ms"]
    result = {
        "device": batched["device"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "batched": batched,
        "unbatched": alone,
        "targets": {
            "throughput_16_over_1": round(throughput, 2),
            "throughput_met": throughput >= 2.0,
            "p95_16_over_warm_single": round(latency, 2),
            "p95_met": latency <= 3.0,
            # Little's law for closed-loop clients: p95 >= mean latency = clients /
            # throughput, so both targets together need throughput >= 16/3 x single.
            "littles_law_latency_floor_ms": round(16 / rows[16]["faces_per_second"] * 1000, 1),
        },
    }
    out = Path(args.out) / "serve.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
