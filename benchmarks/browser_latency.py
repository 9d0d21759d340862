"""Browser benchmark: first page load and slider -> repainted page, per page, in headless
Chromium (Debian's, driven by Playwright).

A slider step is timed in the page itself: from just before the key press until the rerun's
counter (an element the app emits at the end of every script run, and each fragment at the
end of its own rerun, when LATENT_LAB_BENCH is set, as the server this script starts does)
has changed, the script is idle, no element is
still waiting for its lazily loaded component, and two animation frames have passed (the
browser has painted). Medians and 95th percentiles over repeated steps; a step that never
finishes within 15 s is counted as a failure. A key press that cannot move the slider (it is
at its end) is not a step: it is cancelled at once, not counted, and the direction flips.

A page load is timed from the navigation until the same counter exists (the first script
run has reached its end: before that, the script state "notRunning" is also what a page that
has not started shows), the script is idle, no element is a skeleton and two frames have
painted. "load" is the median of three loads in one browser context; "cold" the median of
--colds first visits (default 3), each in a new browser context (nothing cached in the browser
yet), the last of them the first of those three loads. One first visit alone varied by 0.1-0.3 s
from run to run.

    python benchmarks/browser_latency.py                       # every page, own server
    python benchmarks/browser_latency.py --pages vae gan --steps 30 --slider "β (weight"
    LATENT_LAB_BENCH=1 streamlit run dashboard/app.py &  # then:
    python benchmarks/browser_latency.py --url http://localhost:8501 --query "reveal=true"
    python benchmarks/browser_latency.py --pages home gan --during-training \
        --query "seed=99" --slider "Generated points shown"

--during-training clicks the page's Train button after the loads and times the slider steps
while that run trains (the page's live view polling beside them), then cancels the run. It
also counts how often the live view redrew meanwhile (distinct steps shown by the run's
progress bar per second). Pages without a Train button are measured as usual, so "home" in
the same call gives the bare-slider baseline on the machine as loaded at that moment.
The run must report progress faster than the page can redraw, or the count measures the
trainer: a run reports progress 200 times in all (models.train.PROGRESS_EVENTS). The default
lab (5,000 steps; "seed=99" only picks a run that is not cached) reports every 25 steps and
trains for ~20 s beside the page; with steps=20000 it reports every 100 steps, about 2.4
times a second while the page and browser share the 2 cores with it, and the count is that.

Every call first times benchmarks/bare_app.py (one slider in a fragment, nothing else) on
its own server the same way: the "baseline" row, what Streamlit itself costs per step on the
machine as it is loaded at that moment, and the column "x base", each page's p50 over it.
Figures on this 2-core machine drift by tens of per cent between runs; the ratio much less.
--no-baseline skips it.

--react counts, per slider step, React's commits, the components they rendered in all, and
the components of the step's largest commit (a minimal React DevTools hook in the page; the
counting itself costs time, so its timings are not comparable with a run without it). A
commit that follows a rerun's deltas re-renders the wrappers of every element on the page and
the whole fragment that reran (Streamlit gives each element of a rerun a new node), and a step
makes three to five such commits (the rerun starting, the deltas arriving in one to three
batches, the run finishing): a step's browser work grows with the elements on the page. The
largest commit depends on the page alone; the number of commits, and so the total, on how the
deltas happened to be batched (two runs of the same code: 1,743 and 3,622 components a step
on the latent-space page, in 6 and 7 commits).

Targets (issue 4): slider -> repaint p50 <= 150 ms, p95 <= 300 ms; first load <= 2 s.
Use a warm cache (python -m models prewarm) so pages show trained models.
"""

from __future__ import annotations

import argparse
import re
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.nav import existing_pages  # noqa: E402

# The slider each page is timed with unless --slider is given (a substring of its label): the
# page's main exploration slider. Pages not listed: their first slider.
PAGE_SLIDERS = {
    "": "Noise",
    "latent-variable-models": "Observed x",
    "autoencoder": "Replay training",
    "vae": "Replay training",
    "gan": "Replay training",
    "latent-representation": "z₁",
    "latent-distribution": "Input (held-out index)",
    "latent-space": "Interpolation position",
}

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # reported by main() when it imports playwright
    PlaywrightTimeout = TimeoutError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

