"""``bayes-scaling next``: which runs to train next, in process on the session's simulated fit."""

import copy
import json

import pandas as pd
import pytest

# Runs the sampler (the session fit): replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

# The law's band keeps the tests' scoring to one compiled program; 16 outcomes keep it quick.
QUICK = ["--band", "expected", "--discrepancy", "none", "--outcomes", "16"]


@pytest.fixture(scope="module")
def fit_file(sim_post, tmp_path_factory):
    path = tmp_path_factory.mktemp("next") / "sim.nc"
    sim_post.save(path)
    return str(path)


@pytest.fixture
def in_process():
    """cli.main in this process (the root conftest keeps it off the compile cache)."""
    from bayes_scaling import cli

    return cli.main


def test_next_proposes_a_greedy_batch_within_the_budget(fit_file, in_process, capsys):
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--count", "3", *QUICK]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Greedy batch of up to 3 runs within 1e+22 FLOP")
    assert "90% interval of the expected loss at N=" in out and "C=1e+25 FLOP" in out
    for column in ("step", "cumulative_C", "width_after", "gain_per_flop", "ess_ok"):
        assert column in out
    assert "Best 10 of 20 candidates alone" in out
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--count", "3", "--json", *QUICK]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "greedy" and payload["band"] == "expected"
    assert payload["diagnostics"]["ok"] and len(payload["ranking"]) == 20
    table = pd.DataFrame(payload["table"])
    assert 1 <= len(table) <= 3 and table["cumulative_C"].iloc[-1] <= 1e22
    assert payload["target"]["C"] == 1e25


def test_next_decision_objective(fit_file, in_process, capsys):
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--count", "2", "--objective", "decision", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "expected fall per FLOP of the expected regret of the compute-optimal allocation" in out
    assert ("(the loss that the model size chosen under today's uncertainty is expected to give "
            "up against the true optimum: now ") in out
    assert "regret_after" in out


def test_next_rank_by_gain(fit_file, in_process, capsys):
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--count", "2", "--rank", "gain", "--json", *QUICK]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rank"] == "gain"
    ranking = pd.DataFrame(payload["ranking"])
    assert ranking["gain"].is_monotonic_decreasing
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--count", "1", "--rank", "gain", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "chosen by expected narrowing of the 90% interval" in out and "by gain\n" in out


def test_next_reads_candidates_from_a_file_and_draws_the_plan(fit_file, in_process, capsys,
                                                              tmp_path):
    points = tmp_path / "candidates.csv"
    points.write_text("params,tokens\n1B,20B\n3B,60B\n10B,200B\n30B,600B\n")
    figure = tmp_path / "next.png"
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--target-params", "300B",
                       "--budget", "3e21", "--candidates", str(points), "--count", "2",
                       "--max-params", "20B", "--csv", "--plot", str(figure), *QUICK]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(captured.out))
    # 30B is over --max-params and, with 10B:200B (1.2e22 FLOP), over the budget: said, not
    # silent
    assert set(table["N"]) <= {1e9, 3e9} and table["C"].sum() <= 3e21
    assert ("note: 2 of 4 candidates left out: 1 exceed 2e+10 parameters; 2 exceed 3e+21 FLOPs "
            "(the budget)") in captured.err
    assert figure.read_bytes().startswith(b"\x89PNG") and f"wrote {figure}" in captured.err


def test_next_refit_ranks_by_full_refits(fit_file, in_process, capsys, tmp_path):
    """--refit ranks by one batched refit per candidate x outcome, says how many and that the
    batch was still chosen by reweighting, and keeps the reweighting's estimate beside it: the
    same simulated outcomes as without --refit, so the same reweighted gains."""
    points = tmp_path / "two.csv"
    points.write_text("params,tokens\n1B,20B\n3B,60B\n")
    args = ["next", fit_file, "--target-flops", "1e25", "--budget", "2e21", "--candidates",
            str(points), "--count", "1", "--band", "expected", "--discrepancy", "none",
            "--outcomes", "2"]
    assert in_process([*args, "--refit"]) == 0
    captured = capsys.readouterr()
    assert "refitting the runs 4 times (every candidate x simulated outcome" in captured.err
    assert ("note: the ranking's gains are full refits' (4 fits; the reweighting's estimates "
            "beside them, _reweighted); the batch was chosen by reweighting") in captured.err
    assert "candidates alone (before any is chosen), by gain per FLOP, refitted" in captured.out
    assert "gain_reweighted" in captured.out and "refit_gate_ok" in captured.out
    assert in_process([*args, "--refit", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    ranking = pd.DataFrame(payload["ranking"])
    assert payload["refit"] and len(ranking) == 2
    assert {"width_after_reweighted", "gain_reweighted", "refit_gate_ok"} <= set(ranking)
    assert ranking["gain_per_flop"].is_monotonic_decreasing
    assert in_process([*args, "--json"]) == 0
    plain = pd.DataFrame(json.loads(capsys.readouterr().out)["ranking"])
    assert "refit_gate_ok" not in plain
    pd.testing.assert_series_equal(
        ranking.sort_values("N")["gain_reweighted"].reset_index(drop=True),
        plain.sort_values("N")["gain"].reset_index(drop=True), check_names=False)


@pytest.mark.parametrize("args, message", [
    (["--budget=-5e20"], "--budget must be positive"),
    (["--budget", "1e22", "--max-params", "0"], "--max-params must be positive"),
    (["--budget", "1e22", "--count", "0"], "count must be a whole number >= 1"),
    (["--budget", "1e22", "--target-params", "70B", "--target-tokens", "1T"],
     "N, D and C disagree"),
    (["--budget", "5e21,1e22"], "--budget takes one number"),
])
def test_next_bad_input_exits_2_with_a_clear_message(fit_file, in_process, capsys, args,
                                                     message):
    assert in_process(["next", fit_file, "--target-flops", "1e25", *args, *QUICK]) == 2
    assert message in capsys.readouterr().err


def test_next_candidates_file_errors_exit_2(fit_file, in_process, capsys, tmp_path):
    points = tmp_path / "odd.csv"
    points.write_text("width,depth\n1024,24\n")
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--candidates", str(points), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "bayes-scaling next: error:" in err and "odd.csv" in err
    points.write_text("params,tokens\n1B,20B\n3B,60B\n")
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e18",
                       "--candidates", str(points), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "no candidate run is left: of 2, 2 exceed 1e+18 FLOPs (the budget)" in err
    # a size in billions without its unit is refused, not ranked as a 7-parameter model
    points.write_text("params,tokens\n1B,20B\n7,140B\n")
    assert in_process(["next", fit_file, "--target-flops", "1e25", "--budget", "1e22",
                       "--candidates", str(points), *QUICK]) == 2
    assert (f"{points}, line 3, column 'params' (N): 7 is too small for parameter counts (no "
            "trained language model has fewer than 1e+04): write 7B for billions"
            in capsys.readouterr().err)


def test_next_on_a_failed_fit_says_so(sim_post, in_process, capsys, tmp_path):
    from bayes_scaling.posterior import Posterior

    idata = copy.deepcopy(sim_post.idata)
    idata.sample_stats["diverging"].values[0, :2] = True  # fails the gate
    fit = Posterior(idata).save(tmp_path / "failed.nc")
    assert in_process(["next", str(fit), "--target-flops", "1e25", "--budget", "1e22",
                       "--count", "1", *QUICK]) == 0
    assert "WARNING: FIT DID NOT PASS THE DIAGNOSTICS GATE" in capsys.readouterr().err
