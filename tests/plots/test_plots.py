"""Plots: what is drawn (lines, bands, markers, scales, labels, legend), not only that it runs."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from bayes_scaling.allocation import optimal  # noqa: E402
from bayes_scaling.plots import (  # noqa: E402
    plot_frontier, plot_isoflop, plot_loo_pit, plot_ppc, plot_sbc)
from bayes_scaling.plots.planning import FRONTIER  # noqa: E402
from bayes_scaling.validation.checks import (  # noqa: E402
    loo_pit, pit_ecdf, rank_ecdf, replicated_losses)

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

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


# -- model checks ------------------------------------------------------------------------------

def ecdf_parts(ax):
    """The labelled-or-not ECDF-difference line (not the zero line) and its band."""
    (band,) = bands(ax)
    (line,) = [line for line in ax.lines if len(line.get_xdata()) > 2]
    return line, band


def inside_band(line, band):
    """Whether every point of the line lies within the band's polygon edges at its x."""
    return all(lo - 1e-12 <= y <= hi + 1e-12
               for x, y in zip(line.get_xdata(), line.get_ydata())
               for lo, hi in [band_range(band, x)])


def test_ppc_draws_an_interval_per_run_and_the_observed_losses(sim_post):
    ax = plot_ppc(sim_post, key=jax.random.key(0), prob=0.9)
    (intervals,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    inside, outside = [c for c in ax.collections if isinstance(c, PathCollection)]
    segments = intervals.get_segments()
    table = sim_post.runs_table
    assert len(segments) == len(table) == 245
    # one column per run, in order of compute; the intervals are the replicated quantiles
    order = np.lexsort((table["N"], table["C"]))
    rep = replicated_losses(sim_post, key=jax.random.key(0))
    lower, upper = np.quantile(rep, [0.05, 0.95], axis=(0, 1))
    np.testing.assert_allclose([s[:, 1] for s in segments],
                               np.column_stack([lower[order], upper[order]]), rtol=1e-12)
    np.testing.assert_array_equal([s[0, 0] for s in segments], np.arange(245))
    by_position = dict(zip(range(245), segments))
    points = {"in": inside.get_offsets(), "out": outside.get_offsets()}
    assert len(points["in"]) + len(points["out"]) == 245
    assert sorted(np.concatenate([points["in"][:, 1], points["out"][:, 1]])) == \
        pytest.approx(sorted(table["loss"]), rel=1e-12)
    for x, y in points["in"]:
        lo, hi = by_position[int(x)][:, 1]
        assert lo <= y <= hi
    for x, y in points["out"]:
        lo, hi = by_position[int(x)][:, 1]
        assert y < lo or y > hi
    assert 0.85 < len(points["in"]) / 245 < 0.95
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "loss"
    assert f"{len(points['in'])}/245 runs" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "90% interval of replicated losses", "observed loss, inside", "observed loss, outside"]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == f"{table['C'].min():.2g}" and ticks[-1] == f"{table['C'].max():.2g}"


def test_loo_pit_plot_is_the_ecdf_difference_inside_its_band(sim_post):
    ax = plot_loo_pit(sim_post, key=jax.random.key(0))
    line, band = ecdf_parts(ax)
    check = pit_ecdf(loo_pit(sim_post, key=jax.random.key(0)), 0.99)
    np.testing.assert_allclose(line.get_xdata(), np.concatenate([[0], check.z, [1]]))
    np.testing.assert_allclose(line.get_ydata()[1:-1], check.difference)
    assert line.get_ydata()[0] == line.get_ydata()[-1] == 0
    for x, lo, hi in zip(check.z, check.lower, check.upper):
        assert band_range(band, x) == pytest.approx((lo, hi))
    assert check.inside and inside_band(line, band)
    assert to_rgb(line.get_color()) == to_rgb("#0072B2")  # blue: inside
    assert "245 runs: inside the band" in ax.get_title() and "KS p = " in ax.get_title()
    assert ax.get_xlim() == (0, 1) and ax.get_xlabel() == "LOO-PIT value u"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "99% simultaneous band (uniform)", "ECDF of LOO-PIT minus uniform"]


