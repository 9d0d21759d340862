"""Load test for a hosted demo: many visitors' sessions across the pages, moving sliders and
starting a mix of cached and new runs, against the server(s) of one machine.

Targets (issue 9): no error on any page; slider round trip p95 <= 1 s; each distinct
configuration trained once; server memory (RSS) <= 1.5 GB.

    python benchmarks/load_test.py [--sessions 30] [--minutes 2] [--limits FILE]
                                   [--servers 2] [--browsers 1] [--cache DIR]

The servers are started here (LATENT_LAB_BENCH=1, so pages emit a run counter), on one run
cache: a fresh one unless --cache names one (the pretrained runs unpack into it at start-up,
so every page's default is cached; a reused cache also holds what earlier runs trained, so
their Train clicks find more cached). Sessions arrive two a second, each on one page and one
server (sticky, as behind a load balancer); a third of them press Train now and then.

Who plays the visitors: a visitor's browser renders on the visitor's computer, so most
sessions here speak Streamlit's websocket protocol without drawing (benchmarks/st_client.py):
they load the server as 30 tabs would, and time each move from the action to the redraw's
last message. --browsers K of them run in headless Chromium instead (a context each, all in
one browser), timed from the key press to the repainted page, as a check on what a real tab
sees under the load. Those browsers run on the server's own two cores: one Chromium session
used ~40 CPU seconds in a 2-minute run, three ~110 (of the ~290 the machine had), so more
of them measure the harness, not the server (--browsers 30 puts every visitor's browser here).

--servers N runs N server processes sharing the cache, the README's deployment for more than
one core: Streamlit runs every session's script in a thread of one process, so one process
does at most about one core of Python work (its CPU use flattens at ~1 core under load).
With several, the limits file's `workers` is divided among them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.browser_latency import ARM, CHROMIUM_ARGS, START, pct  # noqa: E402
from benchmarks.st_client import ProtocolSession  # noqa: E402
from dashboard.nav import existing_pages  # noqa: E402

TRAIN_EVERY = 12  # a "trainer" session presses Train on about one action in this many


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def browser_pids() -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if "chromium" in (p / "comm").read_text():
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().split(") ")[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


async def session(browser, base, path, seconds, trainer, stats, rng):
    """A visitor in a real browser (a context of the one headless Chromium)."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    pg = await ctx.new_page()
    group = stats["browser"]
    try:
        t0 = time.perf_counter()
        await pg.goto(f"{base}/{path}", timeout=120_000)
        await pg.wait_for_selector("[data-testid=stMain] h1", timeout=120_000)
        group["loads"].append(1000 * (time.perf_counter() - t0))
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            i += 1
            exc = pg.locator("[data-testid=stException]")
            if await exc.count():
                text = " ".join((await exc.first.inner_text()).split())
                stats["errors"].append(f"{path}: exception on the page: {text[:300]}")
                break
            if trainer and i % TRAIN_EVERY == 0:
                train = pg.get_by_role("button", name=START)
                if await train.count():
                    await train.first.click()
                    stats["train_clicks"] += 1
                    await asyncio.sleep(1.0)
                    continue
            sliders = pg.locator("[data-testid=stSlider] input[type=range]")
            n = await sliders.count()
            if n == 0:
                await asyncio.sleep(1.0)
                continue
            s = sliders.nth(rng.randrange(min(n, 4)))
            try:
                await s.focus(timeout=5000)
                before = await s.input_value()
                await pg.evaluate(ARM)
                await pg.keyboard.press(rng.choice(["ArrowRight", "ArrowLeft"]))
                if await s.input_value() == before:  # at the end of its range: no rerun
                    await pg.evaluate("window.__latCancel = true")
                ms = await pg.evaluate("window.__lat")
                if ms == -2:
                    continue
            except Exception as e:  # noqa: BLE001 - a page that stops answering is a failure
                stats["errors"].append(f"{path}: {type(e).__name__}")
                continue
            if ms >= 0:
                group["latency"].append(ms)
                group["per_page"][path or "/"].append(ms)
            else:
                group["timeouts"] += 1
            await asyncio.sleep(rng.uniform(0.3, 1.2))  # a person reads between moves
    except Exception as e:  # noqa: BLE001
        stats["errors"].append(f"{path}: {type(e).__name__}: {str(e)[:80]}")
    finally:
        await ctx.close()


async def protocol_session(base, path, seconds, trainer, stats, rng):
    """A visitor whose browser runs elsewhere: the same actions over Streamlit's protocol."""
    s = ProtocolSession(base, path)
    key = f"{path or '/'}"
    group = stats["protocol"]
    try:
        group["loads"].append(await s.open())
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            i += 1
            if s.exceptions:
                stats["errors"].append(f"{key}: exception on the page: {s.exceptions[0]}")
                break
            if trainer and i % TRAIN_EVERY == 0:
                train = s.buttons(START)
                if train:
                    await s.press(train[0])
                    stats["train_clicks"] += 1
                    await asyncio.sleep(1.0)
                    continue
            sliders = s.sliders()
            if not sliders:
                await asyncio.sleep(1.0)
                continue
            r = await s.move_slider(rng.choice(sliders), rng.choice([1, -1]))
            if r is None:  # at the end of its range: no rerun
                continue
            group["latency"].append(r.ms)
            group["per_page"][key].append(r.ms)
            await asyncio.sleep(rng.uniform(0.3, 1.2))  # a person reads between moves
        if s.exceptions:
            stats["errors"].append(f"{key}: exception on the page: {s.exceptions[0]}")
        stats["auto_reruns"] += s.auto_reruns
    except asyncio.TimeoutError:
        stats["errors"].append(f"{key}: no answer within 60 s")
    except Exception as e:  # noqa: BLE001 - a session that fails is a failure
        where = traceback.extract_tb(e.__traceback__)[-1]
        stats["errors"].append(f"{key}: {type(e).__name__}: {str(e)[:80]} "
                               f"({Path(where.filename).name}:{where.lineno})")
    finally:
        await s.close()


def browser_sessions(sessions: int, browsers: int) -> set[int]:
    """Which of the sessions run in a real browser: spread evenly over the list, so across pages."""
    browsers = max(0, min(browsers, sessions))
    return {round(k * sessions / browsers) for k in range(browsers)} if browsers else set()


def new_group() -> dict:
    return {"latency": [], "per_page": collections.defaultdict(list), "loads": [],
            "timeouts": 0}


async def run(args, bases: list[str], server_pids: list[int]):
    pages = [p.url_path for p in existing_pages()]
    stats = {"browser": new_group(), "protocol": new_group(), "errors": [],
             "train_clicks": 0, "auto_reruns": 0, "kinds": {}}
    # peak RSS: of the largest server process, of all server processes at once, of the workers
    rss = {"server": 0.0, "servers": 0.0, "workers": 0.0}
    # CPU seconds used during the test, per process (the last reading of each: a browser
    # renderer that exits keeps its last one), to tell the server's share from the browser's
    cpu: dict[str, dict[int, float]] = {"server": {}, "workers": {}, "browser": {},
                                        "clients": {}}

    def workers() -> list[int]:
        return [c for pid in server_pids for c in children(pid)]

    start = {"server": sum(cpu_seconds(pid) for pid in server_pids),
             "clients": cpu_seconds(os.getpid()),
             "workers": sum(cpu_seconds(c) for c in workers())}
    stop = asyncio.Event()

    async def sample_memory():
        while not stop.is_set():
            each = [rss_mb(pid) for pid in server_pids]
            rss["server"] = max(rss["server"], *each)
            rss["servers"] = max(rss["servers"], sum(each))
            rss["workers"] = max(rss["workers"], sum(rss_mb(c) for c in workers()))
            for pid in server_pids:
                cpu["server"][pid] = cpu_seconds(pid)
            cpu["clients"][os.getpid()] = cpu_seconds(os.getpid())  # this process
            for c in workers():
                cpu["workers"][c] = cpu_seconds(c)
            for b in browser_pids():
                cpu["browser"][b] = cpu_seconds(b)
            await asyncio.sleep(1)

    in_browser = browser_sessions(args.sessions, args.browsers)
    stats["kinds"] = {"browser": len(in_browser), "protocol": args.sessions - len(in_browser)}
    async with contextlib.AsyncExitStack() as stack:
        browser = None
        if in_browser:
            from playwright.async_api import async_playwright
            p = await stack.enter_async_context(async_playwright())
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=CHROMIUM_ARGS)
            stack.push_async_callback(browser.close)
        mem = asyncio.create_task(sample_memory())
        rng = random.Random(0)
        tasks = []
        for i in range(args.sessions):
            path = pages[i % len(pages)]
            base = bases[i % len(bases)]  # sticky: a session stays on its server
            kw = dict(seconds=args.minutes * 60, trainer=(i % 3 == 0), stats=stats,
                      rng=random.Random(rng.random()))
            tasks.append(asyncio.create_task(
                session(browser, base, path, **kw) if i in in_browser
                else protocol_session(base, path, **kw)))
            await asyncio.sleep(0.5)  # visitors arrive over a quarter of a minute
        await asyncio.gather(*tasks)
        stop.set()
        await mem
    stats["cpu"] = {k: sum(v.values()) - start.get(k, 0.0) for k, v in cpu.items()}
    return stats, rss


def report(name: str, group: dict) -> None:
    lat = sorted(group["latency"])
    if not lat:
        return
    loads = sorted(group["loads"])
    print(f"{name}: slider round trips {len(lat)}, p50 {statistics.median(lat):.0f} ms, "
          f"p95 {pct(lat, 0.95):.0f} ms, max {lat[-1]:.0f} ms, timeouts {group['timeouts']} "
          f"(target p95 <= 1000 ms); page loads p50 {statistics.median(loads):.0f} ms, "
          f"max {loads[-1]:.0f} ms")
    for page, v in sorted(group["per_page"].items()):
        print(f"  {page:24s} n={len(v):4d} p50 {statistics.median(v):6.0f} ms "
              f"p95 {pct(v, 0.95):6.0f} ms")


