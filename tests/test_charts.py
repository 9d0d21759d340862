"""dashboard/charts.py's PNG helpers: the colour map's lookup table against interpolating the
anchors exactly, and PNG bytes that decode to the same pixels at any compression level;
data sets named so that a data change keeps the spec's text."""

import io
import json

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from dashboard import charts


def interpolated(values, lo, hi, cmap):
    """The colour map by direct linear interpolation between its anchors (the reference)."""
    t = np.clip((values - lo) / (hi - lo), 0, 1) * (len(cmap) - 1)
    i = np.minimum(t.astype(int), len(cmap) - 2)
    f = (t - i)[..., None]
    return cmap[i] * (1 - f) + cmap[i + 1] * f


@pytest.mark.parametrize("cmap", [charts.VIRIDIS, charts.DIVERGING])
def test_lookup_table_matches_interpolation(cmap):
    v = np.random.default_rng(0).normal(size=(60, 70))
    got = charts.colormap(v, -2.0, 2.0, cmap).astype(float)
    ref = interpolated(v, -2.0, 2.0, cmap)
    # one table step moves a channel by at most (max anchor jump) / (LUT_SIZE / (anchors - 1))
    step = np.abs(np.diff(cmap, axis=0)).max() * (len(cmap) - 1) / (charts.LUT_SIZE - 1)
    assert np.abs(got - ref).max() <= step / 2 + 1  # + 1: truncation to uint8
    assert charts.colormap(np.array([-5.0, 5.0]), -2.0, 2.0, cmap).tolist() == \
        [cmap[0].astype(np.uint8).tolist(), cmap[-1].astype(np.uint8).tolist()]


def test_non_finite_values_are_white_and_the_range_defaults_to_the_data():
    v = np.array([[0.0, np.nan], [np.inf, 4.0]])
    rgb = charts.colormap(v)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 1].tolist() == [255, 255, 255] and rgb[1, 0].tolist() == [255, 255, 255]
    assert rgb[0, 0].tolist() == charts.VIRIDIS[0].tolist()
    assert rgb[1, 1].tolist() == charts.VIRIDIS[-1].tolist()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_png_bytes_round_trip_at_any_compression(level):
    field = np.add.outer(np.linspace(0, 1, 50), np.linspace(0, 1, 40))
    img = charts.heatmap_png(field, upscale=1)
    back = np.asarray(Image.open(io.BytesIO(charts.png_bytes(img, level))))
    assert np.array_equal(back, np.asarray(img))


# --- stable specs: a data change must not change the spec's text ------------------------------

def _layered(df: pd.DataFrame) -> alt.LayerChart:
    return alt.layer(alt.Chart(df).mark_line().encode(x="a:Q", y="b:Q"),
                     alt.Chart(df.head(1)).mark_point().encode(x="a:Q", y="b:Q"))


def test_altair_data_sets_get_names_by_place_not_content():
    one = charts.spec(_layered(pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 2.0]})))
    two = charts.spec(_layered(pd.DataFrame({"a": [0.0, 1.0], "b": [5.0, 6.0]})))
    assert set(one["datasets"]) == {"_d0", "_d1"}
    text = lambda s: json.dumps({k: v for k, v in s.items() if k != "datasets"})  # noqa: E731
    assert text(one) == text(two)
    assert one["datasets"]["_d0"] != two["datasets"]["_d0"]
    assert [layer["data"]["name"] for layer in one["layer"]] == ["_d0", "_d1"]


def test_inline_values_move_into_named_data_sets_and_hand_names_stay():
    spec = {"layer": [{"data": {"values": [{"x": 1}]}, "mark": "point"},
                      {"data": {"name": "mine"}, "mark": "line"}],
            "datasets": {"mine": [{"x": 2}], "lookup": [{"x": 3}]}}
    out = charts.stable_names(spec, rename=False)
    assert out["layer"][0]["data"] == {"name": "_d0"}
    assert out["layer"][1]["data"] == {"name": "mine"}
    assert out["datasets"] == {"_d0": [{"x": 1}], "mine": [{"x": 2}], "lookup": [{"x": 3}]}
    assert "values" not in json.dumps(out["layer"])
    assert spec["layer"][0]["data"] == {"values": [{"x": 1}]}  # the input is left as it was


@pytest.mark.parametrize("chart", [
    alt.Chart(pd.DataFrame({"a": [1, 2]})).mark_line().encode(x="a:Q"),
    _layered(pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 2.0]})).properties(width=200),
    alt.hconcat(alt.Chart(pd.DataFrame({"a": [1]})).mark_bar().encode(x="a:Q"),
                alt.Chart(pd.DataFrame({"b": [2]})).mark_bar().encode(x="b:Q"))
    .configure_axis(labelFontSize=20),
    alt.Chart(pd.DataFrame({"a": [1], "b": [2]})).mark_point().encode(x="a:Q", y="b:Q")
    .add_params(alt.selection_point(name="pick"))], ids=["line", "layer", "concat", "select"])
