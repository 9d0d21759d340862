"""models.seeding: reproducible draws from torch's global generator while other threads (the
web server's other sessions) draw too."""

import threading
import time

import torch

from models import seeding
from models.seeding import seeded


def _draws(seed: int) -> torch.Tensor:
    with seeded(seed):
        a = torch.rand(4)
        time.sleep(0.01)  # another session's thread would seed the generator here
        b = torch.rand(4)
    return torch.cat([a, b])


def test_seeded_blocks_in_threads_draw_what_they_draw_alone():
    alone = {s: _draws(s) for s in range(6)}
    got = {}
    threads = [threading.Thread(target=lambda s=s: got.__setitem__(s, _draws(s)))
               for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(got[s], alone[s]) for s in range(6))
    assert not torch.equal(alone[0], alone[1])


def test_seeded_leaves_the_global_generator_where_it_was():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(5):
        torch.rand(10)
    assert torch.equal(torch.rand(3), expected)


def test_a_seeded_block_may_use_another_inside_it():
    # a re-entrant lock (checked first: with a plain one the nested block would hang)
    assert isinstance(seeding._LOCK, type(threading.RLock()))
    with seeded(1):
        with seeded(2):
            inner = torch.rand(2)
    assert torch.equal(inner, _draws(2)[:2])
