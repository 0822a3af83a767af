"""Plots: what is drawn (lines, bands, markers, scales, labels, legend), not only that it runs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from bayes_scaling.allocation import optimal  # noqa: E402
from bayes_scaling.plots import FRONTIER, plot_frontier, plot_isoflop  # noqa: E402

BUDGETS = np.array([1e25, 1e19, 1e22, 1e20, 1e26, 1e21])  # unsorted on purpose


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def band_range(band, x):
    """The band's lowest and highest y at x (from its polygon's vertices)."""
    vertices = band.get_paths()[0].vertices
    ys = vertices[np.isclose(vertices[:, 0], x, rtol=1e-9), 1]
    assert ys.size >= 2, f"the band has no edge at x = {x:g}"
    return ys.min(), ys.max()


def data_lines(ax):
    """Lines with legend labels (medians), leaving out errorbar markers."""
    return [line for line in ax.lines if not line.get_label().startswith("_")]


@pytest.mark.parametrize("quantity", list(FRONTIER))
def test_frontier_draws_median_inside_nested_bands(sim_post, quantity):
    ax = plot_frontier(sim_post, BUDGETS, quantity)
    (line,) = ax.lines
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_array_equal(x, np.sort(BUDGETS))
    expected = optimal(sim_post, np.sort(BUDGETS), probs=(0.5, 0.9))
    expected = expected[expected.quantity == quantity]
    np.testing.assert_allclose(y, expected["median"], rtol=1e-12)
    wide, narrow = bands(ax)  # drawn widest first
    for xi, yi in zip(x, y):
        lo90, hi90 = band_range(wide, xi)
        lo50, hi50 = band_range(narrow, xi)
        assert lo90 <= lo50 <= yi <= hi50 <= hi90
        assert hi90 > lo90  # a real band, not a line
    assert ax.get_xscale() == "log"
    assert ax.get_yscale() == ("linear" if quantity == "loss" else "log")
    assert ax.get_xlabel() == "training compute C (FLOP)"
    assert ax.get_ylabel() == FRONTIER[quantity][0] and "*" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["fitted runs' compute range", "90% credible interval",
                      "50% credible interval", "posterior median"]


def test_frontier_shades_the_fitted_compute_range(sim_post):
    fitted = sim_post.runs_table["C"]
    ax = plot_frontier(sim_post, [fitted.min() * 10, fitted.max() * 100], "D", probs=(0.9,))
    assert len(bands(ax)) == 1
    (span,) = ax.patches
    x = span.get_patch_transform().transform(span.get_path().vertices)[:, 0]
    # clipped to the plotted budgets on the left, ending at the largest fitted run
    assert x.min() == pytest.approx(fitted.min() * 10) and x.max() == pytest.approx(fitted.max())
    beyond = plot_frontier(sim_post, [fitted.max() * 10, fitted.max() * 1e3])
    assert not beyond.patches  # nothing fitted in range: nothing shaded


def test_isoflop_draws_one_profile_per_budget(sim_post):
    budgets = [1e20, 1e21, 1e22]
    ax = plot_isoflop(sim_post, budgets, num=41, prob=0.9)
    lines, polys = data_lines(ax), bands(ax)
    assert len(lines) == len(polys) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "1e+20 FLOP", "1e+21 FLOP", "1e+22 FLOP"]
    colours = [to_rgb(line.get_color()) for line in lines]
    assert len(set(colours)) == 3
    assert [to_rgb(p.get_facecolor()[0][:3]) for p in polys] == colours
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert ax.get_xlabel().startswith("parameters N") and ax.get_ylabel() == "expected loss"
    best = optimal(sim_post, budgets, probs=(0.9,))
    best = best[best.quantity == "N"].reset_index(drop=True)
    markers = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(markers) == 3
    for line, band, marker, (_, star) in zip(lines, polys, markers, best.iterrows()):
        x, y = line.get_xdata(), line.get_ydata()
        assert len(x) == 41 and x[0] < star["median"] < x[-1]
        for xi, yi in zip(x, y):
            lo, hi = band_range(band, xi)
            assert lo <= yi <= hi
        (mx,), (my,) = marker.get_xdata(), marker.get_ydata()
        assert mx == pytest.approx(star["median"], rel=1e-9)
        assert my <= y.min() + 1e-3  # the marker sits at the bottom of the U
        assert y[0] > my + 0.05 and y[-1] > my + 0.05


def test_isoflop_curve_is_the_law_along_fixed_compute(sim_post):
    """The median curve equals the law per draw (plain NumPy) at D = C / (k N)."""
    ax = plot_isoflop(sim_post, [1e21], num=5)
    (line,) = data_lines(ax)
    p = sim_post.draws(["E", "A", "alpha", "B", "beta"])
    k = sim_post.flops_per_param_token
    for n, y in zip(line.get_xdata(), line.get_ydata()):
        d = 1e21 / (k * n)
        loss = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]
        assert y == pytest.approx(np.median(loss), rel=1e-5)


@pytest.mark.parametrize("draw", [
    lambda post, ax: plot_frontier(post, [1e20, 1e22], "tokens_per_param", ax=ax),
    lambda post, ax: plot_isoflop(post, [1e20], ax=ax, num=5)])
def test_draws_into_the_given_axes(sim_post, draw):
    fig, (left, right) = plt.subplots(1, 2)
    assert draw(sim_post, right) is right
    assert plt.get_fignums() == [fig.number]  # no new figure
    assert right.lines and not left.lines and not left.collections


def test_new_figure_without_axes(sim_post):
    ax = plot_frontier(sim_post, [1e20, 1e22])
    assert isinstance(ax, matplotlib.axes.Axes) and plt.get_fignums() == [ax.figure.number]


@pytest.mark.parametrize("call, match", [
    (lambda p: plot_frontier(p, [1e21], "params"),
     "unknown quantity 'params'; choose one of 'N', 'D', 'tokens_per_param', 'loss'"),
    (lambda p: plot_frontier(p, [1e21], probs=(0.5, 1.0)), "interval probabilities"),
    (lambda p: plot_frontier(p, [1e21, -1e22]), "budgets .* must be positive"),
    (lambda p: plot_isoflop(p, [1e21], prob=0), "interval probabilities"),
    (lambda p: plot_isoflop(p, [1e21], num=2), "num must be a whole number"),
    (lambda p: plot_isoflop(p, [1e21], span=1), "span must be a factor > 1"),
    (lambda p: plot_isoflop(p, [0.0]), "budgets .* must be positive")])
def test_bad_input(sim_post, call, match):
    with pytest.raises(ValueError, match=match):
        call(sim_post)
    assert not plt.get_fignums()  # checked before any figure is made
