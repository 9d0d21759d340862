"""The command line: exit codes, JSON lines, and the run cache behind train and sample."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.__main__ import GAN_DEFAULT_STEPS, build_parser, config_from_args, main

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


BAD_ARGV = [
    [], ["fly"], ["train"], ["train", "pca"], ["train", "ae", "--dataset", "nope"],
    ["train", "ae", "--latent-dim", "0"], ["train", "ae", "--latent-dim", "x"],
    ["train", "vae", "--prior", "uniform"], ["train", "gan", "--epochs", "3"],
    ["train", "ae", "--prior", "gaussian"], ["train", "vae", "--linear"],
    ["train", "ae", "--lr", "-1"], ["sample", "vae", "--n", "0", "--out", "x.npy"],
    # threads: never handed to torch unchecked (-1 raised inside torch; 0 was ignored)
    ["train", "ae", "--dataset", "digits", "--threads", "-1"],
    ["train", "ae", "--dataset", "moons", "--threads", "0"],
    ["train", "ae", "--threads", "two"], ["train", "ae", "--threads", "100000"],
    ["prewarm", "--threads", "0"], ["pretrained", "build", "--threads", "-2"],
    # counts and rates out of range, or not numbers at all
    ["train", "ae", "--epochs", "0"], ["train", "vae", "--epochs", "-3"],
    ["train", "ae", "--epochs", "1001"], ["train", "gan", "--steps", "0"],
    ["train", "gan", "--steps", "-10"], ["train", "gan", "--d-steps", "0"],
    ["train", "ae", "--lr", "0"], ["train", "vae", "--lr", "nan"], ["train", "ae", "--lr", "inf"],
    ["train", "gan", "--g-lr", "2"], ["train", "gan", "--d-lr", "-1e-3"],
    ["train", "vae", "--beta", "-1"], ["train", "vae", "--beta", "nan"],
    ["train", "ae", "--batch-size", "0"], ["train", "ae", "--hidden", "1"],
    ["train", "ae", "--seed", "-1"], ["train", "gan", "--loss", "hinge"],
    ["train", "ae", "--optimizer", "rmsprop"], ["train", "gan", "--g-depth", "0"],
    # prior options: unknown prior, options of another prior, impossible values
    ["train", "vae", "--prior", "cauchy"], ["train", "gan", "--prior-components", "4"],
    ["train", "vae", "--prior", "mixture", "--prior-df", "3"],
    ["train", "vae", "--prior", "student_t", "--prior-spread", "1"],
    ["train", "vae", "--prior", "mixture", "--prior-components", "0"],
    ["train", "vae", "--prior", "mixture", "--prior-scale", "0"],
    ["train", "vae", "--prior", "mixture", "--prior-spread", "nan"],
    ["train", "vae", "--prior", "mixture", "--prior-spread", "-1"],
    ["train", "vae", "--prior", "student_t", "--prior-df", "0"],
    ["train", "vae", "--prior", "student_t", "--prior-df", "inf"],
    # sample: n and its seed
    ["sample", "gan", "--n", "-5", "--out", "x.npy"],
    ["sample", "gan", "--n", "2000000", "--out", "x.npy"],
    ["sample", "gan", "--n", "3", "--out", "x.npy", "--sample-seed", "-1"],
    ["sample", "gan", "--n", "3"], ["cache", "wipe"], ["pretrained"],
]


@pytest.mark.parametrize("argv", BAD_ARGV, ids=" ".join)
def test_bad_arguments_exit_2_with_one_line(argv, capsys, cache_dir):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert not (cache_dir / "runs").exists() or not any((cache_dir / "runs").iterdir())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("out", ["/nonexistent/x.npy", "{tmp}/missing/x.npy", "{tmp}",
                                 "{tmp}/", "{file}/x.npy"])
def test_sample_to_an_unwritable_path_exits_2_before_training(out, tmp_path, cache_dir, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    out = out.format(tmp=tmp_path, file=a_file)
    assert main(["sample", "vae", *SMALL, "--n", "3", "--out", out]) == 2
    assert "--out" in _one_line_error(capsys)
    assert not (cache_dir / "runs").exists() or not any((cache_dir / "runs").iterdir())


def test_sample_adds_the_npy_suffix_and_reports_the_file_written(tmp_path, cache_dir, capsys):
    assert main(["sample", "vae", *SMALL, "--n", "4", "--out", str(tmp_path / "s"),
                 "--json"]) == 0
    done = _json_lines(capsys.readouterr().out)[-1]
    assert done["out"] == str(tmp_path / "s.npy") and np.load(done["out"]).shape == (4, 2)


def test_an_unusable_cache_directory_is_one_line(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    monkeypatch.setenv("LATENT_LAB_CACHE", str(a_file / "cache"))
    for argv in (["train", "ae", *SMALL], ["cache", "list"]):
        assert main(argv) == 2
        assert "LATENT_LAB_CACHE" in _one_line_error(capsys)


def test_a_diverging_run_exits_1_with_a_clear_message_and_caches_nothing(cache_dir, capsys):
    argv = ["train", "ae", "--dataset", "grid25", "--latent-dim", "2", "--hidden", "64",
            "--epochs", "3", "--lr", "1", "--optimizer", "sgd", "--threads", "1"]
    assert main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert "diverged" in err and "smaller learning rate" in err
    events = _json_lines(captured.out)
    assert events and all(e["event"] != "done" for e in events)  # no final line claims success
    assert not any((cache_dir / "runs").iterdir())


def test_gan_steps_default_per_data_set_and_yield_to_steps():
    parse = build_parser().parse_args
    assert config_from_args(parse(["train", "gan"])).steps == 5000
    assert config_from_args(parse(["train", "gan", "--dataset", "grid25"])).steps == \
        GAN_DEFAULT_STEPS["grid25"] == 10_000
    assert config_from_args(parse(["train", "gan", "--dataset", "grid25", "--steps",
                                   "300"])).steps == 300
    assert config_from_args(parse(["train", "gan", "--dataset", "moons"])).steps == 5000


def test_train_help_explains_the_done_metrics_and_their_signs(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for key in ("test_recon", "pca_test_recon", "test_neg_elbo", "test_kl", "test_iwae",
                "modes_covered", "hq_fraction"):
        assert key in text
    assert "log p(x)" in text and "negative" in text


def test_real_command_line_lists_and_fails_cleanly(cache_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "models", "datasets"], capture_output=True,
                        text=True, env=env, cwd=ROOT)
    assert ok.returncode == 0 and "ring8" in ok.stdout and "digits" in ok.stdout
    for argv in (["train", "vae", "--epochs", "many"],
                 ["train", "ae", "--dataset", "digits", "--threads", "-1"],
                 ["sample", "ae", "--dataset", "moons", "--n", "3", "--out", "/nonexistent/x.npy"]):
        bad = subprocess.run([sys.executable, "-m", "models", *argv], capture_output=True,
                             text=True, env=env, cwd=ROOT)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert "Traceback" not in bad.stderr
