"""Pretrained runs shipped in assets/pretrained: every page's default configuration, so every
page opens ready, offline, in front of a class.

A shipped run is a *packed* cache entry. Training rounds the final weights to float16
precision and the snapshots to display precision (``models.train.round_for_storage``), so
packing stores weights as float16 and snapshot images as bytes with no loss at all: unpacking
gives back exactly the arrays the run produced, and the final metrics were measured on exactly
these weights. That keeps all page defaults within ``MAX_SHIPPED_MB``. Packing falls back to
float32 for any array that float16 would change, so it is lossless whatever it is given.

At start the dashboard calls ``install(cache)``: every shipped entry written by the current
model code is unpacked into the run cache (into a temporary directory, then renamed: atomic);
stale ones are skipped with a notice. ``python -m models pretrained build`` retrains what is
missing or stale and replaces the shipped set; ``python -m models pretrained check`` says
whether it is current, and ``tests/test_pretrained.py`` fails when it is not.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runs import ENTRY_FILES, RunCache, _sha256, load_or_train, model_version, run_key

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "assets" / "pretrained"
MAX_SHIPPED_MB = 25.0
PACKED_FILES = ("meta.json", "config.json", "history.json", "weights.safetensors",
                "snapshots.npz")


@dataclass
class Status:
    expected: dict[str, object]  # key -> config
    present: dict[str, str]  # key -> version written by
    missing: list[str]
    stale: list[str]  # shipped, but by older model code
    extra: list[str]  # shipped, but no page default uses them
    bytes: int

    @property
    def too_big(self) -> bool:
        return self.bytes > MAX_SHIPPED_MB * 1e6

    @property
    def current(self) -> bool:
        return not self.missing and not self.stale and not self.extra and not self.too_big


def _entries(root: Path) -> dict[str, str]:
    """key -> model version of every shipped entry (``""`` when its meta is unreadable)."""
    out = {}
    if not root.is_dir():
        return out
    for path in root.iterdir():
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            out[path.name] = json.loads((path / "meta.json").read_text()).get("version", "")
        except (OSError, ValueError, AttributeError):
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


# --- packing --------------------------------------------------------------------------------

def _pack_array(a: np.ndarray) -> np.ndarray:
    """The smallest exact form of a float32 array: bytes (k/255), float16, or itself."""
    if a.dtype != np.float32 or a.size == 0:
        return a
    if np.all((a >= 0) & (a <= 1)):
        q = np.round(a.astype(np.float64) * 255)
        if np.array_equal(_unpack_array(q.astype(np.uint8)), a):
            return q.astype(np.uint8)
    h = a.astype(np.float16)
    return h if np.array_equal(h.astype(np.float32), a) else a


def _unpack_array(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return (a.astype(np.float64) / 255).astype(np.float32)
    if a.dtype == np.float16:
        return a.astype(np.float32)
    return a


def pack_entry(src: Path, dest: Path) -> None:
    """Write the packed form of the cache entry at src into dest (which must not exist),
    then check that unpacking it gives back every array exactly."""
    import torch
    from safetensors.torch import load_file, save_file
    dest.mkdir(parents=True)
    for name in ("config.json", "history.json"):
        shutil.copyfile(src / name, dest / name)
    weights = load_file(str(src / "weights.safetensors"))
    packed = {}
    for k, w in weights.items():
        h = w.half() if w.dtype == torch.float32 else w
        packed[k] = h if torch.equal(h.float() if h.dtype == torch.float16 else h, w) else w
    save_file(packed, str(dest / "weights.safetensors"))
    with np.load(src / "snapshots.npz") as z:
        arrays = {name: _pack_array(z[name]) for name in z.files}
    with open(dest / "snapshots.npz", "wb") as f:
        np.savez_compressed(f, **arrays)
    meta = json.loads((src / "meta.json").read_text())
    meta.pop("files", None)
    meta["packed"] = {name: _sha256(dest / name) for name in PACKED_FILES if name != "meta.json"}
    (dest / "meta.json").write_text(json.dumps(meta, indent=1))
    with tempfile.TemporaryDirectory() as tmp:  # lossless, or not shipped
        back = Path(tmp) / "entry"
        unpack_entry(dest, back)
        w2 = load_file(str(back / "weights.safetensors"))
        if w2.keys() != weights.keys() or any(not torch.equal(w2[k], weights[k])
                                              for k in weights):
            raise RuntimeError(f"packing {src.name} changed its weights")
        with np.load(src / "snapshots.npz") as a, np.load(back / "snapshots.npz") as b:
            if set(a.files) != set(b.files) or any(not np.array_equal(a[n], b[n])
                                                   for n in a.files):
                raise RuntimeError(f"packing {src.name} changed its snapshots")


def unpack_entry(src: Path, dest: Path) -> None:
    """Write the cache entry (float32 files, checksums in meta.json) for the packed entry at
    src into dest; raises ValueError when a packed file does not match its checksum."""
    import torch
    from safetensors.torch import load_file, save_file
    meta = json.loads((src / "meta.json").read_text())
    for name, digest in meta.get("packed", {}).items():
        if _sha256(src / name) != digest:
            raise ValueError(f"{src.name}/{name} does not match its checksum")
    dest.mkdir(parents=True)
    for name in ("config.json", "history.json"):
        shutil.copyfile(src / name, dest / name)
    weights = {k: (w.float() if w.dtype == torch.float16 else w)
               for k, w in load_file(str(src / "weights.safetensors")).items()}
    save_file(weights, str(dest / "weights.safetensors"))
    with np.load(src / "snapshots.npz") as z:
        arrays = {name: _unpack_array(z[name]) for name in z.files}
    with open(dest / "snapshots.npz", "wb") as f:
        np.savez(f, **arrays)
    meta.pop("packed", None)
    meta["files"] = {name: _sha256(dest / name) for name in ENTRY_FILES}
    (dest / "meta.json").write_text(json.dumps(meta))  # last: marks the entry complete


# --- shipping -------------------------------------------------------------------------------

def install(cache: RunCache, root: Path = PRETRAINED_DIR) -> tuple[list[str], list[str]]:
    """Unpack current shipped entries into the cache; returns (installed, stale) keys."""
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
            unpack_entry(root / key, tmp / "entry")
            if not cache.has(key):
                os.replace(tmp / "entry", cache.entry(key))
                installed.append(key)
        except (OSError, ValueError) as e:
            print(f"notice: the shipped run {key} could not be installed ({e}); it will be "
                  "trained when a page asks for it.", file=sys.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if stale:
        print(f"notice: {len(stale)} shipped pretrained runs were written by other model code "
              "and are not used; `python -m models pretrained build` rebuilds them.",
              file=sys.stderr)
    return installed, stale


def build(threads: int | None = None, root: Path = PRETRAINED_DIR, progress=None) -> Status:
    """Train (through the cache) every page default, then make the shipped set exactly them."""
    from .presets import default_runs
    cache = RunCache()
    configs = default_runs()
    root.mkdir(parents=True, exist_ok=True)
    keep = set()
    version = model_version()
    for i, config in enumerate(configs):
        if progress:
            progress(i, len(configs), config)
        key = run_key(config)
        keep.add(key)
        if _entries(root).get(key) == version:
            continue
        load_or_train(config, threads=threads, cache=cache)
        cache.verify(key)
        tmp = root / f".{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        pack_entry(cache.entry(key), tmp)
        shutil.rmtree(root / key, ignore_errors=True)
        os.replace(tmp, root / key)
    for key in _entries(root):
        if key not in keep:
            shutil.rmtree(root / key, ignore_errors=True)
    return status(root)