ARM = """() => {
  const marker = () => { const m = [...document.querySelectorAll('.bench-run')];
                         return m.length ? Math.max(...m.map(e => +e.dataset.run)) : null; };
  const before = marker();
  window.__latCancel = false;  // set when the key press changed nothing (a slider's end)
  window.__lat = new Promise(resolve => {
    const t0 = performance.now();
    const tick = () => {
      const now = marker();
      const state = document.querySelector('[data-test-script-state]')
                            .getAttribute('data-test-script-state');
      if (now !== null && now !== before && state === 'notRunning'
          && !document.querySelector('[data-testid=stSkeleton]')) {
        requestAnimationFrame(() => requestAnimationFrame(
            () => resolve(performance.now() - t0)));
      } else if (window.__latCancel) { resolve(-2); }
      else if (performance.now() - t0 > 15000) { resolve(-1); }
      else { requestAnimationFrame(tick); }
    };
    requestAnimationFrame(tick);
  });
}"""


# React calls a DevTools hook, when the page has one, after every commit with the fiber tree.
# A component rendered in this commit is a fiber React worked on (not the same object as in the
# previous commit's tree: a bailed-out subtree keeps its old fibers) that performed work (flag 1).
REACT_HOOK = """
window.__commits = [];
window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
  supportsFiber: true, renderers: new Map(), isDisabled: false,
  inject(r) { const id = this.renderers.size + 1; this.renderers.set(id, r); return id; },
  checkDCE() {}, onScheduleFiberRoot() {}, onPostCommitFiberRoot() {}, setStrictMode() {},
  onCommitFiberUnmount() {},
  onCommitFiberRoot(id, root) {
    const prev = window.__fibers || new WeakSet(), seen = new WeakSet();
    let rendered = 0;
    const walk = (f) => { for (; f; f = f.sibling) {
      seen.add(f);
      if (!prev.has(f) && (f.flags & 1) && typeof f.type !== 'string') rendered++;
      walk(f.child);
    } };
    walk(root.current.child);
    window.__fibers = seen;
    window.__commits.push(rendered);
  },
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, cache: str | None, app: Path = ROOT / "dashboard" / "app.py"
                 ) -> subprocess.Popen:
    env = dict(os.environ, LATENT_LAB_BENCH="1")  # the app then emits a run counter
    if cache:
        env["LATENT_LAB_CACHE"] = cache
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app),
                             "--server.port", str(port), "--server.headless", "true"],
                            cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


DRAWN = """() => {
  const s = document.querySelector('[data-test-script-state]');
  return !!document.querySelector('.bench-run') && !!s
      && s.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid=stSkeleton]');
}"""
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def wait_drawn(pg, timeout: float = 60_000) -> None:
    """Until the page's script run has finished and the browser has painted its result."""
    pg.wait_for_function(DRAWN, timeout=timeout)
    pg.evaluate(PAINTED)


def wait_idle(pg):
    wait_drawn(pg)
    pg.wait_for_timeout(300)  # a rerun that starts a moment later is waited for too
    wait_drawn(pg)


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


WATCH_STEPS = """() => { window.__steps = []; window.__watch = setInterval(() => {
    const p = document.querySelector('[data-testid=stProgress]');
    const m = p && p.innerText.match(/step ([\\d,]+)/);
    const s = window.__steps;
    if (m && (s.length === 0 || s[s.length - 1][1] !== m[1])) s.push([performance.now(), m[1]]);
  }, 20); }"""


START = re.compile(r"(^|\s)(Train|Play)$")  # the run panel's start button; the GAN lab's Play
STOP = re.compile(r"(^|\s)(Cancel|Reset)$")


