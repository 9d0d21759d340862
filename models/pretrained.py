"""Pretrained runs shipped in assets/pretrained: every page's default configuration, so every
page opens ready, offline, in front of a class.

Each shipped run is a cache entry (the same files and checksums as in the run cache). At start
the dashboard calls ``install(cache)``, which copies every entry written by the current model
code into the run cache (atomically: copy to a temporary directory, then rename) and skips
stale ones. ``python -m models pretrained build`` retrains what is missing or stale and
replaces the shipped set; ``python -m models pretrained check`` says whether it is current
(a test fails when it is not).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .runs import RunCache, load_or_train, model_version, run_key

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "assets" / "pretrained"
MAX_SHIPPED_MB = 25.0


@dataclass
class Status:
    expected: dict[str, object]  # key -> config
    present: dict[str, str]  # key -> version written by
    missing: list[str]
    stale: list[str]  # shipped, but by older model code
    extra: list[str]  # shipped, but no page default uses them
    bytes: int

    @property
    def current(self) -> bool:
        return not self.missing and not self.stale and not self.extra


def _entries(root: Path) -> dict[str, str]:
    out = {}
    if not root.is_dir():
        return out
    for path in root.iterdir():
        try:
            out[path.name] = json.loads((path / "meta.json").read_text()).get("version", "")
        except (OSError, ValueError):
            out[path.name] = ""
    return out


def status(root: Path = PRETRAINED_DIR) -> Status:
    from .presets import default_runs
    expected = {run_key(c): c for c in default_runs()}
    present = _entries(root)
    version = model_version()
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0
    return Status(expected, present,
                  missing=[k for k in expected if k not in present],
                  stale=[k for k, v in present.items() if v != version],
                  extra=[k for k, v in present.items() if k not in expected and v == version],
                  bytes=size)


def install(cache: RunCache, root: Path = PRETRAINED_DIR) -> tuple[list[str], list[str]]:
    """Copy current shipped entries into the cache; returns (installed, stale) keys."""
    installed, stale = [], []
    version = model_version()
    for key, v in _entries(root).items():
        if v != version:
            stale.append(key)
            continue
        if cache.has(key):
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"pretrained-{key}-", dir=cache.root / "tmp"))
        try:
            shutil.copytree(root / key, tmp, dirs_exist_ok=True)
            if not cache.has(key):
                os.replace(tmp, cache.entry(key))
                installed.append(key)
        except OSError:
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return installed, stale


def build(threads: int | None = None, root: Path = PRETRAINED_DIR, progress=None) -> Status:
    """Train (through the cache) every page default, then make the shipped set exactly them."""
    from .presets import default_runs
    cache = RunCache()
    configs = default_runs()
    root.mkdir(parents=True, exist_ok=True)
    keep = set()
    for i, config in enumerate(configs):
        if progress:
            progress(i, len(configs), config)
        key = run_key(config)
        keep.add(key)
        if key in _entries(root) and _entries(root)[key] == model_version():
            continue
        load_or_train(config, threads=threads, cache=cache)
        cache.verify(key)
        tmp = root / f".{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(cache.entry(key), tmp)
        shutil.rmtree(root / key, ignore_errors=True)
        os.replace(tmp, root / key)
    for key in _entries(root):
        if key not in keep:
            shutil.rmtree(root / key, ignore_errors=True)
    return status(root)
