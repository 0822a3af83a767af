"""End-to-end: the real ``bayes-scaling`` console script in a subprocess."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import console_env

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

# 1000 draws a chain: at 400, R-hat's own noise puts a converged fit at the gate's edge.
SMALL = ["--warmup", "500", "--samples", "1000"]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    """One compile cache for the module's processes: the first compiles, the rest reuse it."""
    return console_env(tmp_path_factory.mktemp("jax_cache"))


def run(args, env, cwd, ok=True):
    exe = shutil.which("bayes-scaling")
    assert exe, "the bayes-scaling console script is not installed"
    out = subprocess.run([exe, *args], env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=600)
    if ok:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def epoch_fit(datasets_dir, cli_env, tmp_path_factory):
    """Fit Epoch's 240 points from the raw file, with its own column names."""
    cwd = tmp_path_factory.mktemp("fit")
    csv = os.path.join(datasets_dir, "chinchilla", "svg_extracted_data.csv")
    out = run(["fit", csv, "-o", "fit.nc", "--where", "loss < 3.4469", *SMALL], cli_env, cwd)
    return cwd, out


def test_fit_prints_summary_and_reports_dropped_rows(epoch_fit):
    cwd, out = epoch_fit
    assert (cwd / "fit.nc").exists()
    for name in ("alpha", "beta", "sigma", "nu", "ess_bulk", "r_hat", " a ", " b "):
        assert name in out.stdout
    assert "divergences: 0" in out.stdout and "diagnostics OK" in out.stdout
    assert "dropped 5 of 245 runs not matching 'loss < 3.4469'" in out.stderr
    assert "columns: N <- 'Model Size', C <- 'Training FLOP', loss <- 'loss', D derived" in out.stderr
    assert "priors: E ~ HalfNormal(" in out.stdout and "sampler: NUTS, 4 chains" in out.stdout
    assert "of 2 cpu devices" in out.stderr and "wrote fit.nc" in out.stderr


def run_on_terminal(args, env, cwd):
    """Run the CLI with stdout and stderr on a pseudo-terminal; returns (exit code, output)."""
    import pty
    import threading

    leader, follower = pty.openpty()
    proc = subprocess.Popen([shutil.which("bayes-scaling"), *args], env=env, cwd=cwd,
                            stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []

    def drain():  # read as it comes: a full terminal buffer would block the fit
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    code = proc.wait(timeout=600)
    reader.join(timeout=10)
    os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


def test_fit_shows_progress_on_a_terminal_unless_quiet(datasets_dir, cli_env, tmp_path):
    csv = os.path.join(datasets_dir, "chinchilla", "svg_extracted_data.csv")
    code, shown = run_on_terminal(["fit", csv, "-o", "a.nc", *SMALL], cli_env, tmp_path)
    assert code == 0, shown[-2000:]
    assert "NUTS 4 chains: compiling" in shown, shown[-2000:]
    assert "NUTS 4 chains: sampling, 4/4 chains done: 100%" in shown, shown[-2000:]
    code, quiet = run_on_terminal(["fit", csv, "-o", "b.nc", "--quiet", *SMALL], cli_env,
                                  tmp_path)
    assert code == 0 and "chains done" not in quiet and "compiling" not in quiet, quiet[-2000:]


def test_output_path_is_checked_before_any_work(datasets_dir, cli_env, tmp_path):
    csv = os.path.join(datasets_dir, "chinchilla", "svg_extracted_data.csv")
    for output, message in [(str(tmp_path), "it is a directory; name a file in it"),
                            ("fit.csv", "this file is written as .nc; name it *.nc"),
                            ("missing/fit.nc", "does not exist")]:
        out = run(["fit", csv, "-o", output], cli_env, tmp_path, ok=False)
        assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]
        assert "fitting" not in out.stderr  # refused before the fit started
    assert os.listdir(tmp_path) == []


