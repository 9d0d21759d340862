"""Cached background runs: training outside the web server, shared, persistent and safe.

- ``RunCache``: finished runs on disk, one directory per run, keyed by a hash of the canonical
  config plus the model-code version. Entries are written to a temporary directory and renamed
  into place (atomic), carry SHA-256 checksums of their files (a damaged entry is detected,
  discarded and retrained, never loaded), and hold weights as safetensors (no pickled code).
  A size cap evicts the least recently used entries.
- ``RunManager``: one per server process. ``submit(config)`` returns a ``RunHandle`` at once;
  identical configs share one run across sessions (a dict) and across processes sharing the
  cache directory (a file lock per key). Runs execute in a bounded pool of worker processes
  (spawned, niced, with a set number of torch threads); a worker that crashes, hangs past the
  time limit or diverges fails its run with a reason, and everything else carries on.
  A run on this process's workers can be paused, resumed and stepped (``RunHandle.pause`` /
  ``resume`` / ``step``), for everyone who watches it: the worker holds the training between
  two events and sends heartbeats. Paused time counts neither toward the time limit nor as
  training time, and a run paused for DEFAULT_PAUSE_LIMIT seconds in all (5 minutes;
  ``LATENT_LAB_PAUSE_LIMIT`` changes it) plays on to the end by itself, into the cache, so a
  forgotten pause never holds a worker for good.
- ``train_through_cache`` / ``load_or_train``: the same cache for the command line, training
  in the calling process.

Why processes, not threads: a training thread inside the Streamlit server doubled a slider's
round trip (~90 -> ~200 ms); a separate process left it at ~95 ms (../shared/GUIDE.md, 2).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing import Pipe
from multiprocessing.connection import Client, Listener
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

CACHE_ENV = "LATENT_LAB_CACHE"
CACHE_MAX_MB_ENV = "LATENT_LAB_CACHE_MAX_MB"
WORKERS_ENV = "LATENT_LAB_WORKERS"
RUN_TIMEOUT_ENV = "LATENT_LAB_RUN_TIMEOUT"
DEFAULT_CACHE_MAX_MB = 2048
DEFAULT_RUN_TIMEOUT = 900.0  # seconds a run may take before its worker is stopped
STALL_TIMEOUT = 120.0  # seconds without any event from a busy worker
PAUSE_LIMIT_ENV = "LATENT_LAB_PAUSE_LIMIT"
DEFAULT_PAUSE_LIMIT = 300.0  # seconds a run may stay paused in all; then it plays to the end
HEARTBEAT_INTERVAL = 1.0  # seconds between "still here" messages from a paused worker
WORKER_CONNECT_TIMEOUT = 30.0  # seconds for a new worker process to connect back
WORKER_NICE = 10  # workers yield the CPU to the web server
PROGRESS_INTERVAL = 0.1  # seconds between progress messages from a worker
LIVE_INTERVAL = 0.5  # seconds between live-progress files for other processes
MODEL_FILES = ("datasets.py", "priors.py", "nets.py", "autoencoder.py", "vae.py", "gan.py",
               "metrics.py", "train.py")
ENTRY_FILES = ("config.json", "weights.safetensors", "history.json", "snapshots.npz")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)


class CorruptEntry(Exception):
    """A cache entry that failed its checks."""


# --- keys ---------------------------------------------------------------------------------

def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


_VERSION: str | None = None
# Computed once per process, under a lock: the web server's first visitors ask for it from
# several script threads at once, and CPython 3.11's ast.parse is not safe to run in
# concurrent threads (it failed a page with "SystemError: AST constructor recursion depth
# mismatch" in benchmarks/load_test.py; CPython issue gh-106905 describes the same error in
# threaded programs).
_VERSION_LOCK = threading.Lock()


def model_version() -> str:
    """A hash of the model code's syntax tree (comments, docstrings and layout excluded), so
    a changed model never serves stale weights while a reworded comment keeps the cache."""
    global _VERSION
    if _VERSION is None:
        with _VERSION_LOCK:
            if _VERSION is None:
                h = hashlib.sha256()
                here = Path(__file__).resolve().parent
                for name in MODEL_FILES:
                    tree = _strip_docstrings(ast.parse((here / name).read_text()))
                    h.update(name.encode() + ast.dump(tree).encode())
                _VERSION = h.hexdigest()[:16]
    return _VERSION


def canonical(config) -> str:
    from .train import config_to_dict
    return json.dumps(config_to_dict(config), sort_keys=True, separators=(",", ":"))


def run_key(config) -> str:
    """The cache key: the canonical config plus the model-code version."""
    payload = json.dumps({"config": canonical(config), "version": model_version()})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "latent-lab" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "latent-lab"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "latent-lab"


# --- the on-disk cache ----------------------------------------------------------------------

@dataclass
class RunResult:
    """A finished run, loaded from the cache."""

    key: str
    config: Any
    model: Any  # torch.nn.Module, in eval mode
    history: list[dict[str, float]]
    snapshots: list[dict[str, np.ndarray]]  # each has "step"
    metrics: dict[str, float]
    seconds: float
    cached: bool = True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class RunCache:
    """Finished runs on disk: ``<root>/runs/<key>/`` with a meta.json listing checksums."""

    def __init__(self, root: Path | str | None = None, max_bytes: int | None = None):
        self.root = Path(root) if root else default_cache_dir()
        if max_bytes is None:
            max_bytes = int(float(os.environ.get(CACHE_MAX_MB_ENV, DEFAULT_CACHE_MAX_MB)) * 2**20)
        self.max_bytes = max_bytes
        for sub in ("runs", "locks", "live", "tmp", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._verified: dict[str, float] = {}  # key -> meta mtime when verified

    def entry(self, key: str) -> Path:
        return self.root / "runs" / key

    def lock(self, key: str):
        from filelock import FileLock
        return FileLock(str(self.root / "locks" / f"{key}.lock"), thread_local=False)

    def has(self, key: str) -> bool:
        return (self.entry(key) / "meta.json").is_file()

    # writing
    def write(self, key: str, config, model, history, snapshots, metrics, seconds) -> Path:
        """Write an entry atomically: build it in tmp/, then rename it into runs/."""
        from safetensors.torch import save_file
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=self.root / "tmp"))
        try:
            (tmp / "config.json").write_text(canonical(config))
            state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / "weights.safetensors"))
            (tmp / "history.json").write_text(json.dumps(history))
            arrays = {"steps": np.array([s["step"] for s in snapshots], dtype=np.int64)}
            for i, snap in enumerate(snapshots):
                for name, value in snap.items():
                    if name != "step":
                        arrays[f"{i:03d}/{name}"] = np.asarray(value)
            with open(tmp / "snapshots.npz", "wb") as f:
                np.savez(f, **arrays)
            meta = {"key": key, "version": model_version(), "kind": config.kind,
                    "created": time.time(), "seconds": seconds, "metrics": metrics,
                    "files": {name: _sha256(tmp / name) for name in ENTRY_FILES}}
            (tmp / "meta.json").write_text(json.dumps(meta))  # last: marks the entry complete
            dest = self.entry(key)
            if dest.exists() and not self._intact(key):  # a damaged or incomplete directory
                self.discard(key)  # (e.g. no meta.json): ours replaces it, or it never heals
            try:
                os.replace(tmp, dest)
            except OSError:  # another writer finished first (a sound entry); theirs is as good
                if not dest.exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.evict(keep={key})
        return self.entry(key)

    def _intact(self, key: str) -> bool:
        try:
            self.verify(key)
            return True
        except CorruptEntry:
            return False

    # reading
    def meta(self, key: str) -> dict:
        try:
            meta = json.loads((self.entry(key) / "meta.json").read_text())
        except (OSError, ValueError) as e:
            raise CorruptEntry(f"unreadable meta.json ({e})") from e
        if not isinstance(meta, dict) or meta.get("key") != key or "files" not in meta:
            raise CorruptEntry("meta.json does not describe this entry")
        return meta

    def verify(self, key: str) -> dict:
        """Check every file against its checksum; raises CorruptEntry."""
        path = self.entry(key)
        meta = self.meta(key)
        if meta.get("version") != model_version():
            raise CorruptEntry("written by another version of the model code")
        mtime = (path / "meta.json").stat().st_mtime
        if self._verified.get(key) == mtime:
            return meta
        for name in ENTRY_FILES:
            f = path / name
            if not f.is_file():
                raise CorruptEntry(f"{name} is missing")
            if _sha256(f) != meta["files"].get(name):
                raise CorruptEntry(f"{name} does not match its checksum")
        self._verified[key] = mtime
        return meta

    def load(self, key: str) -> RunResult:
        """Load and check an entry; raises CorruptEntry (never loads a damaged one)."""
        from safetensors.torch import load_file
        from .train import build_model, config_from_dict
        meta = self.verify(key)
        path = self.entry(key)
        try:
            config = config_from_dict(json.loads((path / "config.json").read_text()))
            model = build_model(config)
            model.load_state_dict(load_file(str(path / "weights.safetensors")))
            model.eval()
            history = json.loads((path / "history.json").read_text())
            with np.load(path / "snapshots.npz") as z:
                steps = z["steps"]
                snaps: list[dict[str, Any]] = [{"step": int(s)} for s in steps]
                for name in z.files:
                    if name != "steps":
                        i, field_ = name.split("/", 1)
                        snaps[int(i)][field_] = z[name]
        except CorruptEntry:
            raise
        except Exception as e:  # anything odd inside a checksummed entry: treat as damaged
            raise CorruptEntry(f"{type(e).__name__}: {e}") from e
        self.touch(key)
        return RunResult(key, config, model, history, snaps, meta["metrics"], meta["seconds"])

    def touch(self, key: str) -> None:
        try:
            os.utime(self.entry(key) / "config.json")  # last use = this file's mtime
        except OSError:
            pass

    def discard(self, key: str) -> None:
        """Remove an entry (rename first, so no reader sees half of it)."""
        src = self.entry(key)
        if src.exists():
            trash = self.root / "tmp" / f"discard-{key}-{uuid.uuid4().hex[:8]}"
            try:
                os.replace(src, trash)
            except OSError:
                return
            shutil.rmtree(trash, ignore_errors=True)
        self._verified.pop(key, None)

    # housekeeping
    def entries(self) -> list[dict]:
        out = []
        for path in (self.root / "runs").iterdir():
            try:
                meta = json.loads((path / "meta.json").read_text())
                config = json.loads((path / "config.json").read_text())
                used = (path / "config.json").stat().st_mtime
            except (OSError, ValueError):
                meta, config, used = {}, {}, path.stat().st_mtime
            out.append({"key": path.name, "bytes": _tree_size(path), "last_used": used,
                        "kind": config.get("kind", "?"), "dataset": config.get("dataset", "?"),
                        "seconds": meta.get("seconds"), "current": meta.get("version")
                        == model_version()})
        return sorted(out, key=lambda e: e["last_used"], reverse=True)

    def size(self) -> int:
        return _tree_size(self.root / "runs")

    def evict(self, keep: set[str] = frozenset()) -> list[str]:
        """Remove entries written by older model code (no key reaches them any more), then
        the least recently used ones until the cache fits its cap."""
        entries = self.entries()
        total = sum(e["bytes"] for e in entries)
        removed = []
        stale_first = sorted(reversed(entries), key=lambda e: e["current"])  # stable sort
        for e in stale_first:  # entries of older model code (unreachable), then oldest use
            if total <= self.max_bytes and e["current"]:
                break
            if e["key"] in keep:
                continue
            self.discard(e["key"])
            total -= e["bytes"]
            removed.append(e["key"])
        return removed

    def clear(self) -> int:
        n = 0
        for path in list((self.root / "runs").iterdir()):
            self.discard(path.name)
            n += 1
        for sub in ("live", "tmp"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
            (self.root / sub).mkdir(exist_ok=True)
        return n

    # live progress, for processes that wait on a run another process trains
    def write_live(self, key: str, state: dict) -> None:
        tmp = self.root / "live" / f".{key}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.root / "live" / f"{key}.json")
        except OSError:
            pass

    def read_live(self, key: str) -> dict | None:
        try:
            return json.loads((self.root / "live" / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def clear_live(self, key: str) -> None:
        try:
            (self.root / "live" / f"{key}.json").unlink()
        except OSError:
            pass

    def log_training(self, key: str, config) -> None:
        """Append one line per training started (tests and benchmarks count them)."""
        with open(self.root / "log" / "trainings.jsonl", "a") as f:
            f.write(json.dumps({"key": key, "pid": os.getpid(), "time": time.time(),
                                "kind": config.kind}) + "\n")

    def trainings(self) -> list[dict]:
        try:
            lines = (self.root / "log" / "trainings.jsonl").read_text().splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


def _train_into_cache(cache: RunCache, key: str, config, threads: int | None,
                      paused: Callable[[], float] | None = None) -> Iterator:
    """Train config in this process, yielding its events; the entry is written to the cache
    before the "done" event is yielded. Closing the generator early writes nothing.
    paused() gives the seconds the consumer has so far held the run paused: they are taken
    off the run's clock (the events' seconds and the history's), so a pause never shows up
    as training time."""
    from .train import train
    cache.log_training(key, config)
    snapshots: list[dict] = []
    for ev in train(config, threads):
        off = paused() if paused is not None else 0.0
        if off:
            ev.seconds = max(0.0, ev.seconds - off)
            if ev.type == "eval" and "seconds" in ev.metrics:  # the dict is also the history's
                ev.metrics["seconds"] = max(0.0, ev.metrics["seconds"] - off)
        if ev.snapshot is not None and ev.keep:
            snapshots.append({"step": ev.step, **ev.snapshot})
        if ev.type == "done":
            cache.write(key, config, ev.model, ev.history, snapshots, ev.metrics, ev.seconds)
        yield ev


# --- worker processes -----------------------------------------------------------------------

class _Controls:
    """What a worker is told while it trains, read between training events: "cancel",
    "pause", "resume", and ("step", target): train on to the first event at or past step
    `target`, then pause. A paused worker sits between two events (the training generator
    is simply not advanced, so the run continues exactly as it would have) and sends a
    heartbeat every HEARTBEAT_INTERVAL, so the manager can tell paused from hung."""

    def __init__(self, conn):
        self.conn = conn
        self.cancelled = self.stopped = self.pause = False
        self.target: int | None = None
        self.paused_seconds = 0.0  # in all, for this run

    def read(self, timeout: float = 0.0) -> bool:
        """Apply every waiting message (waiting up to timeout for the first); True if any."""
        if not self.conn.poll(timeout):
            return False
        while True:
            msg = self.conn.recv()
            kind = msg[0]
            if kind in ("cancel", "stop"):
                self.cancelled = True
                self.stopped = self.stopped or kind == "stop"
            elif kind == "pause":
                self.pause, self.target = True, None
            elif kind == "resume":
                self.pause, self.target = False, None
            elif kind == "step":
                self.pause, self.target = False, int(msg[1])
            if not self.conn.poll():
                return True

    def hold(self, key: str) -> None:
        """Stay paused until resumed, stepped or cancelled."""
        start = time.monotonic()
        self.conn.send(("paused", key, True))
        while self.pause and not self.cancelled:
            if not self.read(HEARTBEAT_INTERVAL):
                self.conn.send(("heartbeat", key))
        self.paused_seconds += time.monotonic() - start
        if not self.cancelled:
            self.conn.send(("paused", key, False))


def _worker_main(conn, threads: int, cache_root: str, max_bytes: int) -> None:
    """A worker: warm up, then train the jobs it is sent, streaming events back over conn."""
    try:
        os.nice(WORKER_NICE)
    except (AttributeError, OSError):
        pass
    import torch
    torch.set_num_threads(threads)
    from . import datasets
    from .priors import PriorMismatch
    from .train import ConfigError, Diverged, config_from_dict
    cache = RunCache(cache_root, max_bytes)
    for name in ("digits", "ring8"):  # warm the common data sets
        datasets.load(name)
    try:
        conn.send(("ready",))
    except OSError:  # the manager went away while this worker started: nothing to do
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        if msg[0] != "job":
            continue
        _, key, config_dict = msg
        last, cpu0, ctl = 0.0, time.process_time(), _Controls(conn)
        try:
            config = config_from_dict(config_dict)
            for ev in _train_into_cache(cache, key, config, threads,
                                        paused=lambda: ctl.paused_seconds):
                ctl.read()
                if ctl.cancelled:
                    break
                if ctl.target is not None and ev.step >= ctl.target:
                    ctl.pause, ctl.target = True, None  # a step ends here
                pause_here = ctl.pause and ev.type != "done"
                now = time.perf_counter()
                if ev.type != "progress" or pause_here or now - last >= PROGRESS_INTERVAL:
                    last = now
                    conn.send(("event", key, ev.type, ev.step, ev.total_steps, ev.epoch,
                               ev.metrics, ev.snapshot, ev.keep, ev.seconds,
                               time.process_time() - cpu0))
                if pause_here:
                    ctl.hold(key)
                    if ctl.cancelled:
                        break
            conn.send(("finished", key, CANCELLED if ctl.cancelled else DONE, None))
            if ctl.stopped:
                return
        except (EOFError, ConnectionError):
            return  # the manager is gone (its server stopped): no one to report to
        except (Diverged, PriorMismatch, ConfigError) as e:
            conn.send(("finished", key, FAILED, str(e)))
        except Exception as e:  # noqa: BLE001 - reported to the page, logged here
            traceback.print_exc()
            conn.send(("finished", key, FAILED, f"Training failed: {type(e).__name__}: {e}"))


@dataclass
class _Worker:
    process: Any  # subprocess.Popen
    conn: Any  # multiprocessing.connection.Connection
    ready: bool = False
    run: "_Run | None" = None
    started: float = 0.0
    last_event: float = 0.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.conn.close()
        except OSError:
            pass


def _spawn_worker(threads: int, cache: RunCache) -> _Worker:
    """Start `python -m models.runs --worker` and accept its connection back. A plain
    subprocess (not multiprocessing's spawn) so the worker never re-imports the host's main
    script -- Streamlit's, a test runner's or anyone else's."""
    key = os.urandom(16)
    listener = Listener(family="AF_UNIX" if hasattr(socket, "AF_UNIX") else None, authkey=key)
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "LATENT_LAB_WORKER_KEY": key.hex(),
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(
               os.pathsep)}
    proc = subprocess.Popen([sys.executable, "-m", "models.runs", "--worker",
                             str(listener.address), str(threads), str(cache.root),
                             str(cache.max_bytes)], env=env, cwd=root,
                            stdin=subprocess.DEVNULL)
    accepted: list = []
    t = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    t.start()
    t.join(WORKER_CONNECT_TIMEOUT)
    listener.close()
    if not accepted:
        proc.kill()
        raise RuntimeError("a training worker did not start")
    return _Worker(proc, accepted[0])


