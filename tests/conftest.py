"""Shared test set-up: an isolated run cache, one torch thread, the repo on sys.path."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["LATENT_LAB_CACHE"] = tempfile.mkdtemp(prefix="latent-lab-test-cache-")
# every chart a test draws is checked against the Vega-Lite schema (the app skips that check)
os.environ["LATENT_LAB_VALIDATE_CHARTS"] = "1"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch
    torch.set_num_threads(1)  # tests run beside other processes; avoid oversubscription


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty run cache for one test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("LATENT_LAB_CACHE", str(d))
    return d


_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failure: a skip would hide what it was meant to check."""
    outcome = yield
    report = outcome.get_result()
    if _IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"