def test_failed_gate_exits_3_and_strict_writes_nothing(sim_runs, cli_env, tmp_path):
    """Too few draws for the gate's ESS (and no remedy allowed): the fit is written (and says
    so) with exit status 3, so a script can tell; with --strict nothing is written."""
    sim_runs.to_frame().to_csv(tmp_path / "runs.csv", index=False)
    short = ["--warmup", "50", "--samples", "50", "--no-remedy"]
    out = run(["fit", "runs.csv", "-o", "loose.nc", *short], cli_env, tmp_path, ok=False)
    assert out.returncode == 3 and "DIAGNOSTICS GATE" in out.stderr, out.stderr[-2000:]
    assert (tmp_path / "loose.nc").exists()
    out = run(["fit", "runs.csv", "-o", "strict.nc", "--strict", *short], cli_env, tmp_path,
              ok=False)
    assert out.returncode == 3 and "did not write strict.nc" in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "strict.nc").exists()


def interrupt_on_terminal(args, env, cwd, marker):
    """Start the CLI on a pseudo-terminal, send SIGINT once ``marker`` appears in its output;
    returns (exit status, seconds from the signal to the exit, the whole output)."""
    import pty
    import select
    import signal
    import time

    leader, follower = pty.openpty()
    proc = subprocess.Popen([shutil.which("bayes-scaling"), *args], env=env, cwd=cwd,
                            stdout=follower, stderr=follower)
    os.close(follower)
    shown, sent, deadline = b"", None, time.monotonic() + 600
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.05)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the CLI exited and closed the terminal
            break
        shown += chunk
        if sent is None and marker.encode() in shown:
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
        if ready and not chunk:
            break
    code = proc.wait(timeout=60)
    waited = time.monotonic() - sent if sent else None
    os.close(leader)
    return code, waited, shown.decode(errors="replace")


@pytest.mark.parametrize("stage", ["compiling", "warmup,"])
def test_ctrl_c_stops_a_fit_at_once_at_any_stage(sim_runs, tmp_path, stage):
    """Ctrl-C while the sampler compiles or samples: exit 130 within 2 s, one line, no file
    (without the watcher it waited for XLA to return, then printed a traceback)."""
    sim_runs.to_frame().to_csv(tmp_path / "runs.csv", index=False)
    env = {**console_env(tmp_path / "cache"), "BAYES_SCALING_NO_CACHE": "1"}  # compile anew
    code, waited, shown = interrupt_on_terminal(
        ["fit", "runs.csv", "-o", "fit.nc", "--warmup", "20000", "--samples", "20000"], env,
        tmp_path, marker=stage)
    assert waited is not None, shown[-2000:]  # the stage was reached
    assert code == 130 and waited < 2.0, (code, waited, shown[-2000:])
    assert shown.rstrip().endswith("bayes-scaling: interrupted") and "Traceback" not in shown
    assert sorted(os.listdir(tmp_path)) == ["runs.csv"]  # nothing written, nothing partial


def test_ctrl_c_during_the_demo_leaves_nothing_that_blocks_a_rerun(tmp_path):
    """The demo writes its runs before it fits: interrupted, it removes them and the folder it
    made, so the same command can be run again (it refused: 'runs.csv exists')."""
    env = {**console_env(tmp_path / "cache"), "BAYES_SCALING_NO_CACHE": "1"}
    code, waited, shown = interrupt_on_terminal(
        ["demo", "--out", "demo", "--warmup", "20000", "--samples", "20000"], env, tmp_path,
        marker="warmup,")
    assert waited is not None and code == 130, (code, shown[-2000:])
    assert os.listdir(tmp_path) == [], shown[-2000:]


def test_summary_json_and_csv(epoch_fit, cli_env):
    cwd, _ = epoch_fit
    payload = json.loads(run(["summary", "fit.nc", "--json"], cli_env, cwd).stdout)
    assert payload["diagnostics"]["ok"] and payload["num_runs"] == 240
    assert payload["priors"]["sigma"] == "HalfNormal(scale=0.1)"
    assert payload["sampler"]["num_samples"] == 1000
    rows = {row["param"]: row for row in payload["table"]}
    assert 0.317 <= rows["alpha"]["median"] <= 0.373
    table = pd.read_csv(pd.io.common.StringIO(run(["summary", "fit.nc", "--csv"], cli_env,
                                                   cwd).stdout))
    assert list(table["param"]) == ["E", "A", "alpha", "B", "beta", "sigma", "nu", "a", "b"]