def test_sbc_uniform_ranks_stay_inside_the_band():
    ranks = np.random.default_rng(3).integers(0, 200, size=(400, 3))
    axes = plot_sbc(ranks, 199, ["alpha", "beta", "E"])
    assert axes.shape == (3,) and all(isinstance(ax, matplotlib.axes.Axes) for ax in axes)
    assert len(plt.get_fignums()) == 1
    check = rank_ecdf(ranks, 199)
    for j, (ax, name) in enumerate(zip(axes, ["alpha", "beta", "E"])):
        line, band = ecdf_parts(ax)
        np.testing.assert_allclose(line.get_ydata()[1:-1], check.difference[:, j])
        assert inside_band(line, band)
        assert ax.get_title() == name and to_rgb(line.get_color()) == to_rgb("#0072B2")
    assert axes[0].get_legend() is not None and axes[1].get_legend() is None


def test_sbc_non_uniform_ranks_leave_the_band():
    rng = np.random.default_rng(4)
    ranks = np.column_stack([
        rng.binomial(199, 0.5, 400),                # posterior too wide: ranks pile in the middle
        np.minimum(rng.integers(0, 200, 400), rng.integers(0, 200, 400)),  # biased upwards
        rng.integers(0, 200, 400)])                 # calibrated
    axes = plot_sbc(ranks, 199, ["wide", "biased", "fine"])
    outside = []
    for ax in axes:
        line, band = ecdf_parts(ax)
        outside.append(not inside_band(line, band))
    assert outside == [True, True, False]
    assert [ax.get_title() for ax in axes] == [
        "wide: leaves the 99% band", "biased: leaves the 99% band", "fine"]
    assert to_rgb(ecdf_parts(axes[0])[0].get_color()) == to_rgb("#D55E00")  # vermillion