def test_spec_is_what_streamlits_own_altair_path_sends(chart):
    """charts.spec skips the schema check and the chart copies of st.altair_chart's path;
    what it sends must be the same (the house style over the chart's own config included)."""
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec
    assert charts.spec(chart) == charts.stable_names(
        _convert_altair_to_vega_lite_spec(charts._style(chart)))


def test_charts_are_checked_against_the_schema_in_tests(monkeypatch):
    assert charts.VALIDATE  # tests/conftest.py turns the check on
    bad = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x=alt.X("a:Q", bin="yes"))
    with pytest.raises(Exception, match="bin"):
        charts.spec(bad)
    monkeypatch.setattr(charts, "VALIDATE", False)  # what the app does: no check, no error
    assert charts.spec(bad)["encoding"]["x"]["bin"] == "yes"


def _altair_scatter(df, x, y, color=None, continuous=False, title="", h=360, size=18,
                    opacity=0.7, domain=None, tooltip=None, color_title=None, square=False):
    """The same points as charts.scatter, built with Altair (how it was written before)."""
    corners = None
    if square and domain is None:
        (x0, x1), (y0, y1) = charts.square_domain(df[x].to_numpy(), df[y].to_numpy())
        corners = pd.DataFrame({x: [x0, x1], y: [y0, y1]})
    sx = alt.Scale(domain=domain[0]) if domain else alt.Scale(zero=False, nice=corners is None)
    sy = alt.Scale(domain=domain[1]) if domain else alt.Scale(zero=False, nice=corners is None)
    enc = {"x": alt.X(x, title=x, scale=sx), "y": alt.Y(y, title=y, scale=sy)}
    if color and continuous:
        enc["color"] = alt.Color(color, title=color_title or color,
                                 scale=alt.Scale(scheme="viridis"))
    elif color:
        cats = sorted(df[color].unique(), key=str)
        enc["color"] = alt.Color(f"{color}:N", title=color_title or color,
                                 scale=alt.Scale(domain=cats, range=charts.palette(len(cats))))
    if tooltip:
        enc["tooltip"] = tooltip
    size_kw = {"height": h, "width": h} if square else {"height": h}
    points = alt.Chart(df).mark_circle(size=size, opacity=opacity).encode(**enc)
    if corners is None:
        return points.properties(title=title, **size_kw)
    edge = alt.Chart(corners).mark_point(opacity=0).encode(x=alt.X(x, scale=sx),
                                                          y=alt.Y(y, scale=sy))
    return alt.layer(points, edge, title=title, **size_kw)


@pytest.mark.parametrize("kw", [
    dict(color="z", continuous=True, square=True, title="x coloured by z", color_title="z"),
    dict(square=True, title="What we observe"),
    dict(color="c", tooltip=["z", "c"]),
    dict(color="k", square=True),
    dict(domain=((-1, 1), (0, 2)), color="z", continuous=True)],
    ids=["reveal", "x", "cat", "int-cat", "dom"])
def test_scatter_is_the_chart_altair_would_give(kw):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x₁": rng.normal(size=40), "x₂": rng.normal(size=40),
                       "z": rng.uniform(size=40), "c": rng.choice(["b", "a"], size=40),
                       "k": rng.integers(0, 3, size=40)})
    ours = charts.stable_names(charts.scatter(df, "x₁", "x₂", size=22.0, h=430, **kw))
    ref = charts.spec(_altair_scatter(df, "x₁", "x₂", size=22.0, h=430, **kw))
    body = lambda s: {k: v for k, v in s.items() if k not in ("datasets", "$schema")}  # noqa: E731
    assert body(ours) == body(ref)  # (as numbers: Altair writes the categories 0, 1 as 0.0, 1.0)
    assert ours["datasets"].keys() == ref["datasets"].keys()
    for name, table in ours["datasets"].items():
        assert table.to_pydict() == pa.ipc.open_stream(ref["datasets"][name]).read_all().to_pydict()


def test_inline_rows_are_sent_as_an_arrow_table_with_the_same_values():
    rows = [{"x": 1.5, "slot": 0, "label": "a"}, {"x": float("nan"), "slot": 2, "label": "b"}]
    table = charts._table(rows)
    assert isinstance(table, pa.Table) and table.num_rows == 2
    back = table.to_pylist()
    assert back[0] == rows[0] and back[1]["slot"] == 2 and np.isnan(back[1]["x"])
    mixed = [{"x": 1}, {"x": "one"}]  # no Arrow type holds both: left to Streamlit
    assert charts._table(mixed) is mixed
    assert charts._table([]) == []