def start_training(pg) -> bool:
    """Click the page's Train button (Play on the GAN lab) and wait until its run shows
    progress."""
    button = pg.get_by_role("button", name=START)
    if button.count() == 0:
        return False
    button.click()
    pg.locator("[data-testid=stProgress]").first.wait_for(timeout=300_000)
    pg.wait_for_function("() => /step [1-9]/.test(document.querySelector("
                         "'[data-testid=stProgress]')?.innerText || '')", timeout=300_000)
    pg.evaluate(WATCH_STEPS)
    return True


def redraw_rate(pg) -> tuple[float, bool]:
    """Distinct steps the live view showed per second since start_training, and whether the
    run was still training at the end (else the window was cut short)."""
    steps = pg.evaluate("window.__steps || []")
    still = pg.locator("[data-testid=stProgress]").count() > 0
    if len(steps) < 2:
        return 0.0, still
    return (len(steps) - 1) / ((steps[-1][0] - steps[0][0]) / 1000), still


def cold_load(browser, url: str) -> float:
    """One first visit: a new browser context (nothing cached), load until drawn."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 950})
    pg = ctx.new_page()
    t0 = time.perf_counter()
    pg.goto(url)
    wait_drawn(pg)
    seconds = time.perf_counter() - t0
    ctx.close()
    return seconds


def measure_page(browser, base: str, url_path: str, steps: int, slider_label: str | None,
                 query: str, during_training: bool = False, react: bool = False,
                 colds: int = 1) -> dict:
    url = f"{base}/{url_path}" + (f"?{query}" if query else "")
    cold = [cold_load(browser, url) for _ in range(colds - 1)]
    ctx = browser.new_context(viewport={"width": 1400, "height": 950})
    if react:
        ctx.add_init_script(REACT_HOOK)
    pg = ctx.new_page()
    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        pg.goto(url)
        wait_drawn(pg)
        loads.append(time.perf_counter() - t0)
        wait_idle(pg)
    cold.append(loads[0])
    base_out = {"page": url_path or "/", "load": statistics.median(loads),
                "cold": statistics.median(cold), "colds": cold}
    sliders = pg.locator("[data-testid=stSlider]")
    if slider_label:
        sliders = sliders.filter(has_text=slider_label)
    if sliders.count() == 0:
        ctx.close()
        return {**base_out, "steps": []}
    training = during_training and start_training(pg)
    box = sliders.first.locator("input[type=range]")
    times, skipped, right = [], 0, True
    commits, rendered, largest = [], [], []
    while len(times) < steps and skipped < 2 * steps:
        if len(times) % 3 == 0 and len(times):  # three steps one way, three the other
            right = (len(times) // 3) % 2 == 0
        box.focus()
        before = box.input_value()
        value, lo, hi = (float(v) for v in (before, box.get_attribute("min"),
                                            box.get_attribute("max")))
        if (right and value >= hi) or (not right and value <= lo):
            right = not right  # at its end: turn round before pressing
        pg.evaluate(ARM)
        if react:
            pg.evaluate("window.__commits = []")
        pg.keyboard.press("ArrowRight" if right else "ArrowLeft")
        try:  # the input changes at once when the press moved the slider
            pg.wait_for_function("([el, b]) => el.value !== b",
                                 arg=[box.element_handle(), before], timeout=1000)
        except PlaywrightTimeout:  # it did not move (disabled?): nothing to time
            pg.evaluate("window.__latCancel = true")
            pg.evaluate("window.__lat")
            skipped += 1
            right = not right
            continue
        ms = pg.evaluate("window.__lat")
        times.append(ms if ms >= 0 else float("inf"))
        wait_idle(pg)
        if react:  # the step's commits, up to its idle page (wait_idle)
            counts = pg.evaluate("window.__commits")
            commits.append(len(counts))
            rendered.append(sum(counts))
            largest.append(max(counts, default=0))
    label = sliders.first.locator("[data-testid=stWidgetLabel]").inner_text()
    out = {**base_out, "slider": label, "steps": times}
    if react and commits:
        out["commits"], out["rendered"] = statistics.median(commits), statistics.median(rendered)
        out["largest"] = statistics.median(largest)
    if training:
        out["redraws"], out["still_training"] = redraw_rate(pg)
        cancel = pg.get_by_role("button", name=STOP)
        if cancel.count():
            cancel.first.click()
            wait_idle(pg)
    ctx.close()
    return out


def react_counts(r: dict) -> str:
    """The medians of --react's counts, when it counted them."""
    if "commits" not in r:
        return ""
    return (f"  react: {r['commits']:g} commits, {r['rendered']:,.0f} components a step, "
            f"{r['largest']:,.0f} in its largest commit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running server started with LATENT_LAB_BENCH=1 "
                    "(default: start one)")
    ap.add_argument("--cache", help="LATENT_LAB_CACHE for the server this script starts")
    ap.add_argument("--pages", nargs="*", help="URL paths (home for /); default: all")
    ap.add_argument("--steps", type=int, default=20, help="slider steps per page")
    ap.add_argument("--slider", help="time the slider whose label contains this text "
                    "(default: the page's entry in PAGE_SLIDERS, else its first slider)")
    ap.add_argument("--query", default="", help="query string to open the pages with")
    ap.add_argument("--during-training", action="store_true",
                    help="time the slider while a run started with the page's Train button "
                         "trains (then cancel it); report the live view's redraws per second")
    ap.add_argument("--react", action="store_true",
                    help="also count React commits and components rendered per step")
    ap.add_argument("--colds", type=int, default=3,
                    help="first visits per page, each in a new browser context; "
                         "'cold s' is their median")
    ap.add_argument("--no-baseline", action="store_true",
                    help="do not time benchmarks/bare_app.py first")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    proc = None
    base = args.url
    if not base:
        port = free_port()
        proc = start_server(port, args.cache)
        base = f"http://127.0.0.1:{port}"
    wanted = [("" if p == "home" else p) for p in args.pages] if args.pages else None
    pages = [p.url_path for p in existing_pages() if wanted is None or p.url_path in wanted]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            print(f"{'page':24s} {'slider':28s} {'cold s':>7s} {'load s':>7s} {'p50 ms':>7s} "
                  f"{'p95 ms':>7s} {'x base':>6s} {'n':>3s}")
            base_p50 = None
            if not args.no_baseline:
                bare_port = free_port()
                bare = start_server(bare_port, None, ROOT / "benchmarks" / "bare_app.py")
                try:
                    r = measure_page(browser, f"http://127.0.0.1:{bare_port}", "", args.steps,
                                     "Noise", "", react=args.react, colds=args.colds)
                finally:
                    bare.terminate()
                base_p50 = statistics.median(r["steps"])
                print(f"{'baseline':24s} {'(benchmarks/bare_app.py)':28s} {r['cold']:7.2f} "
                      f"{r['load']:7.2f} {base_p50:7.0f} {pct(r['steps'], 0.95):7.0f} "
                      f"{1:6.2f} {len(r['steps']):3d}{react_counts(r)}", flush=True)
            for path in pages:
                r = measure_page(browser, base, path, args.steps,
                                 args.slider or PAGE_SLIDERS.get(path), args.query,
                                 args.during_training, args.react, args.colds)
                st = r["steps"]
                p50 = f"{statistics.median(st):7.0f}" if st else "      -"
                p95 = f"{pct(st, 0.95):7.0f}" if st else "      -"
                ratio = (f"{statistics.median(st) / base_p50:6.2f}" if st and base_p50
                         else "     -")
                extra = ""
                if "redraws" in r:
                    extra = (f"  while training: {r['redraws']:.2f} redraws/s"
                             + ("" if r["still_training"] else " (the run ended first)"))
                print(f"{r['page']:24s} {r.get('slider', '-')[:28]:28s} {r['cold']:7.2f} "
                      f"{r['load']:7.2f} {p50} {p95} {ratio} {len(st):3d}{extra}"
                      f"{react_counts(r)}", flush=True)
            browser.close()
    finally:
        if proc:
            proc.terminate()


if __name__ == "__main__":
    main()