def test_sbc_histograms_and_given_axes():
    ranks = np.random.default_rng(5).integers(0, 100, size=(300, 2))
    fig, given = plt.subplots(2, 2)
    axes = plot_sbc(ranks, 99, ["a", "b"], axes=given, hist=True)
    assert axes.shape == (2, 2) and axes[1, 0] is given[1, 0]
    assert plt.get_fignums() == [fig.number]
    for j, ax in enumerate(axes[1]):
        (bars,) = ax.containers
        heights = [bar.get_height() for bar in bars]
        assert len(heights) == 20  # the default: 20 bins of 5 ranks each
        np.testing.assert_array_equal(heights, np.bincount(ranks[:, j] // 5, minlength=20))
        (span,) = [p for p in ax.patches if p not in bars]  # the band, one per panel
        y = span.get_patch_transform().transform(span.get_path().vertices)[:, 1]
        assert y.min() < 15 < y.max()  # about Binomial(300, 1/20)'s 99 % interval, 6-25


@pytest.mark.parametrize("call, match", [
    (lambda: plot_sbc(np.zeros((10, 2), int), 9, ["a"]), r"one name per parameter"),
    (lambda: plot_sbc(np.full((10, 1), 12), 9, ["a"]), r"ranks must lie in 0..max_rank"),
    (lambda: plot_sbc(np.zeros((10, 1), int), 9, ["a"], prob=1), "interval probabilities"),
    (lambda: plot_sbc(np.zeros((50, 1), int), 9, ["a"], hist=True, bins=3), "bins must"),
    (lambda: plot_sbc(np.zeros((10, 2), int), 9, ["a", "b"], axes=[None]), "axes must hold 2")])
def test_sbc_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    assert not plt.get_fignums()


@pytest.mark.parametrize("draw", [
    lambda post, ax: plot_ppc(post, key=jax.random.key(0), ax=ax),
    lambda post, ax: plot_loo_pit(post, key=jax.random.key(0), ax=ax)])
def test_checks_draw_into_the_given_axes(sim_post, draw):
    fig, (left, right) = plt.subplots(1, 2)
    assert draw(sim_post, right) is right
    assert plt.get_fignums() == [fig.number]
    assert right.collections and not left.lines and not left.collections


# -- the fit itself (plots_fit) -----------------------------------------------------------------
import copy  # noqa: E402

from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from bayes_scaling import forecast  # noqa: E402
from bayes_scaling.posterior import Posterior  # noqa: E402
from bayes_scaling.plots.fit import (  # noqa: E402
    fit_residuals, noise_interval, plot_fit, plot_pairs, plot_residuals)


def chinchilla_losses(post, N, D):
    """Expected loss per draw (rows) at N, D (columns), by hand in NumPy (float64)."""
    p = {k: v[:, None] for k, v in post.draws(["E", "A", "alpha", "B", "beta"]).items()}
    return p["E"] + p["A"] * np.asarray(N) ** -p["alpha"] + p["B"] * np.asarray(D) ** -p["beta"]


def width(band, x):
    lo, hi = band_range(band, x)
    return hi - lo


def test_fit_draws_each_group_as_a_median_inside_its_bands(sim_post):
    table = sim_post.runs_table
    ax = plot_fit(sim_post, groups=3)
    lines, polys = data_lines(ax), bands(ax)
    assert len(lines) == 3 and len(polys) == 2 * 3  # a 90% and a 50% band per group
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 3 and sum(len(c.get_offsets()) for c in scatters) == len(table)
    shade = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(shade) == 1  # the extrapolation region, from the largest N to the right edge
    left, right = ax.get_xlim()
    assert right == pytest.approx(10 * table["N"].max())
    assert shade[0].get_x() == pytest.approx(table["N"].max())
    for j, line in enumerate(lines):
        wide, narrow = polys[2 * j], polys[2 * j + 1]
        assert to_rgb(line.get_color()) == to_rgb(wide.get_facecolor()[0][:3])
        assert to_rgb(line.get_color()) == to_rgb(scatters[j].get_facecolor()[0][:3])
        x, y = line.get_xdata(), line.get_ydata()
        assert x[0] == pytest.approx(left) and x[-1] == pytest.approx(right)
        for xi, yi in zip(x[::7], y[::7]):
            lo90, hi90 = band_range(wide, xi)
            lo50, hi50 = band_range(narrow, xi)
            assert lo90 <= lo50 <= yi <= hi50 <= hi90 and hi90 > lo90
        # the band widens into the extrapolation region: by more than the Monte Carlo error of
        # a 90% band's width from these 2,000 draws (a few %); measured 1.45-1.6x with different
        # sampler draws of the same posterior
        inside = x[np.argmin(np.abs(np.log(x / np.median(table["N"]))))]
        assert width(wide, x[-1]) > 1.1 * width(wide, inside)
        # the curve is the law at the group's typical D (the label's "curve at ...")
        d_group = np.exp(np.log(table["D"][np.isclose(scatters[j].get_offsets()[:, 0][:, None],
                                                      table["N"].to_numpy()[None, :]).any(0)])
                         .mean())
        hand = np.median(chinchilla_losses(sim_post, x, d_group), axis=0)
        np.testing.assert_allclose(y, hand, rtol=2e-3)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "parameters N" and ax.get_ylabel() == "final loss"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("beyond the fitted runs") and labels[1].startswith("D ")
    assert labels[-2:] == ["90% credible interval of the expected loss",
                           "50% credible interval of the expected loss"]


def test_fit_shows_forecasts_with_their_intervals(sim_post):
    table = forecast(sim_post, N=[70e9, 7e9], D=[1.4e12, 1.4e11], key=jax.random.key(3))
    ax = plot_fit(sim_post, forecasts=table, forecast_prob=0.9)
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    marker, _, (segments,) = bars.lines
    observed = table[table["quantity"] == "observed"]
    np.testing.assert_allclose(marker.get_xdata(), observed["N"])
    np.testing.assert_allclose(marker.get_ydata(), observed["median"])
    ends = np.array([seg[:, 1] for seg in segments.get_segments()])
    np.testing.assert_allclose(np.sort(ends, axis=1), observed[["lo_90", "hi_90"]], rtol=1e-12)
    assert ax.get_xlim()[1] >= 70e9  # the axes reach the forecasts
    with pytest.raises(ValueError, match="forecasts lack column"):
        plot_fit(sim_post, forecasts=table, forecast_prob=0.8)


def test_fit_against_compute_is_the_compute_optimal_loss(sim_post):
    ax = plot_fit(sim_post, x="C", probs=(0.9,))
    (line,) = data_lines(ax)
    assert line.get_label() == "compute-optimal loss L*(C)"
    expected = optimal(sim_post, line.get_xdata(), probs=(0.9,))
    np.testing.assert_allclose(line.get_ydata(),
                               expected[expected.quantity == "loss"]["median"], rtol=1e-12)
    assert len(bands(ax)) == 1
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in scatters) == len(sim_post.runs_table)
    assert ax.get_xlabel() == "training compute C (FLOP)"


def test_fit_isoflop_groups_stay_near_their_runs(sim_post):
    ax = plot_fit(sim_post, color_by="C", groups=4)
    table = sim_post.runs_table
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(data_lines(ax)) == len(scatters) == 4
    for line, runs in zip(data_lines(ax), scatters):
        n = runs.get_offsets()[:, 0]
        x = line.get_xdata()
        assert x[0] == pytest.approx(n.min() / 1.5) and x[-1] == pytest.approx(n.max() * 1.5)
    assert ax.get_xlim()[1] == pytest.approx(1.3 * table["N"].max())  # no 10x reach


def isoflop_design(post, per_decade=2):
    """The same posterior with every run's C rounded to a grid of budgets (``per_decade`` a
    decade), N kept and D = C / (k·N): an IsoFLOP-like sweep to draw (the draws are unchanged)."""
    idata = copy.deepcopy(post.idata)
    const = idata.constant_data
    flops = 10 ** (np.round(np.log10(const["C"].values) * per_decade) / per_decade)
    const["C"].values[:] = flops
    const["D"].values[:] = flops / (post.flops_per_param_token * const["N"].values)
    return Posterior(idata)


def test_fit_isoflop_design_draws_a_curve_at_each_chosen_budget(sim_post):
    post = isoflop_design(sim_post)
    table = post.runs_table
    budgets = np.unique(table["C"])
    assert len(budgets) > 3 and len(table) >= 3 * len(budgets)  # a sweep's design
    ax = plot_fit(post, color_by="C", groups=3)
    *coloured, grey = [c for c in ax.collections if isinstance(c, PathCollection)]
    lines = data_lines(ax)
    kept = budgets[np.round(np.linspace(0, len(budgets) - 1, 3)).astype(int)]
    assert len(lines) == len(coloured) == 3
    for line, runs, budget in zip(lines, coloured, kept):
        assert line.get_label() == f"C ≈ {budget:.2g} FLOP"
        np.testing.assert_allclose(np.sort(runs.get_offsets()[:, 0]),
                                   np.sort(table["N"][table["C"] == budget]))
        x, y = line.get_xdata(), line.get_ydata()  # the law along N·D = C/k at that budget
        hand = chinchilla_losses(post, x, budget / (post.flops_per_param_token * x))
        np.testing.assert_allclose(y, np.median(hand, axis=0), rtol=2e-3)
    others = ~table["C"].isin(kept).to_numpy()
    np.testing.assert_allclose(np.sort(grey.get_offsets()[:, 0]), np.sort(table["N"][others]))
    assert to_rgb(grey.get_facecolor()[0][:3]) == to_rgb("#AAAAAA")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"runs at {len(budgets) - 3} other C values" in labels
    # under the compute-optimal curve there are no per-group curves: every run keeps a colour
    against_c = plot_fit(post, x="C", groups=3)
    scatters = [c for c in against_c.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 3 and sum(len(c.get_offsets()) for c in scatters) == len(table)


@pytest.mark.parametrize("kwargs", [{}, {"x": "C"}])
def test_fit_legend_keys_the_bands_apart_from_the_extrapolation(sim_post, kwargs):
    ax = plot_fit(sim_post, **kwargs)
    legend = ax.get_legend()
    handles = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles))
    (beyond,) = [h for label, h in handles.items() if label.startswith("beyond the fitted")]
    keys = [h for label, h in handles.items() if "credible interval" in label]
    assert len(keys) == 2 and beyond.get_hatch()

    def on_white(patch):  # the grey level a patch shows on a white background
        alpha = 1.0 if patch.get_alpha() is None else patch.get_alpha()
        return 1 - alpha * (1 - np.mean(to_rgb(patch.get_facecolor())))

    for key in keys:
        assert not key.get_hatch()
        assert on_white(key) < on_white(beyond) - 0.08
    assert on_white(keys[1]) < on_white(keys[0])  # the 50% key darker than the 90% key