def test_forecast_points_flags_and_file(epoch_fit, cli_env):
    cwd, _ = epoch_fit
    out = run(["forecast", "fit.nc", "--params", "70B", "--tokens", "1.4T", "--json"], cli_env, cwd)
    rows = json.loads(out.stdout)["table"]
    assert len(rows) == 2 and rows[0]["C"] == pytest.approx(5.88e23)
    assert rows[0]["C_vs_max"] > 10  # far beyond the largest Chinchilla sweep run
    assert "note: point 0 lies" in out.stderr and "assume the law still holds" in out.stderr
    assert all(r["lo_95"] < r["median"] < r["hi_95"] for r in rows)
    text = run(["forecast", "fit.nc", "--params", "7B,70B", "--flops", "1e22,5.88e23",
                "--probs", "0.8"], cli_env, cwd).stdout
    assert "lo_80" in text and "hi_80" in text and "max C" in text
    (cwd / "points.csv").write_text("params,tokens\n1B,20B\n10B,200B\n")
    csv = run(["forecast", "fit.nc", "--points", "points.csv", "--csv"], cli_env, cwd).stdout
    assert len(pd.read_csv(pd.io.common.StringIO(csv))) == 4


def test_output_is_never_overwritten(epoch_fit, cli_env, datasets_dir):
    cwd, _ = epoch_fit
    before = (cwd / "fit.nc").stat().st_mtime
    csv = os.path.join(datasets_dir, "chinchilla", "svg_extracted_data.csv")
    out = run(["fit", csv, "-o", "fit.nc"], cli_env, cwd, ok=False)
    assert out.returncode == 2 and "fit.nc exists; pass --force" in out.stderr
    assert (cwd / "fit.nc").stat().st_mtime == before


def test_forecast_says_what_its_intervals_include_beyond_the_data(epoch_fit, cli_env):
    """Default ('sweep'): the field's discrepancy updated by the internal backtest that 'fit'
    ran on the fit's runs, named with its provenance; 'field' is the field's alone; 'none' is
    the plain predictive, and narrower."""
    cwd, _ = epoch_fit
    args = ["forecast", "fit.nc", "--params", "70B", "--tokens", "1.4T", "--json"]
    width = {}
    for choice in ("field", "sweep", "none", None):
        out = run(args + ([] if choice is None else ["--discrepancy", choice]), cli_env, cwd)
        observed = json.loads(out.stdout)["table"][1]
        assert observed["quantity"] == "observed"
        width[choice] = observed["hi_90"] - observed["lo_90"]
        if choice == "none":
            assert "plain posterior predictive" in out.stderr
        else:
            assert "include the law's own error" in out.stderr
            assert "learned across 19 public sweeps" in out.stderr
            assert "extrapolation discrepancy" in out.stderr
        assert ("updated by an internal backtest" in out.stderr) == (choice in ("sweep", None))
    assert width[None] == width["sweep"]
    assert width["none"] < width["field"] and width["none"] < width["sweep"]
    bad = run(args + ["--discrepancy", "feild"], cli_env, cwd, ok=False)
    assert bad.returncode == 2 and "--discrepancy must be 'sweep', 'field'" in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["fit", "missing.csv"], "missing.csv: no such file"),
    (["fit", "bad.csv"], "bad.csv, line 3, column 'loss' (loss): cannot read 'oops'"),
    (["fit", "good.csv", "--loss-col", "Loss"], "column 'Loss' given for loss is not in the data"),
    (["fit", "good.csv", "--prior", "alpha=Betta(2,5)"], "unknown distribution 'Betta'"),
    (["fit", "good.csv", "--prior", "gamma=Normal(0,1)"], "unknown parameter(s) ['gamma']"),
    (["fit", "good.csv", "--where", "los < 3"], "unknown column 'los'"),
    (["fit"], "give a runs CSV file or --dataset NAME"),
    (["forecast", "missing.nc", "--params", "7B", "--tokens", "1T"], "no such fit file"),
    (["forecast", "good.csv", "--params", "7B", "--tokens", "1T"], "not a bayes_scaling fit file"),
    (["backtest", "good.csv", "--cutoff-flops", "1e30"], "nothing to hold out"),
    (["backtest", "good.csv", "--holdout-top", "0.5"], "leaves 4 training runs, fewer than the 7"),
    (["backtest", "good.csv", "--rolling", "--holdout-top", "0.2"], "--rolling picks its own"),
])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, cli_env, args, message):
    (tmp_path / "bad.csv").write_text("N,D,loss\n1e8,1e9,3\n2e8,2e9,oops\n")
    rows = "".join(f"{n}e8,{n}e9,{3 - n / 10}\n" for n in range(1, 10))
    (tmp_path / "good.csv").write_text("N,D,loss\n" + rows)
    out = run(args, cli_env, tmp_path, ok=False)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_too_few_runs_are_refused_before_the_fit_is_announced(tmp_path, cli_env):
    (tmp_path / "one.csv").write_text("N,D,loss\n1e8,2e9,3.1\n")
    out = run(["fit", "one.csv"], cli_env, tmp_path, ok=False)
    assert out.returncode == 2 and "1 run is too few to fit 7 parameters" in out.stderr
    assert "fitting chinchilla" not in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, message", [
    (["fit", "missing.csv"], "missing.csv: no such file"),
    (["report", "missing.nc"], "missing.nc: no such fit file"),
    (["emergence", "missing.csv"], "missing.csv: no such file"),
])
def test_a_missing_file_fails_before_jax_loads(tmp_path, args, message):
    """A mistyped path is the commonest mistake: it is refused before the library and JAX are
    imported (about 3 s), so the answer comes at once."""
    code = ("import sys\nfrom bayes_scaling import cli\n"
            f"code = cli.main({args!r})\nprint(code, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split() == ["2", "False"], out.stderr
    assert message in out.stderr


def test_json_and_csv_are_exclusive(tmp_path, cli_env):
    out = run(["summary", "fit.nc", "--json", "--csv"], cli_env, tmp_path, ok=False)
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


def test_typo_in_a_flag(tmp_path, cli_env):
    out = run(["fit", "runs.csv", "--sample", "10"], cli_env, tmp_path, ok=False)
    assert out.returncode == 2 and "unrecognized arguments: --sample" in out.stderr


def test_an_input_error_comes_before_jax_is_imported(tmp_path, cli_env):
    """A mistake in the runs or scores file (a misspelt column, a unit mistake) is reported
    before JAX is imported, which takes a second: the process never imports it."""
    (tmp_path / "runs.csv").write_text("params,tokens,los\n1e8,2e9,3.1\n2e8,4e9,3.0\n")
    (tmp_path / "ppl.csv").write_text("params,tokens,loss\n1e8,2e9,31\n2e8,4e9,25\n4e8,8e9,20\n")
    (tmp_path / "scores.csv").write_text("params,task,score\n0.1,a,0.3\n0.2,a,0.4\n0.4,a,0.5\n")
    check = ("import sys; from bayes_scaling.cli.main import main; "
             "code = main(sys.argv[1:]); print(code, 'jax' in sys.modules)")
    for argv, message in ((["fit", "runs.csv", "--law", "chinchilla"], "no loss column found"),
                          (["fit", "ppl.csv", "--law", "chinchilla"], "perplexity"),
                          (["emergence", "scores.csv"], "if they are in billions"),
                          (["emergence", "scores.csv", "--score-col", "acc"], "'acc'")):
        out = subprocess.run([sys.executable, "-c", check, *argv], env=cli_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.stdout.split() == ["2", "False"] and message in out.stderr, out.stderr


def test_column_flags_are_x_col_and_0_1_spellings_still_work_with_a_note(capsys):
    """In-process: a column is --X-col everywhere (values are --X); 0.1's --params COLUMN for
    a column still works for one release, says so, and is never suggested for a typo."""
    from bayes_scaling import cli

    assert cli.main(["fit", "missing.csv", "--params", "N", "--loss", "L"]) == 2
    err = capsys.readouterr().err
    assert "note: --params COLUMN is now --params-col COLUMN" in err
    assert "note: --loss COLUMN is now --loss-col COLUMN" in err
    assert "missing.csv: no such file" in err
    with pytest.raises(SystemExit):
        cli.main(["emergence", "scores.csv", "--group-co", "family"])
    assert "(did you mean --group-col?)" in capsys.readouterr().err


@pytest.mark.filterwarnings("default")  # as a user's shell has it (the suite turns them to errors)
def test_library_warnings_are_one_plain_line(tmp_path, capsys, monkeypatch):
    """A unit warning reads 'warning: FILE: ...', without Python's file and source line from
    inside the library (it printed bayes_scaling/cli/options.py:149 and the code there)."""
    from bayes_scaling import cli

    monkeypatch.chdir(tmp_path)
    rows = "".join(f"{n:g},{n * 2e-4:g},{3 - i / 10}\n" for i, n in enumerate((1e8, 2e8, 4e8)))
    (tmp_path / "few.csv").write_text("N,D,loss\n" + rows)
    assert cli.main(["fit", "few.csv"]) == 2  # then refused: 3 runs are too few
    err = capsys.readouterr().err
    assert "warning: few.csv: tokens per parameter range 0.0002 - 0.0002" in err, err
    assert "UnitsWarning" not in err and "warnings.warn" not in err and ".py:" not in err


def test_typo_in_a_flag_names_the_closest_flag(capsys):
    """In-process: argparse exits before anything is read or compiled."""
    from bayes_scaling import cli

    for argv, hint in ((["fit", "runs.csv", "--chians", "2"], "(did you mean "
                        "--chains?)"),
                       (["forecast", "fit.nc", "--tokns=1T", "--param", "7B"],
                        "(did you mean --tokens for --tokns, --params for --param?)"),
                       (["fit", "runs.csv", "--zzz"], "unrecognized arguments: --zzz\n"),
                       # A typo in a required flag is named as a typo, not as the flag missing.
                       (["next", "fit.nc", "--target-flop", "1e23", "--buget", "5e20"],
                        "unrecognized arguments: --target-flop --buget (did you mean "
                        "--target-flops for --target-flop, --budget for --buget?)")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
        assert hint in capsys.readouterr().err


def test_forecast_needs_two_of_n_d_c(epoch_fit, cli_env):
    cwd, _ = epoch_fit
    out = run(["forecast", "fit.nc", "--params", "70B"], cli_env, cwd, ok=False)
    assert out.returncode == 2 and "give two of N (params), D (tokens) and C (flops)" in out.stderr


@pytest.mark.slow
def test_demo_is_the_main_job(tmp_path, cli_env):
    out = run(["demo", "--out", "demo"], cli_env, tmp_path)
    assert "Forecast for a 70B-parameter, 1.4T-token run" in out.stdout
    assert "diagnostics OK" in out.stdout
    # The defaults again, as a user runs it (and the compiled sampler comes from the cache): a
    # shorter run sat at the gate's edge (1 divergence in 1,600 draws on another CPU), while
    # the defaults had 0 divergences and R-hat <= 1.007 over 6 keys x 2 instruction sets.
    payload = json.loads(run(["demo", "--out", "demo_json", "--json"], cli_env, tmp_path).stdout)
    assert payload["summary"]["diagnostics"]["ok"] and len(payload["forecast"]) == 2
    truth = 1.817 + 482.01 * 70e9 ** -0.3478 + 2085.43 * 1.4e12 ** -0.3659
    expected = payload["forecast"][0]
    assert expected["quantity"] == "expected" and expected["lo_95"] < truth < expected["hi_95"]
    assert sorted(os.listdir(tmp_path / "demo")) == ["fit.nc", "forecast.csv", "runs.csv"]
    assert sorted(os.listdir(tmp_path)) == ["demo", "demo_json"]
    again = run(["demo", "--out", "demo"], cli_env, tmp_path, ok=False)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr


def test_optimal_budgets_targets_and_plan(epoch_fit, cli_env):
    cwd, _ = epoch_fit
    payload = json.loads(run(["optimal", "fit.nc", "--flops", "1e21:1e25:5", "--json"], cli_env,
                             cwd).stdout)
    assert len(payload["table"]) == 5 * 4 and {r["exponent"] for r in payload["exponents"]} == {"a", "b"}
    ratio = [r for r in payload["table"] if r["quantity"] == "tokens_per_param"]
    assert all(10 < r["median"] < 40 for r in ratio)
    out = run(["optimal", "fit.nc", "--target-loss", "2.0,1.5"], cli_env, cwd)
    assert "p_reachable" in out.stdout and "note: target 1.5 is unreachable" in out.stderr
    # 1.5 is below every draw's E: the draws that reach it do so through the law's error alone
    assert "of the draws reach target 1.5 although it is at or below their irreducible loss E" \
        in out.stderr
    assert "carries the law's own error beyond the data" in out.stderr
    exact = run(["optimal", "fit.nc", "--target-loss", "2.0,1.5", "--discrepancy", "none"],
                cli_env, cwd)
    assert "own error" not in exact.stderr and "(at or below the irreducible loss E)" in exact.stderr
    assert "no draw reaches it, so there is no interval" in exact.stderr  # 1.5 < every E
    assert "although it is at or below" not in exact.stderr
    out = run(["plan", "fit.nc", "--params", "70B", "--tokens", "1.4T"], cli_env, cwd)
    assert "wasted_share" in out.stdout and "P(planned run within 10% of optimal" in out.stdout
    assert "planned_observed_loss" in out.stdout
    assert "note: planned_observed_loss has no mean (NaN)" in out.stderr  # Student-t noise
    bad = run(["optimal", "fit.nc", "--flops=1e21,-5"], cli_env, cwd, ok=False)
    assert bad.returncode == 2 and "budgets (FLOPs) must be positive" in bad.stderr
    bad = run(["optimal", "fit.nc"], cli_env, cwd, ok=False)
    assert bad.returncode == 2 and "give --flops BUDGETS or --target-loss LOSSES" in bad.stderr


def test_backtest_side_by_side_with_the_baseline(datasets_dir, cli_env, tmp_path):
    csv = os.path.join(datasets_dir, "chinchilla", "svg_extracted_data.csv")
    out = run(["backtest", csv, "--where", "loss < 3.4469", "--holdout-top", "0.2",
               "--resamples", "300", *SMALL, "--json", "--plot", "backtest.png"], cli_env,
              tmp_path)
    payload = json.loads(out.stdout)
    from matplotlib.image import imread

    assert "wrote backtest.png" in out.stderr
    pixels = imread(tmp_path / "backtest.png")
    assert pixels.shape[1] > 1000 and pixels[..., :3].std() > 0.05  # 150 dpi, not blank
    summary = {row["method"]: row for row in payload["summary"]}
    assert set(summary) == {"bayes", "huber-bootstrap"}
    assert summary["bayes"]["held_out"] == len(payload["table"]) // 2 > 40
    assert payload["num_train"] + summary["bayes"]["held_out"] == 240
    for row in summary.values():
        assert 0 <= row["coverage_90"] <= 1 and row["median_abs_rel_error"] < 0.05


def test_rolling_backtest_plot_draws_error_and_coverage(tmp_path, capsys, monkeypatch):
    """--rolling --plot: the figure of the rolling table, two panels (the backtests themselves
    replaced by a table, to test the wiring without fitting)."""
    from matplotlib.image import imread

    from bayes_scaling import cli
    from bayes_scaling.validation import backtest
    from bayes_scaling.posterior import gate

    table = pd.DataFrame({"method": "bayes", "held_out": [12, 24], "median_abs_rel_error":
                          [0.004, 0.008], "coverage_90": [0.83, 0.62],
                          "median_C_vs_train": [1.5, 2.8]})
    done = type("Done", (), {"diagnostics": gate(1.0, 900, 900, 0, 0.9)})()
    seen = {}

    def rolling(runs, **options):
        seen.update(options)
        return table, [done, done]

    monkeypatch.setattr(backtest, "rolling_backtest", rolling)
    csv = tmp_path / "runs.csv"
    csv.write_text("params,tokens,loss\n" + "".join(
        f"{n},{20 * n},{2 + 400 / n ** 0.34}\n" for n in [1e7 * 1.5 ** i for i in range(12)]))
    out = tmp_path / "rolling.svg"
    assert cli.main(["backtest", str(csv), "--rolling", "--plot", str(out), "--json"]) == 0
    assert f"wrote {out}" in capsys.readouterr().err and seen["probs"] == [0.5, 0.9, 0.95]
    assert out.read_bytes().count(b"<g id=\"axes_") == 2  # error and coverage
    assert cli.main(["backtest", str(csv), "--rolling", "--plot", str(out)]) == 2
    assert "rolling.svg exists; pass --force to overwrite it or --plot another path" in (
        capsys.readouterr().err)
    assert cli.main(["backtest", str(csv), "--plot", str(tmp_path / "b.jpg")]) == 2
    assert "unknown image format '.jpg'" in capsys.readouterr().err
    png = tmp_path / "rolling.png"
    assert cli.main(["backtest", str(csv), "--rolling", "--plot", str(png), "--csv"]) == 0
    assert imread(png)[..., :3].std() > 0.05


def test_emergence_says_which_columns_it_read(tmp_path, capsys, monkeypatch):
    """Like 'fit' for runs: the columns mapped, what was derived or given as a constant, and the
    rows a --where dropped, on stderr before the fit (stopped here, to test without fitting)."""
    from bayes_scaling import cli
    from bayes_scaling.emergence import fit as emergence_fit

    class Stop(Exception):
        pass

    def no_fit(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(emergence_fit, "fit_emergence", no_fit)
    rows = [(f"m{i}", n, 20 * n, task, acc, 0.25) for i, n in enumerate((1e8, 4e8, 1.6e9, 6.4e9))
            for task, acc in (("arc", 0.3 + 0.05 * i), ("piqa", 0.5 + 0.1 * i))]
    pd.DataFrame(rows, columns=["model", "params", "tokens", "benchmark", "acc", "rand"]).to_csv(
        tmp_path / "scores.csv", index=False)
    with pytest.raises(Stop):
        cli.main(["emergence", str(tmp_path / "scores.csv"), "--chance", "0.25"])
    err = capsys.readouterr().err
    assert ("emergence: columns: N <- 'params', D <- 'tokens', score <- 'acc', task <- "
            "'benchmark'; C derived as 6*N*D; chance = 0.25 for every task (--chance); items "
            "unknown (no binomial evaluation noise)\n") in err
    with pytest.raises(Stop):
        cli.main(["emergence", str(tmp_path / "scores.csv"), "--chance-col", "rand",
                  "--items", "1000", "--where", "benchmark == arc"])
    err = capsys.readouterr().err
    assert ("columns: N <- 'params', D <- 'tokens', score <- 'acc', task <- 'benchmark', "
            "chance <- 'rand'; C derived as 6*N*D; items = 1000 for every task (--items)") in err
    assert "emergence: dropped 4 of 8" in err  # the --where filter's own note
    with_flops = [(model, 6 * n * d, d, *rest) for model, n, d, *rest in rows]  # C = 6·N·D
    pd.DataFrame(with_flops, columns=["model", "flops", "d", "bench", "score", "r"]).to_csv(
        tmp_path / "one.csv", index=False)
    with pytest.raises(Stop):
        cli.main(["emergence", str(tmp_path / "one.csv"), "--chance", "0.25"])
    assert ("columns: D <- 'd', C <- 'flops', score <- 'score'; N derived as C/(6*D); no task "
            "column: one task, named 'score'") in capsys.readouterr().err


def test_device_that_jax_does_not_have_is_an_input_error(capsys, tmp_path):
    """--device tpu on a CPU-only JAX: exit status 2 and what to do, before any data is read
    (the file has no loss column, which would be the error otherwise)."""
    from bayes_scaling import cli

    (tmp_path / "no_loss.csv").write_text("N,D\n1e8,1e9\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(tmp_path / "no_loss.csv"), "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "--device tpu asked for, but JAX found only cpu" in capsys.readouterr().err


def test_fit_of_a_huge_table_chooses_float64(capsys, monkeypatch, tmp_path):
    """The CLI switches to float64 itself above FLOAT32_MAX_RUNS and says so."""
    import jax

    from bayes_scaling import api, cli
    from bayes_scaling.inference import sampler

    class Stop(Exception):
        pass

    def no_fit(*args, **kwargs):
        assert jax.config.jax_enable_x64
        raise Stop

    monkeypatch.setattr(sampler, "FLOAT32_MAX_RUNS", 100)
    monkeypatch.setattr(api, "fit", no_fit)
    csv = tmp_path / "runs.csv"
    csv.write_text("params,tokens,loss\n" + "".join(
        f"{n},{20 * n},{2 + 400 / n ** 0.34 + 400 / (20 * n) ** 0.28}\n"
        for n in [1e7 * 1.05 ** i for i in range(120)]))
    was_x64 = jax.config.jax_enable_x64
    try:
        with pytest.raises(Stop):
            cli.main(["fit", str(csv), "-o", str(tmp_path / "fit.nc")])
    finally:
        jax.config.update("jax_enable_x64", was_x64)
    assert "float64 (chosen for more than 100 runs)" in capsys.readouterr().err


# -- plot and report ---------------------------------------------------------------------------
SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}


@pytest.fixture(scope="module")
def sim_fit_file(sim_post, tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "sim.nc"
    sim_post.save(path)
    return path


@pytest.fixture
def in_process():
    """cli.main in this process (the root conftest keeps it off the compile cache)."""
    from bayes_scaling import cli

    return cli.main


@pytest.mark.parametrize("kind, ext", [("fit", "png"), ("residuals", "svg"), ("pairs", "pdf"),
                                       ("frontier", "png")])
def test_plot_each_kind_in_the_format_of_its_extension(sim_fit_file, tmp_path, capsys,
                                                       in_process, kind, ext):
    out = tmp_path / f"fig.{ext}"
    assert in_process(["plot", str(sim_fit_file), "--kind", kind, "-o", str(out),
                       "--at", "70B:1.4T"]) == 0
    data = out.read_bytes()
    assert data.startswith(SIGNATURES[ext]) and len(data) > 10_000
    if ext == "svg":
        assert b"<svg" in data[:1000]
    if ext == "png":
        from matplotlib.image import imread

        pixels = imread(out)
        assert pixels.shape[1] > 1000 and pixels[..., :3].std() > 0.05  # 150 dpi, not blank
    assert f"wrote {out}" in capsys.readouterr().err


def test_plot_errors_and_never_overwrites(sim_fit_file, tmp_path, capsys, in_process):
    with pytest.raises(SystemExit) as exit_info:
        in_process(["plot", str(sim_fit_file), "--kind", "corner", "-o", "x.png"])
    assert exit_info.value.code == 2
    assert "argument --kind: invalid choice: 'corner'" in capsys.readouterr().err
    out = tmp_path / "fig.jpg"
    assert in_process(["plot", str(sim_fit_file), "-o", str(out)]) == 2
    assert "unknown image format '.jpg'; use .png, .svg, .pdf" in capsys.readouterr().err
    assert not out.exists()
    out = tmp_path / "fig.png"
    out.write_bytes(b"old")
    assert in_process(["plot", str(sim_fit_file), "-o", str(out)]) == 2
    assert "fig.png exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"old"
    assert in_process(["plot", str(sim_fit_file), "-o", str(out), "--force"]) == 0
    assert out.read_bytes().startswith(SIGNATURES["png"])
    assert in_process(["plot", str(tmp_path / "none.nc"), "-o", str(tmp_path / "a.png")]) == 2
    assert "no such fit file" in capsys.readouterr().err


def test_report_of_a_failed_fit_says_so_on_stderr_and_in_the_page(sim_post, tmp_path, capsys,
                                                                  in_process):
    import copy

    from bayes_scaling.posterior import Posterior

    idata = copy.deepcopy(sim_post.idata)
    idata.sample_stats["diverging"].values[0, :2] = True  # fails the gate
    fit = Posterior(idata).save(tmp_path / "failed.nc")
    out = tmp_path / "failed_report.html"
    assert in_process(["report", str(fit), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "WARNING: FIT DID NOT PASS THE DIAGNOSTICS GATE" in err and f"wrote {out}" in err
    page = out.read_text()
    assert '<section id="warnings">' in page and '<li class="gate">' in page
    assert in_process(["report", str(fit), "-o", str(out)]) == 2
    assert "failed_report.html exists; pass --force" in capsys.readouterr().err
    assert in_process(["report", str(fit), "-o", str(tmp_path / "r.txt")]) == 2
    assert "name it *.html" in capsys.readouterr().err
    assert in_process(["report", str(fit), "--at", "70B"]) == 2
    assert "write each point as PARAMS:TOKENS" in capsys.readouterr().err


@pytest.mark.slow
def test_report_console_script_on_the_epoch_fit(epoch_fit, cli_env):
    cwd, _ = epoch_fit
    out = run(["report", "fit.nc", "--at", "70B:1.4T,1B:20B"], cli_env, cwd)
    assert "wrote fit_report.html" in out.stderr and "WARNING" not in out.stderr
    page = (cwd / "fit_report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3 and "http" not in page
    # 70B/1.4T is 45x the largest Chinchilla sweep run: warned about, the gate is not
    assert '<li class="extrapolation">Forecast point 0' in page and 'class="gate"' not in page
    assert 'class="verdict pass"' in page
