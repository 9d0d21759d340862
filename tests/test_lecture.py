"""Lecture mode: the file format, the sidebar stepper, and finding the runs a lecture needs."""

import re

import pytest

from apptest_util import errors, open_page, widget
from dashboard import lecture as lec

HOME_ONLY = """
title = "Test lecture"
[[view]]
title = "Curve"
page = "/"
params = { story = "Position on a curve", reveal = true }
note = "Look at the colours."
[[view]]
title = "Classes"
page = "/"
params = { story = "Hidden class", n = 400 }
"""


def test_parse_reads_views_and_url_values():
    lecture = lec.parse(HOME_ONLY, "t.toml")
    assert lecture.title == "Test lecture" and len(lecture.views) == 2
    assert lecture.views[0].params == {"story": "Position on a curve", "reveal": "true"}
    assert lecture.views[1].params["n"] == "400" and lecture.views[0].url_path == ""


@pytest.mark.parametrize("text, words", [
    ("[[view]]\ntitle = 'x'", "needs a page"), ("[[view]]\npage = '/nowhere'", "pages:"),
    ("title = 'x'", "no [[view]]"), ("[[view", "not valid TOML"),
    ("[[view]]\npage = '/'\nparams = 'x'", "params must be a table")])
def test_bad_lecture_files_say_what_is_wrong(text, words):
    with pytest.raises(lec.LectureError, match=re.escape(words)):
        lec.parse(text, "t.toml")


def test_shipped_lecture_file_is_valid():
    lecture = lec.load(lec.DEFAULT_FILE)
    assert len(lecture.views) >= 3


def test_sidebar_steps_through_views(tmp_path, monkeypatch):
    f = tmp_path / "lecture.toml"
    f.write_text(HOME_ONLY)
    monkeypatch.setenv(lec.LECTURE_ENV, str(f))
    at = open_page("app_pages/home.py", {"lecture": "true"})
    assert not errors(at)
    at.run()  # the stepper switched to view 1's settings
    assert widget(at, "reveal").value is True
    assert any("Look at the colours." in i.value for i in at.info)
    [b for b in at.button if b.label == "Next ▶"][0].click().run()
    at.run()
    assert not errors(at)
    assert widget(at, "story").value == "class" and widget(at, "n").value == 400


def test_a_broken_lecture_file_gives_a_message(tmp_path, monkeypatch):
    f = tmp_path / "lecture.toml"
    f.write_text("[[view]]\npage = '/nowhere'\n")
    monkeypatch.setenv(lec.LECTURE_ENV, str(f))
    at = open_page("app_pages/home.py", {"lecture": "true"})
    assert not errors(at)
    assert any("Lecture mode is unavailable" in e.value for e in at.error)


def test_a_view_finds_the_runs_its_page_needs():
    """A view's settings reach its page (not only the home page's), and the runs that page
    looks up are what prewarm --lecture trains."""
    from models.presets import GAN_COLLAPSE
    from models.train import config_to_dict
    lecture = lec.parse("""
[[view]]
page = "/gan"
params = { preset = "Mode collapse" }
[[view]]
page = "/vae"
params = { beta = 4.0, latent = 8 }
""", "t.toml")
    gan, vae = (lec.view_configs(v) for v in lecture.views)
    assert config_to_dict(GAN_COLLAPSE) in gan
    assert any(c["kind"] == "vae" and c["beta"] == 4.0 and c["latent_dim"] == 8 for c in vae)


def test_every_view_of_the_shipped_lecture_opens():
    for view in lec.load(lec.DEFAULT_FILE).views:
        lec.view_configs(view)  # raises LectureError naming the view when its page fails


def test_prewarm_a_lecture_finds_runs_a_page_needs_after_its_first(tmp_path):
    """The autoencoder page looks up its sweep over latent sizes and its linear twin only
    once its own run is done: prewarm opens the views again after training, so those are
    ready too (on 2-D data, so the three runs train in seconds)."""
    import os
    import subprocess
    import sys

    from models.presets import ae_sweep, linear_match
    from models.runs import RunCache, run_key
    from models.train import AEConfig
    f = tmp_path / "lecture.toml"
    f.write_text('[[view]]\npage = "/autoencoder"\nparams = { data = "moons", latent = 1 }\n')
    env = {**os.environ, "LATENT_LAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "models", "prewarm", "--lecture", str(f)],
                          capture_output=True, text=True, env=env, timeout=600,
                          cwd=lec.DEFAULT_FILE.parent.parent)
    assert proc.returncode == 0, proc.stderr
    main = AEConfig(dataset="moons", latent_dim=1)
    needed = {main, *ae_sweep(main), linear_match(main)}
    assert len(needed) == 3
    assert proc.stderr.count("finding the runs") >= 2  # opened again after the first round
    assert "3/3 configurations ready" in proc.stderr, proc.stderr
    cache = RunCache(tmp_path / "cache")
    assert all(cache.has(run_key(c)) for c in needed)
