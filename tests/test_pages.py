"""Every page under AppTest: defaults, each control changed once, URL state, bad links."""

import pytest

from dashboard import state
from dashboard.state import Param
from apptest_util import errors, open_page, other_value, page_paths, seen_params, widget

PAGES = page_paths()


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_at_its_defaults(page):
    at = open_page(page)
    assert not errors(at), errors(at)
    assert at.title, "every page has a title"
    assert not at.info or all("could not be used" not in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
def test_each_control_changed_once_runs_without_exception(page):
    at = open_page(page)
    params = seen_params(at)
    assert params, "a page without controls?"
    for key, p in params.items():
        if key in state.GLOBAL_KEYS:  # the frame's own: presenter and lecture mode
            continue
        at = open_page(page)
        if key not in seen_params(at):
            continue  # drawn only under another setting
        w = widget(at, key)
        new = other_value(p, w.value)
        w.set_value(new).run()
        assert not errors(at), (key, new, errors(at))
        assert widget(at, key).value == new, key


@pytest.mark.parametrize("page", PAGES)
def test_url_parameters_set_the_controls(page):
    params = {k: p for k, p in seen_params(open_page(page)).items()
              if k not in state.GLOBAL_KEYS}
    for key, p in params.items():
        new = other_value(p, p.default)
        query = state.query_for([p], {key: new})
        at = open_page(page, query)
        assert not errors(at)
        if key in seen_params(at):
            assert widget(at, key).value == new, (key, query)
            assert not any("could not be used" in i.value for i in at.info), (key, query)


@pytest.mark.parametrize("page", PAGES)
def test_url_round_trip_of_all_values(page):
    params = [p for k, p in seen_params(open_page(page)).items()
              if k not in state.GLOBAL_KEYS]
    values = {p.key: other_value(p, p.default) for p in params}
    at = open_page(page, state.query_for(params, values))
    got = {k: widget(at, k).value for k in values if k in seen_params(at)}
    assert got == {k: v for k, v in values.items() if k in got}
    assert state.query_for(params, {**values, **got}) == state.query_for(params, values)


GARBAGE = [
    {"bogus": "1"},
    {"seed": "abc"},
    {"seed": "-5"},
    {"seed": "1e400"},
    {"seed": "x" * 5000},
    {"presenter": "maybe"},
    {"n": "NaN", "noise": "inf", "story": "Dragons", "reveal": "2"},
]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("query", GARBAGE)
def test_garbage_url_parameters_give_a_notice_not_an_exception(page, query):
    at = open_page(page, query)
    assert not errors(at), errors(at)
    if set(query) - {"presenter"}:
        notices = [i.value for i in at.info if "could not be used" in i.value]
        assert notices, (page, query)
        assert len(notices[0]) < 2000  # long values are shortened


def test_presenter_mode_is_a_url_setting_kept_across_pages():
    at = open_page("app_pages/home.py", {"presenter": "true"})
    assert widget(at, "presenter").value is True
    assert not errors(at)


def test_param_parsing():
    p = Param("n", "N", 5, "int", lo=1, hi=10)
    assert p.parse("7") == (True, 7) and p.parse("7.0") == (True, 7)
    assert not p.parse("7.5")[0] and not p.parse("11")[0] and not p.parse("x")[0]
    f = Param("f", "F", 0.5, "float", lo=0.0, hi=1.0)
    assert f.parse("0.25") == (True, 0.25) and not f.parse("nan")[0]
    c = Param("c", "C", "a", "choice", options=("a", "b"), labels={"a": "Alpha", "b": "Beta"})
    assert c.parse("Beta") == (True, "b") and not c.parse("Gamma")[0]
    b = Param("b", "B", False, "bool")
    assert b.parse("true") == (True, True) and not b.parse("maybe")[0]
    s = Param("s", "S", 3, "steps", options=(1, 2))
    assert s.options == (1, 2, 3)  # the default is always offered
