"""What one slider move costs the server, per page: CPU time and round trip, no browser.

    python benchmarks/server_cost.py [--cache DIR] [--moves 40] [--repeats 3]

Starts a server (models from --cache, e.g. a prewarmed one), then for each page opens one
session over Streamlit's protocol (`benchmarks/st_client.py`) and moves its sliders one at a
time, each one step and back (so the page's configuration stays the cached one), reading the
server process's CPU time (/proc) around the moves. Prints per page the median over the
repeats of the server's CPU ms per move and of the round trip's p50 (action -> last delta).
This is the number that bounds how many visitors one server process serves: Streamlit runs
every session's script in a thread of one process, so its Python work shares one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load_test import cpu_seconds  # noqa: E402
from benchmarks.st_client import ProtocolSession  # noqa: E402
from dashboard.nav import existing_pages  # noqa: E402


async def measure(base: str, page: str, pid: int, moves: int) -> tuple[float, float, int]:
    s = ProtocolSession(base, page)
    await s.open()
    for _ in range(2):  # warm the page's caches with one pass over its sliders
        for el in s.sliders()[:8]:
            for d in (1, -1):
                await s.move_slider(el, d) or await s.move_slider(el, -d)
    rtt, n = [], 0
    cpu0 = cpu_seconds(pid)
    while n < moves:
        sliders = s.sliders()
        el = sliders[n % len(sliders)]
        for d in (1, -1):
            r = await s.move_slider(el, d) or await s.move_slider(el, -d)
            if r is not None:
                rtt.append(r.ms)
                n += 1
    cpu = cpu_seconds(pid) - cpu0
    await s.close()
    return 1000 * cpu / n, statistics.median(rtt), len(s.sliders())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", help="run cache (prewarmed: python -m models prewarm)")
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pages", nargs="*", help="url paths (home is '')")
    args = ap.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="ll-cost-")
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    env = dict(os.environ, LATENT_LAB_CACHE=cache)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run",
                             str(ROOT / "dashboard" / "app.py"), "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        pages = args.pages if args.pages is not None else [p.url_path for p in existing_pages()]
        print(f"server CPU per slider move and round trip, {args.moves} moves, median of "
              f"{args.repeats} repeats")
        for page in pages:
            runs = [asyncio.run(measure(base, page, proc.pid, args.moves))
                    for _ in range(args.repeats)]
            cpu = statistics.median(r[0] for r in runs)
            rtt = statistics.median(r[1] for r in runs)
            print(f"  {page or '/':24s} CPU {cpu:6.1f} ms/move (runs "
                  f"{', '.join(f'{r[0]:.1f}' for r in runs)})  round trip p50 {rtt:6.1f} ms  "
                  f"sliders {runs[0][2]}", flush=True)
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
