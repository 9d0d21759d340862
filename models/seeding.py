"""Seeded draws from torch's global generator in a process that runs many sessions.

The web server runs every session's script in a thread of one process, and those threads
share torch's global generator, from which the priors sample. A draw that must be
reproducible (a seed on a page) seeds that generator for a moment; two such blocks running at
once in two threads would draw from each other's seed and restore each other's state.
``seeded`` lets one block at a time do it, and leaves the generator as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside the block torch's global generator starts from `seed`; after it, it is back
    where it was. One such block at a time in the process."""
    with _LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
