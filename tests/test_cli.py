"""The command line: exit codes, JSON lines, and the run cache behind train and sample."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--dataset", "moons", "--latent-dim", "1", "--hidden", "16", "--epochs", "2",
         "--threads", "1"]


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_train_prints_json_lines_and_a_second_call_is_cached(cache_dir, capsys):
    assert main(["train", "ae", *SMALL, "--json"]) == 0
    events = _json_lines(capsys.readouterr().out)
    done = events[-1]
    assert done["event"] == "done" and done["cached"] is False
    assert {"test_recon", "pca_test_recon", "seconds"} <= set(done)
    assert any(e["event"] == "eval" for e in events[:-1])
    assert main(["train", "ae", *SMALL, "--json"]) == 0
    again = _json_lines(capsys.readouterr().out)
    assert len(again) == 1 and again[0]["cached"] is True
    assert again[0]["test_recon"] == done["test_recon"]


def test_vae_and_gan_done_events_carry_their_metrics(cache_dir, capsys):
    assert main(["train", "vae", *SMALL, "--json"]) == 0
    done = _json_lines(capsys.readouterr().out)[-1]
    assert {"test_neg_elbo", "test_recon", "test_kl", "test_iwae"} <= set(done)
    assert main(["train", "gan", "--dataset", "ring8", "--steps", "20", "--g-hidden", "16",
                 "--d-hidden", "16", "--threads", "1", "--json"]) == 0
    done = _json_lines(capsys.readouterr().out)[-1]
    assert {"modes_covered", "hq_fraction"} <= set(done)


def test_sample_writes_an_array(cache_dir, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["sample", "vae", *SMALL, "--n", "12", "--out", str(out)]) == 0
    assert np.load(out).shape == (12, 2)


@pytest.mark.parametrize("argv", [
    [], ["fly"], ["train"], ["train", "pca"], ["train", "ae", "--dataset", "nope"],
    ["train", "ae", "--latent-dim", "0"], ["train", "ae", "--latent-dim", "x"],
    ["train", "vae", "--prior", "uniform"], ["train", "gan", "--epochs", "3"],
    ["train", "ae", "--prior", "gaussian"], ["train", "vae", "--linear"],
    ["train", "ae", "--lr", "-1"], ["sample", "vae", "--n", "0", "--out", "x.npy"]])
def test_bad_arguments_exit_2_with_one_line(argv, capsys, cache_dir):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err


def test_real_command_line_lists_and_fails_cleanly(cache_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "models", "datasets"], capture_output=True,
                        text=True, env=env, cwd=ROOT)
    assert ok.returncode == 0 and "ring8" in ok.stdout and "digits" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "models", "train", "vae", "--epochs", "many"],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr
