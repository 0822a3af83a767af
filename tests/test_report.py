"""The HTML report: parsed with the standard library; images decode, nothing external is
referenced, and the warnings section appears exactly when there is something to warn about."""

import base64
import copy
import io
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import jax
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from conftest import TEST_CONFIG  # noqa: E402
from matplotlib.image import imread  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.data import parse_points  # noqa: E402
from bayes_scaling.posterior import ConvergenceWarning, Posterior  # noqa: E402
from bayes_scaling.prediction import FAR_EXTRAPOLATION  # noqa: E402
from bayes_scaling.report import (  # noqa: E402
    default_budgets, render_report, report_warnings,
    residual_trends, write_report)

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What a browser would fetch or show: every tag with its attributes, sections, warnings."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.sections, self.warning_kinds, self._in_title = [], [], [], False
        self.title = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "li" and self.sections and self.sections[-1] == "warnings":
            self.warning_kinds.append(attrs.get("class"))
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag):
        self._in_title = False

    def attribute_values(self, *names):
        return [value for _, attrs in self.tags for name, value in attrs.items()
                if name in names and value is not None]

    def find(self, tag, **wanted):
        return [attrs for t, attrs in self.tags if t == tag
                and all(attrs.get(k) == v for k, v in wanted.items())]


def failed_gate(post):
    """The same posterior with three divergent transitions: it fails the gate."""
    idata = copy.deepcopy(post.idata)
    idata.sample_stats["diverging"].values[0, :3] = True
    return Posterior(idata)


@pytest.fixture(scope="module")
def plain_page(sim_post):
    """A converged fit, no forecast points: nothing to warn about."""
    return render_report(sim_post, key=jax.random.key(0))