@pytest.mark.parametrize("kwargs, match", [
    (dict(x="Q"), "x must be one of"),
    (dict(x="N", color_by="N"), "color_by must be one of"),
    (dict(groups=0), "groups must be a whole number from 1 to 7"),
    (dict(groups=8), "groups must be a whole number from 1 to 7"),
    (dict(extend=0.5), "extend must be a factor >= 1"),
    (dict(color_by=None), "with color_by=None plot a one-variable law"),
    (dict(probs=(0.5, 1.5)), "interval probabilities must lie in"),
])
def test_fit_bad_input(sim_post, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_fit(sim_post, **kwargs)


@pytest.mark.parametrize("against", ["N", "D", "C"])
def test_residuals_are_the_runs_minus_the_law_within_the_noise(sim_post, against):
    table = sim_post.runs_table
    ax = plot_residuals(sim_post, against, prob=0.9)
    inside, outside = [c for c in ax.collections if isinstance(c, PathCollection)]
    points = np.concatenate([inside.get_offsets(), outside.get_offsets()])
    assert len(points) == len(table)
    hand = np.log(table["loss"]) - np.median(np.log(chinchilla_losses(
        sim_post, table["N"], table["D"])), axis=0)
    residuals = fit_residuals(sim_post)
    np.testing.assert_allclose(residuals, hand, atol=3e-4)  # float32, 1000 of 2000 draws
    drawn = points[np.lexsort((points[:, 1], points[:, 0]))]
    x = table[against].to_numpy()
    np.testing.assert_allclose(drawn, np.column_stack([x, residuals])[np.lexsort((residuals, x))])
    lower, upper = noise_interval(sim_post, 0.9)
    (band,) = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert band.get_y() == pytest.approx(lower) and band.get_height() == pytest.approx(upper - lower)
    assert np.all(np.abs(inside.get_offsets()[:, 1]) <= upper)
    assert np.all(np.abs(outside.get_offsets()[:, 1]) > upper)
    # the simulation's noise is the model's: about 90% of 245 runs inside (±3 binomial sd)
    assert 0.84 <= len(inside.get_offsets()) / len(table) <= 0.96
    assert ax.get_xscale() == "log" and ax.get_xlabel().endswith(against + ("" if against != "C"
                                                                           else " (FLOP)"))
    assert "residual" in ax.get_ylabel() and "inside the 90% noise interval" in ax.get_title()
    (trend,) = data_lines(ax)[-1:]
    assert np.all(np.abs(trend.get_ydata()) < upper)  # no misfit trend in simulated data


def test_residuals_bad_input(sim_post):
    with pytest.raises(ValueError, match="against must be one of"):
        plot_residuals(sim_post, "loss")


def test_pairs_is_a_corner_of_the_law_parameters(sim_post):
    names = ["E", "A", "alpha", "B", "beta"]
    axes = plot_pairs(sim_post, max_draws=500)
    assert axes.shape == (5, 5)
    draws = sim_post.draws(names)
    step = -(-len(draws["E"]) // 500)  # plot_pairs thins to at most max_draws
    for i in range(5):
        assert [axes[i, j].axison for j in range(5)] == [True] * (i + 1) + [False] * (4 - i)
        diagonal = axes[i, i]
        assert len(diagonal.patches) == 30  # histogram bars
        lo, mid, hi = np.quantile(draws[names[i]][::step], [0.05, 0.5, 0.95])
        np.testing.assert_allclose(sorted(line.get_xdata()[0] for line in diagonal.lines),
                                   [lo, mid, hi])
        for j in range(i):
            (scatter,) = axes[i, j].collections
            np.testing.assert_allclose(scatter.get_offsets(),
                                       np.column_stack([draws[names[j]][::step],
                                                        draws[names[i]][::step]]))
    assert [ax.get_xlabel() for ax in axes[-1]] == ["E", "A", "α", "B", "β"]
    assert [ax.get_ylabel() for ax in axes[1:, 0]] == ["A", "α", "B", "β"]
    with pytest.raises(ValueError, match="at least two"):
        plot_pairs(sim_post, ["E"])


@pytest.mark.parametrize("draw", [plot_fit, plot_residuals])
def test_fit_plots_draw_into_the_given_axes(sim_post, draw):
    fig, ax = plt.subplots()
    assert draw(sim_post, ax=ax) is ax
    assert len(fig.axes) == 1


# -- backtests (plots_backtest) -----------------------------------------------------------------
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from bayes_scaling.plots.backtest import (  # noqa: E402
    DISTANCE_LABEL, OFFSET, plot_backtest, plot_rolling_backtest)


def backtest_runs():
    """Two methods' forecasts of the same 6 held-out runs, as `validate.backtest` tabulates
    them: errors growing with the distance, the second method's faster and its intervals
    narrower, so it misses more (bayes: the 3 nearest runs inside; the other: the nearest)."""
    distance = np.array([1.2, 1.5, 2.0, 2.6, 3.3, 4.4])
    loss = np.array([2.10, 2.07, 2.03, 2.00, 1.97, 1.94])
    frames = []
    for method, bias, half in (("bayes", 0.004, 0.012), ("huber-bootstrap", 0.008, 0.008)):
        median = loss * (1 + bias * np.log(distance) * 4)
        frame = pd.DataFrame({"method": method, "C_vs_train": distance, "loss": loss,
                              "median": median, "lo_90": median * (1 - half),
                              "hi_90": median * (1 + half)})
        frame["rel_error"] = frame["median"] / frame["loss"] - 1
        frame["in_90"] = (frame["lo_90"] <= frame["loss"]) & (frame["loss"] <= frame["hi_90"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_backtest_plot_draws_each_runs_error_with_its_interval():
    runs = backtest_runs()
    ax = plot_backtest(runs, prob=0.9)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(bars) == 2 and len(points) == 4  # per method: inside (filled), outside (open)
    for j, (method, part) in enumerate(runs.groupby("method", sort=False)):
        x = part["C_vs_train"].to_numpy() * OFFSET ** j
        (segments,) = bars[j].lines[2]
        ends = np.sort(np.array([seg[:, 1] for seg in segments.get_segments()]), axis=1)
        np.testing.assert_allclose(ends, np.column_stack([part["lo_90"] / part["loss"] - 1,
                                                          part["hi_90"] / part["loss"] - 1]))
        np.testing.assert_allclose([seg[0, 0] for seg in segments.get_segments()], x)
        inside, outside = points[2 * j], points[2 * j + 1]
        hit = part["in_90"].to_numpy()
        np.testing.assert_allclose(inside.get_offsets(),
                                   np.column_stack([x[hit], part["rel_error"][hit]]))
        np.testing.assert_allclose(outside.get_offsets(),
                                   np.column_stack([x[~hit], part["rel_error"][~hit]]))
        # a run is inside exactly when its bar crosses the observed loss (the line at 0)
        assert np.array_equal(hit, (ends[:, 0] <= 0) & (0 <= ends[:, 1]))
        assert to_rgb(outside.get_facecolor()[0][:3]) == (1.0, 1.0, 1.0)  # open markers
    assert [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "-"] == [0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["bayes: 3 of 6 inside the 90% interval",
                      "huber-bootstrap: 1 of 6 inside the 90% interval"]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == DISTANCE_LABEL
    assert "relative error" in ax.get_ylabel() and ax.get_title().startswith("6 held-out runs")


def rolling_table():
    """Summaries of backtests at three cutoffs, as `validation.backtest.rolling_backtest` stacks them."""
    rows = []
    for held, distance, coverage, error in ((24, 1.6, 0.875, 0.004), (48, 2.4, 0.75, 0.006),
                                            (72, 3.9, 0.5, 0.011)):
        rows.append({"method": "bayes", "held_out": held, "median_C_vs_train": distance,
                     "coverage_90": coverage, "median_abs_rel_error": error})
        rows.append({"method": "huber-bootstrap", "held_out": held,
                     "median_C_vs_train": distance, "coverage_90": coverage - 0.1,
                     "median_abs_rel_error": 1.5 * error})
    return pd.DataFrame(rows[::-1])  # out of order on purpose


@pytest.mark.parametrize("quantity, column", [("coverage", "coverage_90"),
                                              ("error", "median_abs_rel_error")])
def test_rolling_backtest_plot_draws_each_method_against_the_distance(quantity, column):
    table = rolling_table()
    ax = plot_rolling_backtest(table, quantity=quantity, prob=0.9)
    methods = [line for line in ax.lines if line.get_label() in ("bayes", "huber-bootstrap")]
    assert [line.get_label() for line in methods] == ["huber-bootstrap", "bayes"]  # table order
    for line in methods:
        part = table[table["method"] == line.get_label()].sort_values("median_C_vs_train")
        np.testing.assert_allclose(line.get_xdata(), part["median_C_vs_train"])
        np.testing.assert_allclose(line.get_ydata(), part[column])
    assert ax.get_xscale() == "log" and ax.get_xlabel() == DISTANCE_LABEL
    if quantity == "error":
        assert not bands(ax) and ax.get_ylim()[0] == 0
        return
    (nominal,) = [line for line in ax.lines if line.get_label() == "nominal 90%"]
    assert nominal.get_ydata()[0] == 0.9
    (band,) = bands(ax)  # where a calibrated method's share falls with that many runs
    for held, distance in zip((24, 48, 72), (1.6, 2.4, 3.9)):
        low, high = band_range(band, distance)
        assert low == pytest.approx(stats.binom.ppf(0.05, held, 0.9) / held)
        assert high == pytest.approx(stats.binom.ppf(0.95, held, 0.9) / held)
        assert low < 0.9 < high
    assert ax.get_ylabel() == "share of held-out runs inside the 90% interval"
    assert ax.get_ylim()[1] == pytest.approx(1.02)


@pytest.mark.parametrize("call, match", [
    (lambda: plot_backtest(backtest_runs(), prob=0.5), r"lacks column\(s\) \['lo_50'"),
    (lambda: plot_rolling_backtest(rolling_table(), quantity="lpd"), "quantity must be one of"),
    (lambda: plot_rolling_backtest(rolling_table(), prob=0.95), "coverage_95"),
    (lambda: plot_backtest(backtest_runs(), prob=1.5), "interval probabilities must lie in"),
])
def test_backtest_plots_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("draw", [lambda ax: plot_backtest(backtest_runs(), ax=ax),
                                  lambda ax: plot_rolling_backtest(rolling_table(), ax=ax)])
def test_backtest_plots_draw_into_the_given_axes(draw):
    fig, (left, right) = plt.subplots(1, 2)
    assert draw(right) is right
    assert plt.get_fignums() == [fig.number] and not left.lines and not left.collections