def start_servers(n: int, cache: str, limits: str | None) -> list[tuple]:
    """n server processes on one cache (each its own port, log and workers), started
    together; returns (process, base URL, log file) for each once all answer."""
    env = dict(os.environ, LATENT_LAB_BENCH="1", LATENT_LAB_CACHE=cache)
    if limits:
        env["LATENT_LAB_LIMITS"] = limits
    servers = []
    for i in range(n):
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        log = open(Path(cache) / f"load-test-server{'-' + str(i + 1) if n > 1 else ''}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run",
                                 str(ROOT / "dashboard" / "app.py"), "--server.port", str(port),
                                 "--server.headless", "true"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        servers.append((proc, f"http://127.0.0.1:{port}", log))
    for _, base, _ in servers:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
    return servers


def split_limits(path: str | None, servers: int) -> str | None:
    """With several servers, a copy of the limits file whose `workers` is divided among them
    (the README's rule: processes x workers at about the number of cores)."""
    if servers == 1 or not path:
        return path
    text = Path(path).read_text()
    workers = int(re.search(r"^workers\s*=\s*(\d+)", text, re.M).group(1))
    each = max(1, workers // servers)
    out = Path(tempfile.mkdtemp(prefix="ll-limits-")) / "limits.toml"
    out.write_text(re.sub(r"^workers\s*=.*$", f"workers = {each}", text, flags=re.M))
    print(f"{servers} servers: workers = {each} each (from {workers} in {path})")
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--cache", help="run cache (prewarmed: python -m models prewarm)")
    ap.add_argument("--limits", help="LATENT_LAB_LIMITS file for the server")
    ap.add_argument("--browsers", type=int, default=1,
                    help="how many of the sessions run in headless Chromium (the rest speak "
                         "Streamlit's protocol: benchmarks/st_client.py); --browsers 30 puts "
                         "every visitor's browser on this machine")
    ap.add_argument("--servers", type=int, default=2,
                    help="server processes on the one cache, sessions shared among them "
                         "(sticky), as in the README's several-process deployment: one per "
                         "core (--servers 1 for a single process)")
    args = ap.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="ll-load-")
    servers = start_servers(args.servers, cache, split_limits(args.limits, args.servers))
    try:
        log_file = Path(cache) / "log" / "trainings.jsonl"
        before = len(log_file.read_text().splitlines()) if log_file.exists() else 0
        t0 = time.time()
        stats, rss = asyncio.run(run(args, [b for _, b, _ in servers],
                                     [p.pid for p, _, _ in servers]))
        lines = log_file.read_text().splitlines()[before:] if log_file.exists() else []
        keys = collections.Counter(json.loads(x)["key"] for x in lines)
        print(f"{args.sessions} sessions x {args.minutes:g} min over "
              f"{len(existing_pages())} pages and {args.servers} server process"
              f"{'es' * (args.servers > 1)} ({time.time() - t0:.0f} s wall): "
              f"{stats['kinds']['protocol']} over the protocol, {stats['kinds']['browser']} in "
              f"Chromium")
        report("protocol sessions (the server's round trip: action -> last delta)",
               stats["protocol"])
        report("browser sessions (action -> repainted, browsers on this machine)",
               stats["browser"])
        print(f"errors: {len(stats['errors'])} (target 0)" +
              "".join(f"\n  {e}" for e in stats["errors"][:10]))
        print(f"Train clicks: {stats['train_clicks']}; trainings started: {sum(keys.values())} "
              f"for {len(keys)} distinct configs; trained more than once: "
              f"{sum(1 for v in keys.values() if v > 1)} (target 0)")
        print(f"peak RSS: server {rss['server']:.0f} MB (target <= 1500 MB)"
              + (f", all {args.servers} servers together {rss['servers']:.0f} MB"
                 if args.servers > 1 else "")
              + f", workers together {rss['workers']:.0f} MB")
        c, wall = stats["cpu"], time.time() - t0
        moves = sum(len(g["latency"]) + g["timeouts"] for g in (stats["browser"],
                                                                 stats["protocol"]))
        print(f"CPU seconds over the test ({os.cpu_count()} cores x {wall:.0f} s wall): server "
              f"{c['server']:.0f}, training workers {c['workers']:.0f}, browser {c['browser']:.0f}, "
              f"protocol clients (this process) {c['clients']:.0f}"
              + (f"; server CPU per slider move {1000 * c['server'] / moves:.0f} ms (page "
                 f"loads and live views included)" if moves else "")
              + f"; live-view polls {stats['auto_reruns']}")
    finally:
        for proc, _, log in servers:
            proc.terminate()
        for proc, _, log in servers:
            proc.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main()