def assert_self_contained(page):
    parsed = Page(page)
    images = parsed.find("img")
    assert len(images) == 3  # the fit, the residuals, the pairs
    for attrs in images:
        src = attrs["src"]
        assert src.startswith("data:image/png;base64,")
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw.startswith(PNG_SIGNATURE)
        pixels = imread(io.BytesIO(raw), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert pixels[..., :3].std() > 0.05  # not blank
        assert attrs["alt"]
    for value in parsed.attribute_values("src", "href", "srcset", "action", "data", "poster"):
        assert value.startswith(("data:", "#")), value
        assert not value.lower().startswith(("http:", "https:", "//", "file:"))
    assert not parsed.find("script") and not parsed.find("link") and not parsed.find("iframe")
    assert "url(" not in page and "@import" not in page  # no CSS fetches either
    return parsed


def test_report_of_a_converged_fit_is_self_contained_and_has_no_warnings(sim_post, plain_page):
    parsed = assert_self_contained(plain_page)
    assert plain_page.startswith("<!DOCTYPE html>")
    assert parsed.sections == ["data", "model", "parameters", "figures", "forecasts", "optimal"]
    assert "warnings" not in parsed.sections and not parsed.warning_kinds
    (verdict,) = parsed.find("p", id="verdict")
    assert verdict["class"] == "verdict pass"
    assert "PASS: the sampler converged" in plain_page
    for prior in sim_post.attrs["priors"].values():
        assert prior in plain_page
    for name in ("alpha", "beta", "r_hat", "ess_bulk", "divergent transitions", "min E-BFMI"):
        assert name in plain_page
    assert "No points were asked for" in plain_page
    assert plain_page.count("<tr>") >= 5 + 7 + 9 + 5 + len(default_budgets(sim_post))


def test_failed_gate_gets_the_warnings_section_and_a_fail_verdict(sim_post):
    post = failed_gate(sim_post)
    with pytest.warns(ConvergenceWarning, match="reporting from a fit that failed the gate"):
        page = render_report(post, key=jax.random.key(0))
    parsed = assert_self_contained(page)
    assert "warnings" in parsed.sections and parsed.warning_kinds == ["gate"]
    assert parsed.sections.index("warnings") == 0  # before everything else
    (verdict,) = parsed.find("p", id="verdict")
    assert verdict["class"] == "verdict fail"
    assert "3 divergent transitions" in page and "Do not trust the numbers" in page
    assert "<td>FAIL</td>" in page


def test_far_forecasts_are_warned_about_but_not_as_a_gate_failure(sim_post):
    page = render_report(sim_post, key=jax.random.key(0),
                         at=parse_points("700B:14T,1B:20B"), budgets=[1e21, 1e25])
    parsed = assert_self_contained(page)
    assert parsed.warning_kinds == ["extrapolation", "extrapolation"]  # 700B/14T and 1e25
    assert "Forecast point 0" in page and "Forecast point 1" not in page
    assert "The budget 1e+25 FLOP" in page
    (verdict,) = parsed.find("p", id="verdict")
    assert verdict["class"] == "verdict pass"
    assert "forecasts" in parsed.sections and "No points were asked for" not in page


def test_warnings_name_a_posterior_pressing_on_its_prior_bound(sim_post):
    assert report_warnings(sim_post) == []
    idata = copy.deepcopy(sim_post.idata)
    median = float(np.median(idata.posterior["sigma"].values))
    priors = json.loads(idata.posterior.attrs["priors"])
    priors["sigma"] = f"Uniform(low=0, high={median:.6g})"
    idata.posterior.attrs["priors"] = json.dumps(priors)
    (warning,) = report_warnings(Posterior(idata))
    assert warning.kind == "prior-bound"
    assert warning.text.startswith(f"The posterior of sigma presses against the upper bound "
                                   f"{float(f'{median:.6g}'):g}")


def test_no_residual_trend_in_a_well_specified_fit(sim_post):
    trends = residual_trends(sim_post, key=jax.random.key(0))
    assert list(trends["axis"].unique()) == ["N", "D", "C"]
    assert all(3 <= n <= 8 for n in trends.groupby("axis").size())  # bins of >= 3 runs
    assert trends["runs"].min() >= 3
    assert ((trends["p_adjusted"] > 0) & (trends["p_adjusted"] <= 1)).all()
    assert not trends["trend"].any() and trends["p_adjusted"].min() > 0.2
    assert report_warnings(sim_post, key=jax.random.key(0)) == []


@pytest.fixture(scope="module")
def bumped_post(sim_runs):
    """A misspecified fit: the simulated runs with a bump in the middle of the D range (loss up
    by up to 5%, over about one e-fold either side) that no Chinchilla law can follow."""
    frame = sim_runs.to_frame()
    log_d = np.log(frame["D"].to_numpy())
    bump = 0.05 * np.exp(-0.5 * ((log_d - np.median(log_d)) / 0.8) ** 2)
    runs = bs.load_runs(frame.assign(loss=frame["loss"] * np.exp(bump))[["N", "D", "loss"]])
    return bs.fit(runs, key=jax.random.key(1), config=TEST_CONFIG)  # the session's sampler


def test_residual_trend_is_warned_about_in_a_misspecified_fit(bumped_post):
    assert bumped_post.check().ok  # it converged; the law is what is wrong
    trends = residual_trends(bumped_post, key=jax.random.key(0))
    flagged = trends[trends["trend"]]
    assert set(flagged["axis"]) == {"D"}
    top = trends[trends["axis"] == "D"].sort_values("z").iloc[-1]  # furthest above the law
    middle = np.exp(np.median(np.log(bumped_post.runs_table["D"])))
    assert top["trend"] and top["low"] <= middle <= top["high"] and top["z"] > 3
    (warning,) = report_warnings(bumped_post, key=jax.random.key(0))
    assert warning.kind == "residual-trend"
    assert warning.text.startswith("The residuals drift with training tokens D: the ")
    assert f"with D from {top['low']:.3g} to {top['high']:.3g} lie " in warning.text
    page = render_report(bumped_post, key=jax.random.key(0))
    parsed = assert_self_contained(page)
    assert parsed.warning_kinds == ["residual-trend"]
    (verdict,) = parsed.find("p", id="verdict")
    assert verdict["class"] == "verdict pass"  # converged: a misfit is not a gate failure


@pytest.mark.slow
def test_epoch_fit_residuals_rise_at_the_smallest_d(epoch_post):
    """On Epoch's 240 runs the smallest-D runs lie above the fitted law (seen in the residual
    plot against D): the report says so."""
    trends = residual_trends(epoch_post, key=jax.random.key(0))
    d = trends[trends["axis"] == "D"]
    smallest = d.sort_values("low").iloc[0]
    assert smallest["trend"] and smallest["median_residual"] > 0.01
    kinds = [w.kind for w in report_warnings(epoch_post, key=jax.random.key(0))]
    assert "residual-trend" in kinds


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OKABE_BLUE = np.array([0x00, 0x72, 0xB2]) / 255  # the fit's lines and runs; not in the page's CSS


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not on PATH (Debian packages chromium "
                    "and chromium-driver); the headless screenshot of the report needs it")
def test_report_renders_in_headless_chromium(plain_page, tmp_path):
    """A browser opens the page offline and draws it, embedded plots included."""
    page = tmp_path / "report.html"
    page.write_text(plain_page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    command = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,3200",
               f"--screenshot={shot}", page.as_uri()]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.exists(), out.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (3200, 1280)
    assert pixels.std() > 0.05 and (pixels < 0.5).mean() > 0.002  # not blank: text and lines
    blue = np.all(np.abs(pixels - OKABE_BLUE) < 0.06, axis=-1)
    assert blue.sum() > 500  # the embedded plots were decoded and drawn


def test_default_budgets_stay_within_reach_of_the_data(sim_post):
    budgets = default_budgets(sim_post)
    flops = sim_post.runs_table["C"]
    assert 2 <= len(budgets) <= 6 and budgets == sorted(budgets)
    assert budgets[0] <= np.median(flops) and budgets[-1] <= FAR_EXTRAPOLATION * flops.max()
    assert np.allclose(np.log10(budgets), np.round(np.log10(budgets)))


@pytest.mark.parametrize("text, match", [
    ("70B", "write each point as PARAMS:TOKENS"),
    ("70B:1.4T:3", "write each point as PARAMS:TOKENS"),
    ("70X:1T", "--at"),
    (" , ", "no points"),
])
def test_parse_points_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_points(text)


def test_write_report_never_overwrites_unless_forced(sim_post, tmp_path, monkeypatch):
    import bayes_scaling.report as report

    monkeypatch.setattr(report, "render_report", lambda post, **options: "<!DOCTYPE html>new")
    path = tmp_path / "report.html"
    path.write_text("old")
    with pytest.raises(FileExistsError, match="pass force=True"):
        write_report(sim_post, path, key=jax.random.key(0))
    assert path.read_text() == "old"
    write_report(sim_post, path, key=jax.random.key(0), force=True)
    assert path.read_text() == "<!DOCTYPE html>new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no partial left
