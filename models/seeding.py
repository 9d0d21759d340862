"""Seeded draws from torch's global generator in a process that runs many sessions.

The web server runs every session's script in a thread of one process, and those threads
share torch's global generator, from which the priors sample. A draw that must be
reproducible (a seed on a page) seeds that generator for a moment; two such blocks running at
once in two threads would draw from each other's seed and restore each other's state.
``seeded`` lets one block at a time do it, and leaves the generator as it was.

It seeds the CPU generator alone (``torch.default_generator``; the same draws as
``torch.manual_seed``). ``torch.manual_seed`` also queues a seed for every accelerator torch
was built for, and on a machine without one each call records the caller's whole stack
(``traceback.format_stack``) for a lazy initialisation that never comes: in the server, deep
in Streamlit's script runner, that was about 5 % of its CPU time on a GAN page rerun (py-spy).
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
        torch.default_generator.manual_seed(seed)
        yield