def _worker_entry(argv: list[str]) -> None:
    address, threads, cache_root, max_bytes = argv
    conn = Client(address, family="AF_UNIX" if hasattr(socket, "AF_UNIX") else None,
                  authkey=bytes.fromhex(os.environ.pop("LATENT_LAB_WORKER_KEY")))
    _worker_main(conn, int(threads), cache_root, int(max_bytes))


# --- runs and handles ---------------------------------------------------------------------

@dataclass
class _Run:
    key: str
    config: Any
    status: str = QUEUED
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    metrics: dict = field(default_factory=dict)  # latest progress metrics
    history: list = field(default_factory=list)  # eval metrics so far
    snapshots: list = field(default_factory=list)  # snapshots kept so far (for the replay)
    latest: dict | None = None  # the newest snapshot, kept or not (for watching live)
    error: str | None = None
    notice: str | None = None
    cached: bool = False
    elsewhere: bool = False  # another process holds the lock and trains it
    subscribers: set = field(default_factory=set)
    lock: Any = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    worker_cpu: float = 0.0
    version: int = 0  # bumped on every change, so pages can skip redraws
    # pausing (runs on this process's workers only)
    paused: bool = False  # the worker says it holds the run paused
    wanted: Any = None  # the last request: "pause" | "resume" | ("step", target step) | None
    paused_since: float | None = None  # time.monotonic() when the current pause began
    paused_total: float = 0.0  # seconds spent paused in earlier pauses
    pause_spent: bool = False  # the pause limit was used up: the run plays to the end

    def paused_for(self, now: float) -> float:
        """Seconds spent paused so far, the current pause included."""
        return self.paused_total + (now - self.paused_since if self.paused_since else 0.0)


class RunHandle:
    """A session's view of a run: status, progress, history, snapshots, result, cancel, and
    pause / resume / step (shared: every handle to the run sees the same pause)."""

    def __init__(self, manager: "RunManager", run: _Run, token: str):
        self._manager, self._run, self.token = manager, run, token

    key = property(lambda self: self._run.key)
    config = property(lambda self: self._run.config)
    status = property(lambda self: self._run.status)
    step = property(lambda self: self._run.step)
    total_steps = property(lambda self: self._run.total_steps)
    epoch = property(lambda self: self._run.epoch)
    metrics = property(lambda self: dict(self._run.metrics))
    error = property(lambda self: self._run.error)
    notice = property(lambda self: self._run.notice)
    cached = property(lambda self: self._run.cached)
    elsewhere = property(lambda self: self._run.elsewhere)
    version = property(lambda self: self._run.version)

    @property
    def fraction(self) -> float:
        if self._run.status == DONE:
            return 1.0
        return self._run.step / self._run.total_steps if self._run.total_steps else 0.0

    @property
    def active(self) -> bool:
        return self._run.status in ACTIVE

    @property
    def history(self) -> list[dict]:
        if self._run.status == DONE:
            return self.result().history
        return list(self._run.history)

    @property
    def snapshots(self) -> list[dict]:
        if self._run.status == DONE:
            return self.result().snapshots
        return list(self._run.snapshots)

    @property
    def latest_snapshot(self) -> dict | None:
        if self._run.status != DONE and self._run.latest is not None:
            return self._run.latest
        snaps = self.snapshots
        return snaps[-1] if snaps else None

    @property
    def seconds(self) -> float:
        """Wall-clock seconds this run has trained so far (paused time excluded)."""
        r = self._run
        if r.started is None:
            return 0.0
        end = r.finished if r.finished is not None else time.time()
        return max(0.0, end - r.started - r.paused_for(time.monotonic()))

    @property
    def queue_position(self) -> int | None:
        return self._manager.queue_position(self._run)

    def result(self) -> RunResult:
        """The finished run (model, history, snapshots, metrics); raises if not done."""
        return self._manager.result(self._run)

    def cancel(self) -> None:
        """Stop watching; the run stops when no session watches it any more."""
        self._manager.release(self._run, self.token)

    def retry(self) -> "RunHandle":
        return self._manager.submit(self._run.config, retry=True, token=self.token)

    # pausing: shared by everyone who watches the run
    @property
    def paused(self) -> bool:
        """The worker holds the run paused (confirmed, not just asked for)."""
        return self._run.paused and self._run.status in ACTIVE

    @property
    def pausing(self) -> bool:
        """A pause was asked for and the worker has not confirmed it yet."""
        return self._run.wanted == "pause" and not self.paused and self.active

    @property
    def stepping_to(self) -> int | None:
        """The step a requested step_forward() trains to before it pauses, while it trains there."""
        w = self._run.wanted
        return w[1] if isinstance(w, tuple) and self.active else None

    def hold_state(self) -> tuple[bool, int | None]:
        """(held, stepping_to) read together under the manager's lock: held is paused or
        pausing. Read one after the other, a step that arrived in between (the manager sets
        paused, then turns the step into a pause) could show a paused run as playing."""
        with self._manager._mutex:
            return self.paused or self.pausing, self.stepping_to

    @property
    def can_pause(self) -> bool:
        """Pause / step / resume work: the run is queued or trains on this process's
        workers (not elsewhere) and has not used up its pause limit."""
        return self._manager.can_pause(self._run)

    @property
    def pause_left(self) -> float:
        """Seconds this run may still stay paused before it plays on by itself."""
        return self._manager.pause_left(self._run)

    @property
    def pause_spent(self) -> bool:
        return self._run.pause_spent

    def pause(self) -> bool:
        """Hold the run at its next training event (for everyone watching it). False if it
        cannot be paused (finished, trained by another process, or its pause time is up)."""
        return self._manager.control(self._run, "pause")

    def resume(self) -> bool:
        return self._manager.control(self._run, "resume")

    def step_forward(self, n: int) -> bool:
        """Train n more steps (to the first event at or past them), then pause. (Not
        `step`: that is the run's current step.)"""
        return self._manager.control(self._run, "step", n)


class RunManager:
    """Runs training in worker processes; identical configs share one run."""

    def __init__(self, cache: RunCache | None = None, workers: int | None = None,
                 threads: int = 1, run_timeout: float | None = None,
                 stall_timeout: float = STALL_TIMEOUT, results_in_memory: int = 12,
                 pause_limit: float | None = None):
        from .limits import current
        self.cache = cache or RunCache()
        self.limits = current()
        if workers is None:
            workers = int(os.environ.get(WORKERS_ENV, 0)) or self.limits.workers or \
                max(1, min(2, os.cpu_count() or 1))
            if self.limits.workers:  # a server's limits file has the last word
                workers = min(workers, self.limits.workers)
        self.n_workers, self.threads = max(1, workers), max(1, threads)
        self.run_timeout = float(os.environ.get(RUN_TIMEOUT_ENV, DEFAULT_RUN_TIMEOUT)
                                 if run_timeout is None else run_timeout)
        self.stall_timeout = stall_timeout
        self.pause_limit = float(os.environ.get(PAUSE_LIMIT_ENV, DEFAULT_PAUSE_LIMIT)
                                 if pause_limit is None else pause_limit)
        self._mutex = threading.RLock()
        self._runs: dict[str, _Run] = {}
        self._queue: list[_Run] = []
        self._workers: list[_Worker] = []
        self._results: dict[str, RunResult] = {}
        self._results_max = results_in_memory
        self._last_live = 0.0
        self._last_elsewhere = 0.0
        self._pending_notice: str | None = None  # told to the next run of a discarded entry
        self._stopped = threading.Event()
        self._wake_r, self._wake_w = Pipe(duplex=False)
        for _ in range(self.n_workers):
            self._workers.append(self._start_worker())
        self._thread = threading.Thread(target=self._monitor, name="latent-lab-runs",
                                        daemon=True)
        self._thread.start()

    # public API
    def submit(self, config, retry: bool = False, token: str | None = None) -> RunHandle:
        """A handle at once: a cached run is done, an identical active run is shared,
        anything else is queued. A failed run stays failed until retried. Raises
        ConfigError / PriorMismatch for a bad config, LimitExceeded beyond this server's
        limits (models/limits.py)."""
        from .train import validate
        validate(config)
        key = run_key(config)
        token = token or uuid.uuid4().hex
        with self._mutex:
            run = self._runs.get(key)
            if run is not None and (run.status in ACTIVE or run.status == DONE
                                    or (run.status == FAILED and not retry)):
                run.subscribers.add(token)
                return RunHandle(self, run, token)
            run = self._lookup_cache(key, config)
            if run is None:
                self.limits.check(config)  # only new trainings are limited, never cached runs
                run = _Run(key, config, notice=self._pending_notice)
                self._pending_notice = None
                self._runs[key] = run
                self._claim(run)
            run.subscribers.add(token)
            self._wake()
            return RunHandle(self, run, token)

    def peek(self, config) -> RunHandle | None:
        """A handle if the config is cached or has a run here; never starts training."""
        key = run_key(config)
        with self._mutex:
            run = self._runs.get(key) or self._lookup_cache(key, config)
            if run is None:
                return None
            token = uuid.uuid4().hex
            run.subscribers.add(token)
            return RunHandle(self, run, token)

    def queue_position(self, run: _Run) -> int | None:
        with self._mutex:
            return self._queue.index(run) + 1 if run in self._queue else None

    def active_runs(self) -> list[RunHandle]:
        with self._mutex:
            return [RunHandle(self, r, "") for r in self._runs.values() if r.status in ACTIVE]

    def result(self, run: _Run) -> RunResult:
        if run.status != DONE:
            raise RuntimeError(f"The run is {run.status}, not done.")
        with self._mutex:
            res = self._results.pop(run.key, None)
            if res is not None:
                self._results[run.key] = res  # most recently used last
                self.cache.touch(run.key)  # and on disk, for the cache's LRU eviction
                return res
        try:
            res = self.cache.load(run.key)
        except (CorruptEntry, FileNotFoundError) as e:
            with self._mutex:
                self.cache.discard(run.key)
                self._runs.pop(run.key, None)
                self._pending_notice = (f"A damaged cache entry was discarded ({e}); "
                                        "the run is being trained again.")
            handle = self.submit(run.config)
            raise CorruptEntry(handle.notice) from e
        res.cached = run.cached
        with self._mutex:
            self._results[run.key] = res
            while len(self._results) > self._results_max:
                self._results.pop(next(iter(self._results)))
        return res

    # pausing
    def can_pause(self, run: _Run) -> bool:
        with self._mutex:
            return run.status in ACTIVE and not run.elsewhere and not run.pause_spent

    def pause_left(self, run: _Run) -> float:
        with self._mutex:
            if run.pause_spent:
                return 0.0
            return max(0.0, self.pause_limit - run.paused_for(time.monotonic()))

    def control(self, run: _Run, action: str, n: int | None = None) -> bool:
        """Pause, resume or step a run (action "pause" | "resume" | "step"). A queued run
        gets the request when it starts. Returns False when the run cannot take it."""
        with self._mutex:
            if run.status not in ACTIVE or run.elsewhere:
                return False
            if action == "resume":
                wanted, msg = "resume", ("resume",)
            elif run.pause_spent:
                return False
            elif action == "pause":
                wanted, msg = "pause", ("pause",)
            elif action == "step":
                target = run.step + max(1, int(n or 1))
                wanted, msg = ("step", target), ("step", target)
            else:
                raise ValueError(f"unknown action {action!r}")
            run.wanted = wanted
            run.version += 1
            self._send_to_worker(run, msg)
            return True

    def _send_to_worker(self, run: _Run, msg) -> None:
        for w in self._workers:
            if w.run is run:
                try:
                    w.conn.send(msg)
                except OSError:
                    pass

    def release(self, run: _Run, token: str) -> None:
        with self._mutex:
            run.subscribers.discard(token)
            if run.subscribers or run.status not in ACTIVE:
                return
            if run in self._queue:
                self._queue.remove(run)
                self._finish(run, CANCELLED, None)
            elif run.elsewhere:
                run.status, run.elsewhere = CANCELLED, False
                run.version += 1
            else:  # the worker stops at its next event; the lock goes when it confirms
                run.status = CANCELLED
                run.version += 1
                self._send_to_worker(run, ("cancel",))

    def shutdown(self) -> None:
        self._stopped.set()
        self._wake()
        self._thread.join(timeout=5)
        with self._mutex:
            for w in self._workers:
                try:
                    w.conn.send(("stop",))
                except OSError:
                    pass
            for w in self._workers:
                try:
                    w.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                w.stop()
            for run in list(self._runs.values()):
                if run.lock is not None:
                    run.lock.release(force=True)
                    run.lock = None

    # internals (called with the mutex held)
    def _lookup_cache(self, key: str, config) -> _Run | None:
        if not self.cache.has(key):
            return None
        try:
            meta = self.cache.verify(key)
        except CorruptEntry as e:
            self.cache.discard(key)
            self._pending_notice = (f"A damaged cache entry was discarded ({e}); "
                                    "the run is being trained again.")
            return None
        self.cache.touch(key)  # a hit is a use: busy entries are evicted last
        history_len = meta.get("metrics", {}).get("step", 0)
        run = _Run(key, config, status=DONE, cached=True, step=int(history_len),
                   total_steps=int(history_len), metrics=meta.get("metrics", {}),
                   finished=time.time())
        self._runs[key] = run
        return run

    def _claim(self, run: _Run) -> None:
        """Queue here if we get the file lock; otherwise another process trains it."""
        lock = self.cache.lock(run.key)
        try:
            lock.acquire(timeout=0)
        except Exception:  # filelock.Timeout: held by another process
            run.elsewhere = True
            return
        if self.cache.has(run.key):  # finished elsewhere between our check and the lock
            lock.release()
            cached = self._lookup_cache(run.key, run.config)
            if cached is not None:
                run.__dict__.update({k: v for k, v in cached.__dict__.items()
                                     if k != "subscribers"})
                self._runs[run.key] = run
                return
        run.lock, run.elsewhere = lock, False
        self._queue.append(run)

    def _finish(self, run: _Run, status: str, error: str | None) -> None:
        run.status, run.error, run.finished = status, error, time.time()
        run.version += 1
        if run.paused_since is not None:
            run.paused_total += time.monotonic() - run.paused_since
        run.paused, run.paused_since, run.wanted = False, None, None
        if status == DONE:
            run.step = run.total_steps or run.step
            run.snapshots, run.latest = [], None  # served from the cache from now on
        if run.lock is not None:
            try:
                run.lock.release(force=True)
            except Exception:
                pass
            run.lock = None
        self.cache.write_live(run.key, {"status": status, "error": error})

    def _start_worker(self) -> _Worker:
        return _spawn_worker(self.threads, self.cache)

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"1")
        except OSError:
            pass

    def _monitor(self) -> None:
        while not self._stopped.is_set():
            conns = [w.conn for w in self._workers] + [self._wake_r]
            ready = wait_connections(conns, timeout=0.25)
            with self._mutex:
                for conn in ready:
                    if conn is self._wake_r:
                        while self._wake_r.poll():
                            self._wake_r.recv_bytes()
                        continue
                    w = next((w for w in self._workers if w.conn is conn), None)
                    if w is not None:
                        self._read_worker(w)
                self._check_workers()
                self._dispatch()
                self._poll_elsewhere()
                self._publish_live()

    def _read_worker(self, w: _Worker) -> None:
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                w.last_event = time.monotonic()
                self._handle(w, msg)
        except (EOFError, OSError):
            self._replace_worker(w, None)

    def _handle(self, w: _Worker, msg) -> None:
        if msg[0] == "ready":
            w.ready = True
            return
        run = w.run
        if run is None or msg[1] != run.key:
            return
        if msg[0] == "event":
            _, _, etype, step, total, epoch, metrics, snapshot, keep, seconds, cpu = msg
            run.step, run.total_steps, run.epoch, run.worker_cpu = step, total, epoch, cpu
            run.metrics = metrics
            if etype == "eval":
                run.history.append(metrics)
                if snapshot is not None:
                    run.latest = {"step": step, **snapshot}
                    if keep:
                        run.snapshots.append(run.latest)
            run.version += 1
        elif msg[0] == "paused":
            now = time.monotonic()
            if msg[2] and not run.paused:
                run.paused, run.paused_since = True, now
                if isinstance(run.wanted, tuple):  # the step arrived
                    run.wanted = "pause"
            elif not msg[2] and run.paused:
                run.paused_total += now - (run.paused_since or now)
                run.paused, run.paused_since = False, None
            run.version += 1
        elif msg[0] == "finished":
            _, _, status, error = msg
            w.run = None
            self._finish(run, status, error)

    def _replace_worker(self, w: _Worker, reason: str | None) -> None:
        run = w.run
        w.stop()
        if run is not None:
            code = w.process.returncode
            self._finish(run, FAILED, reason or (
                f"The training process stopped unexpectedly (exit code {code}). "
                "The run was not saved; other runs carry on."))
        idx = self._workers.index(w)
        self._workers[idx] = self._start_worker()

    def _check_workers(self) -> None:
        now = time.monotonic()
        for w in list(self._workers):
            if not w.alive():
                self._read_worker(w)  # collect a last message if any
                if w in self._workers and not w.alive():
                    self._replace_worker(w, None)
                continue
            run = w.run
            if run is not None:
                paused_for = run.paused_for(now)
                if run.paused and paused_for > self.pause_limit and not run.pause_spent:
                    # a paused run must not hold a worker for ever: it plays on to the end
                    # (into the cache, nothing trained is lost) and cannot be paused again
                    run.pause_spent, run.wanted = True, "resume"
                    run.version += 1
                    self._send_to_worker(run, ("resume",))
                if now - w.started - paused_for > self.run_timeout:  # paused time is free
                    self._replace_worker(w, f"The run took longer than {self.run_timeout:.0f} s "
                                            "and was stopped.")
                elif now - w.last_event > self.stall_timeout:
                    self._replace_worker(w, f"The run stopped responding for "
                                            f"{self.stall_timeout:.0f} s and was stopped.")

    def _dispatch(self) -> None:
        from .train import config_to_dict
        for w in self._workers:
            if not self._queue:
                return
            if w.ready and w.run is None and w.alive():
                run = self._queue.pop(0)
                w.run, w.started, w.last_event = run, time.monotonic(), time.monotonic()
                run.status, run.started = RUNNING, time.time()
                run.version += 1
                try:
                    w.conn.send(("job", run.key, config_to_dict(run.config)))
                    if run.wanted is not None and run.wanted != "resume":  # asked while queued
                        w.conn.send(run.wanted if isinstance(run.wanted, tuple) else
                                    (run.wanted,))
                except OSError:
                    self._replace_worker(w, None)

    def _poll_elsewhere(self) -> None:
        now = time.monotonic()
        if now - self._last_elsewhere < LIVE_INTERVAL:
            return
        self._last_elsewhere = now
        for run in list(self._runs.values()):
            if not (run.elsewhere and run.status in ACTIVE):
                continue
            if self.cache.has(run.key):
                cached = self._lookup_cache(run.key, run.config)
                if cached is not None:
                    run.__dict__.update({k: v for k, v in cached.__dict__.items()
                                         if k != "subscribers"})
                    self._runs[run.key] = run
                    run.version += 1
                    continue
            live = self.cache.read_live(run.key) or {}
            if live.get("status") == FAILED:
                run.elsewhere = False
                self._finish(run, FAILED, live.get("error"))
                continue
            if live.get("status") == RUNNING:
                run.status, run.paused = RUNNING, bool(live.get("paused"))
                run.step, run.total_steps = live.get("step", 0), live.get("total_steps", 0)
                run.epoch, run.metrics = live.get("epoch", 0.0), live.get("metrics", {})
                run.history = live.get("history", [])
                run.version += 1
            lock = self.cache.lock(run.key)  # the other process gave up or died: take over
            try:
                lock.acquire(timeout=0)
            except Exception:
                continue
            lock.release()
            run.elsewhere, run.paused = False, False
            self._claim(run)

    def _publish_live(self) -> None:
        now = time.monotonic()
        if now - self._last_live < LIVE_INTERVAL:
            return
        self._last_live = now
        for w in self._workers:
            run = w.run
            if run is not None:
                self.cache.write_live(run.key, {
                    "status": RUNNING, "step": run.step, "total_steps": run.total_steps,
                    "epoch": run.epoch, "metrics": run.metrics, "history": run.history,
                    "paused": run.paused})


# --- the command line's path through the cache ------------------------------------------------

def train_through_cache(config, threads: int | None = None,
                        cache: RunCache | None = None) -> Iterator[dict]:
    """Events as JSON-ready dicts; the last is {"event": "done", "cached": bool, ...metrics}.
    Trains in this process under the config's file lock, so concurrent callers (and servers
    sharing the cache) train each configuration once."""
    cache = cache or RunCache()
    key = run_key(config)
    done = _cached_done(cache, key)
    if done is not None:
        yield done
        return
    with cache.lock(key):
        done = _cached_done(cache, key)  # another process may have trained it meanwhile
        if done is not None:
            yield done
            return
        for ev in _train_into_cache(cache, key, config, threads):
            if ev.type == "done":
                yield {"event": "done", "cached": False, "run_id": key, **ev.metrics}
            else:
                yield {"event": ev.type, "step": ev.step, "total_steps": ev.total_steps,
                       "epoch": round(ev.epoch, 4), **ev.metrics}


def _cached_done(cache: RunCache, key: str) -> dict | None:
    if not cache.has(key):
        return None
    try:
        meta = cache.verify(key)
    except CorruptEntry as e:
        print(f"notice: a damaged cache entry was discarded ({e}); training again.",
              file=sys.stderr)
        cache.discard(key)
        return None
    cache.touch(key)
    return {"event": "done", "cached": True, "run_id": key, **meta["metrics"]}


def load_or_train(config, threads: int | None = None,
                  cache: RunCache | None = None) -> RunResult:
    """The finished run for config, from the cache or trained now (in this process)."""
    cache = cache or RunCache()
    cached = True
    for ev in train_through_cache(config, threads, cache):
        if ev["event"] == "done":
            cached = ev["cached"]
    try:
        res = cache.load(run_key(config))
    except CorruptEntry:
        cache.discard(run_key(config))
        return load_or_train(config, threads, cache)
    res.cached = cached
    return res


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker_entry(sys.argv[2:])
