"""Runs loading: parsing, column detection, derived sizes, and every bad-input case."""

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import RunsError, UnitsWarning, load_points, load_runs, parse_number


def write(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, value", [
    ("70M", 70e6), ("1.4B", 1.4e9), ("1.4T", 1.4e12), ("5.76e23", 5.76e23), ("2k", 2e3),
    ("1,000", 1000.0), (" 3.5 ", 3.5), ("1G", 1e9), ("2P", 2e15), (7, 7.0), (".5", 0.5)])
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "1.4X", "", "1.2.3", "M"])
def test_parse_number_rejects(text):
    with pytest.raises(ValueError, match="cannot read"):
        parse_number(text)


def test_epoch_column_names_and_derived_tokens(tmp_path):
    path = write(tmp_path, "x,Model Size,Training FLOP,loss\n1,1e8,6e18,3.0\n2,1e9,6e20,2.5\n")
    runs = load_runs(path)
    np.testing.assert_allclose(runs.D, [1e10, 1e11])
    np.testing.assert_allclose(runs.C, [6e18, 6e20])
    assert runs.lines.tolist() == [2, 3] and runs.source == path


def test_suffixed_numbers_and_explicit_mapping(tmp_path):
    path = write(tmp_path, "size_m,tok,val\n70M,1.4B,3.1\n1.4B,28B,2.4\n")
    runs = load_runs(path, params="size_m", tokens="tok", loss="val")
    np.testing.assert_allclose(runs.N, [70e6, 1.4e9])
    np.testing.assert_allclose(runs.C, 6 * runs.N * runs.D)


def test_flops_per_param_token(tmp_path):
    path = write(tmp_path, "N,C,loss\n1e8,8e18,3\n2e8,8e19,2.9\n")
    runs = load_runs(path, flops_per_param_token=8)
    np.testing.assert_allclose(runs.D, [1e10, 5e10])


def test_dataframe_input_and_group():
    frame = pd.DataFrame({"params": [1e8, 2e8], "tokens": [1e9, 2e9], "loss": [3, 2.9],
                          "family": ["a", "b"]})
    runs = load_runs(frame)
    assert runs.group.tolist() == ["a", "b"] and runs.source == "DataFrame"


def test_where_filter_reports_dropped_lines(tmp_path):
    path = write(tmp_path, "N,D,loss\n1e8,1e9,3.5\n2e8,2e9,2.9\n3e8,3e9,2.8\n")
    runs = load_runs(path, where="loss < 3.4")
    assert len(runs) == 2
    assert runs.dropped == ("dropped 1 of 3 runs not matching 'loss < 3.4' (line 2)",)
    many = write(tmp_path, "N,D,loss\n" + "".join(f"{n}e8,{n}e9,{3 if n % 5 else 2}\n"
                                                   for n in range(1, 12)), "many.csv")
    note = load_runs(many, where="loss < 2.5").dropped[0]
    assert note.endswith("(lines 2-5, 7-10, 12)")


def test_where_compound_and_suffix(tmp_path):
    path = write(tmp_path, "N,D,loss\n1e8,1e9,3.5\n2e9,2e10,2.9\n3e8,3e9,2.8\n")
    assert load_runs(path, where="N >= 200M and loss<3").N.tolist() == [2e9, 3e8]


@pytest.mark.parametrize("content, match", [
    ("N,D\n1e8,1e9\n", "no loss column"),
    ("N,D,val_ppl\n1e8,1e9,30\n", "'val_ppl' looks like perplexities: --loss-col 'val_ppl' "
                                  "--loss-kind perplexity"),
    ("N,loss\n1e8,3\n", "need two of"),
    ("N,D,loss\n1e8,1e9,abc\n", r"line 2, column 'loss' \(loss\): cannot read 'abc'"),
    ("N,D,loss\n1e8,1e9,3\n1e8,-1e9,3\n", r"line 3, column 'D' \(D\): '-1e9' must be positive"),
    ("N,D,loss\n0,1e9,3\n", r"line 2, column 'N' \(N\): '0' must be positive"),
    ("N,D,loss\n1e8,1e9,nan\n", r"line 2, column 'loss' \(loss\): 'nan' is not finite"),
    ("N,D,loss\n1e8,1e9,inf\n", "is not finite"),
    ("N,D,loss\n1e8,,3\n", r"line 2, column 'D' \(D\): value is missing"),
    ("N,D,loss\n1e8,1e9,3\n2e8,2e9,2.9\n1e8,1e9,3\n", "line 4: duplicate of line 2"),
    ("N,D,C,loss\n1e8,1e9,6e17,3\n1e8,2e9,9e20,2.9\n", "line 3: FLOPs 9e\\+20"),
    ("N,D,val_loss,train_loss\n1e8,1e9,3,2.9\n", "several columns could be loss"),
    ("N,D,loss\n", "no rows"),
])
def test_bad_input_names_file_line_and_column(tmp_path, content, match):
    path = write(tmp_path, content)
    with pytest.raises(RunsError, match=match) as info:
        load_runs(path)
    assert path in str(info.value)


def test_a_column_of_labels_is_not_a_size_candidate(tmp_path):
    """Porian et al.'s isoFLOP file names how parameters were counted ("kaplan", "standard") in
    ``param_count``, beside the counts themselves in ``n_params``: only the numbers are N."""
    path = write(tmp_path, "param_count,n_params,tokens,loss\nkaplan,1e8,1e9,3.1\n"
                           "standard,2e8,2e9,2.9\n")
    assert load_runs(path).N.tolist() == [1e8, 2e8]
    both = write(tmp_path, "param_count,n_params,tokens,loss\n1e8,1e8,1e9,3.1\n", "both.csv")
    with pytest.raises(RunsError, match="several columns could be N"):
        load_runs(both)


def test_missing_file_and_unreadable(tmp_path):
    with pytest.raises(RunsError, match="no such file"):
        load_runs(tmp_path / "nope.csv")
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(RunsError, match="a binary file, not a table of text"):
        load_runs(path)


def test_explicit_column_must_exist(tmp_path):
    path = write(tmp_path, "N,D,loss\n1e8,1e9,3\n")
    with pytest.raises(RunsError, match="column 'Loss' given for loss is not in the data"):
        load_runs(path, loss="Loss")


@pytest.mark.parametrize("where, match", [
    ("loss <", "cannot read the filter"), ("size < 3", "unknown column 'size'; use N, D, C, loss"),
    ("loss > 100", "keeps none"), ("loss < abc", "filter 'loss < abc': cannot read 'abc'"),
    ("D > N", "filter 'D > N': 'N' is a column; .* not with another column"),
    ("loss < step", "'step' is a column")])
def test_bad_where(tmp_path, where, match):
    path = write(tmp_path, "N,D,step,loss\n1e8,1e9,5,3\n")
    with pytest.raises(RunsError, match=match):
        load_runs(path, where=where)


def test_too_few_runs_for_the_law(tmp_path):
    import jax

    import bayes_scaling as bs

    path = write(tmp_path, "N,D,loss\n1e8,1e9,3\n")
    with pytest.raises(ValueError, match="runs.csv: 1 run is too few to fit 7 parameters"):
        bs.fit(path, key=jax.random.key(0))


def test_bad_flops_per_param_token(tmp_path):
    path = write(tmp_path, "N,D,loss\n1e8,1e9,3\n")
    with pytest.raises(RunsError, match="must be positive"):
        load_runs(path, flops_per_param_token=0)


def test_load_points(tmp_path):
    path = write(tmp_path, "params,flops\n70B,5.88e23\n")
    N, D, C = load_points(path)
    np.testing.assert_allclose(D, [1.4e12])


def test_a_point_smaller_than_any_trained_model_is_a_unit_mistake(tmp_path):
    """One row in billions among full counts, or log10 FLOPs: refused, naming the row."""
    path = write(tmp_path, "params,tokens\n1B,20B\n7,140B\n0.5,10B\n")
    with pytest.raises(RunsError, match=r"line 3, column 'params' \(N\): 7 is too small for "
                                        r"parameter counts .* write 7B for billions .*; 1 more "
                                        r"such row\(s\)"):
        load_points(path)
    path = write(tmp_path, "params,flops\n7B,21.5\n", "log10.csv")
    with pytest.raises(RunsError, match=r"line 2, column 'flops' \(C\): 21.5 is too small for "
                                        r"training FLOPs .* write 3.16e\+21 if it is a log10 value"):
        load_points(path)
    # the input of a one-variable law is scale-free: its caller turns the check off
    N, _, _ = load_points(write(tmp_path, "params,tokens\n7,140\n", "free.csv"),
                          check_sizes=False)
    assert N.tolist() == [7.0]


def test_blank_lines_keep_true_line_numbers(tmp_path):
    path = write(tmp_path, "N,D,loss\n1e8,1e9,3\n\n2e8,2e9,2.9\n  ,  ,  \n3e8,-3e9,2.8\n")
    with pytest.raises(RunsError, match=r"line 6, column 'D'"):
        load_runs(path)
    path = write(tmp_path, "N,D,loss\n1e8,1e9,3.5\n\n2e8,2e9,2.9\n3e8,3e9,3.6\n", "b.csv")
    runs = load_runs(path, where="loss < 3")
    assert runs.lines.tolist() == [4] and "(lines 2, 5)" in runs.dropped[0]


def test_column_mapping_is_recorded(tmp_path):
    path = write(tmp_path, "Model Size,Training FLOP,loss\n1e8,6e18,3.0\n")
    assert load_runs(path).columns == {"N": "Model Size", "C": "Training FLOP", "loss": "loss"}


def test_points_error_says_how_to_name_columns(tmp_path):
    path = write(tmp_path, "params\n70B\n")
    with pytest.raises(RunsError, match="name two columns params, tokens or flops"):
        load_points(path)



def test_where_on_the_files_own_columns(tmp_path):
    path = write(tmp_path, "N,D,loss,family,lr\n1e8,1e9,3.5,gpt,1e-3\n2e8,2e9,2.9,llama,3e-4\n"
                           "3e8,3e9,2.8,gpt,3e-4\n")
    assert load_runs(path, where="family == gpt").lines.tolist() == [2, 4]
    assert load_runs(path, where="family != gpt and lr < 1e-3").lines.tolist() == [3]
    bad = write(tmp_path, "N,D,loss,lr\n1e8,1e9,3.5,fast\n", "bad.csv")
    with pytest.raises(RunsError, match=r"line 2, column 'lr': cannot read 'fast'"):
        load_runs(bad, where="lr < 1")


def test_at_points_are_one_grammar():
    """Every --at: comma-separated points PARAMS:TOKENS, or PARAMS alone where only a scale
    matters (emergence thresholds)."""
    from bayes_scaling.data import parse_points

    assert parse_points("70B:1.4T") == ([70e9], [1.4e12])
    assert parse_points("70B, 400B", tokens=False) == ([70e9, 400e9], None)
    with pytest.raises(ValueError, match="write each point as PARAMS, e.g. 70B"):
        parse_points("70B:1.4T", tokens=False)


# -- units and scales: the mistakes that would otherwise fit silently -----------------------------

LADDER = [(7e7, 1.4e9, 3.9), (1.6e8, 3.2e9, 3.5), (4e8, 8e9, 3.1), (1e9, 2e10, 2.8),
          (2.8e9, 5.6e10, 2.55), (7e9, 1.4e11, 2.35)]


def ladder(**columns):
    """The ladder as a frame, each column transformed by ``columns[name]`` (a function)."""
    frame = pd.DataFrame(LADDER, columns=["params", "tokens", "loss"])
    for name, change in columns.items():
        frame[name] = change(frame[name.split("=")[0]]) if "=" not in name else None
    return frame


@pytest.mark.parametrize("change, message, fix", [
    (dict(loss=np.exp), r"'loss' \(loss\) holds 10.5 - 49.4, too large for a log-loss.*"
                        r"--loss-kind perplexity", dict(loss_kind="perplexity")),
    (dict(loss=lambda x: 100 * x), r"holds 235 - 390.*--loss-kind percent",
     dict(loss_kind="percent")),
    (dict(params=lambda x: x / 1e9), r"'params' \(N\) holds 0.07 - 7, too small for parameter "
                                     r"counts.*--params-unit B", dict(units={"N": "B"})),
    (dict(tokens=lambda x: x / 1e9), r"'tokens' \(D\) holds 1.4 - 140.*--tokens-unit B",
     dict(units={"D": "B"})),
    (dict(params=np.log10), r"'params' \(N\) holds 7.85 - 9.85.*--params-unit log10",
     dict(units={"N": "log10"}))])
def test_unit_mistakes_are_refused_naming_column_values_and_fix(change, message, fix):
    frame = ladder(**change)
    with pytest.raises(RunsError, match=message):
        load_runs(frame)
    runs = load_runs(frame, **fix)
    np.testing.assert_allclose(runs.N, [r[0] for r in LADDER], rtol=1e-9)
    np.testing.assert_allclose(runs.loss, [r[2] for r in LADDER], rtol=1e-9)


def test_log10_flops_are_refused_with_both_fixes_and_read_when_declared():
    frame = pd.DataFrame({"params": [r[0] for r in LADDER], "loss": [r[2] for r in LADDER],
                          "flops": [np.log10(6 * n * d) for n, d, _ in LADDER]})
    with pytest.raises(RunsError, match=r"'flops' \(C\) holds 17.8 - 21.8, too small for "
                                        r"training FLOPs: if they are log10 values, --flops-unit "
                                        r"log10; or leave FLOPs out: --flops-col none"):
        load_runs(frame)
    np.testing.assert_allclose(load_runs(frame, units={"C": "log10"}).D,
                               [r[1] for r in LADDER], rtol=1e-9)


def test_a_loss_that_rises_with_compute_is_called_out():
    frame = ladder(loss=lambda x: 1 - x / 5)  # an accuracy
    with pytest.raises(RunsError, match=r"rises with compute \(rank correlation \+1.00\).*accuracy"):
        load_runs(frame)


def test_accept_units_fits_unusual_values_with_a_warning():
    frame = ladder(params=lambda x: x / 1e9)
    with pytest.warns(UnitsWarning, match="too small for parameter counts.*accepted as intended"):
        runs = load_runs(frame, accept_units=True)
    np.testing.assert_allclose(runs.N, [r[0] / 1e9 for r in LADDER])


def test_tokens_per_parameter_far_outside_anything_trained_is_a_warning():
    frame = ladder(tokens=lambda x: x / 1e5)  # 1.4e4 - 1.4e6: past the largest-run check
    with pytest.warns(UnitsWarning, match="tokens per parameter range 0.0002 - 0.0002"):
        load_runs(frame)


def test_a_one_variable_law_is_not_held_to_the_scales_of_language_models():
    frame = pd.DataFrame({"examples": [160, 320, 640, 1280, 2560], "loss": [2.1, 1.6, 1.2, 0.9, 0.7]})
    assert len(load_runs(frame, tokens="examples", law="power_D")) == 5


@pytest.mark.parametrize("header, expected", [
    ("N_params,D_tokens,val_loss", {"N": "N_params", "D": "D_tokens", "loss": "val_loss"}),
    ("n_params,tokens_seen,eval_loss", {"N": "n_params", "D": "tokens_seen", "loss": "eval_loss"}),
    ("num_params,train_tokens,openLM_loss",
     {"N": "num_params", "D": "train_tokens", "loss": "openLM_loss"}),
    ("model_size,token_num,tokens_per_epoch,test_cross_entropy",
     {"N": "model_size", "D": "token_num", "loss": "test_cross_entropy",
      "U": "tokens_per_epoch"})])  # a dataset's tokens per epoch are its unique tokens
def test_common_column_spellings_are_recognised_and_named(tmp_path, header, expected):
    names = header.split(",")
    rows = [",".join(f"{v:g}" for v in (n, d) + ((d,) if len(names) == 4 else ()) + (loss,))
            for n, d, loss in LADDER]
    runs = load_runs(write(tmp_path, "\n".join([header, *rows]) + "\n"))
    assert runs.columns == expected
    np.testing.assert_allclose(runs.D, [r[1] for r in LADDER])


@pytest.mark.parametrize("name, scale", [("Model Size (B)", 1e9), ("params_m", 1e6),
                                         ("params in billions", 1e9), ("log10_params", None)])
def test_a_unit_in_a_column_name_is_applied_and_said(name, scale):
    N = np.array([r[0] for r in LADDER])
    frame = ladder().rename(columns={"params": name})
    frame[name] = np.log10(N) if scale is None else N / scale
    runs = load_runs(frame)
    np.testing.assert_allclose(runs.N, N, rtol=1e-9)
    assert any(f"{name!r} (N) read in units of" in note for note in runs.notes), runs.notes


def test_ignore_col_and_flops_none_leave_out_a_misleading_column(tmp_path):
    frame = ladder()
    frame["flops"] = 1e23  # counts something else (all epochs, say)
    with pytest.raises(RunsError, match="disagree with 6·N·D.*--flops-col none"):
        load_runs(frame)
    for options in (dict(flops="none"), dict(ignore=["flops"])):
        runs = load_runs(frame, **options)
        np.testing.assert_allclose(runs.C, 6 * runs.N * runs.D)
    with pytest.raises(RunsError, match="--ignore-col 'flop' is not a column"):
        load_runs(frame, ignore=["flop"])


def test_a_steady_flops_ratio_suggests_the_right_k():
    frame = ladder()
    frame["flops"] = 12 * frame["params"] * frame["tokens"]  # e.g. counting a backward pass twice
    with pytest.raises(RunsError, match="steady at 2, so --flops-per-param-token 12"):
        load_runs(frame)
    np.testing.assert_allclose(load_runs(frame, flops_per_param_token=12).D, frame["tokens"])


def test_where_filters_before_the_values_are_checked(tmp_path):
    path = write(tmp_path, "params,tokens,loss,data\n1e8,2e9,3.1,c4\n2e8,4e9,n/a,oscar\n"
                           "4e8,8e9,2.9,c4\n")
    with pytest.raises(RunsError, match="line 3, column 'loss'"):
        load_runs(path)
    runs = load_runs(path, where="data == c4")
    assert runs.lines.tolist() == [2, 4] and "(line 3)" in runs.dropped[0]
    with pytest.raises(RunsError, match="line 3, column 'loss'"):  # a filter on the bad value
        load_runs(path, where="loss < 3")


def test_dedupe_drops_exact_repeats_and_says_how_many(tmp_path):
    path = write(tmp_path, "params,tokens,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n1e8,2e9,3.1\n"
                           "1e8,2e9,3.1\n")
    with pytest.raises(RunsError, match="line 4: duplicate of line 2.*--dedupe"):
        load_runs(path)
    runs = load_runs(path, dedupe=True)
    assert runs.lines.tolist() == [2, 3]
    assert runs.dropped == ("dropped 2 exact duplicate rows (--dedupe): lines 4-5",)


def test_cli_refuses_a_unit_mistake_before_fitting_and_reads_the_declared_unit(tmp_path, capsys):
    from bayes_scaling import cli

    path = tmp_path / "runs.csv"
    ladder(params=lambda x: x / 1e9).to_csv(path, index=False)
    assert cli.main(["fit", str(path), "-o", str(tmp_path / "fit.nc")]) == 2
    assert "--params-unit B" in capsys.readouterr().err
    assert not (tmp_path / "fit.nc").exists()


def test_a_unique_tokens_column_with_repeated_data_suggests_the_data_constrained_law():
    frame = pd.DataFrame({"N": [1e8, 1e8, 1e9], "D": [2e9, 8e9, 2e10],
                          "unique_tokens": [2e9, 2e9, 2e10], "loss": [3.2, 3.1, 2.7]})
    (note,) = load_runs(frame, law="chinchilla").notes
    assert "'unique_tokens'" in note and "1 of 3 runs" in note
    assert "--law data_constrained" in note
    # the law that uses U, or data that never repeats, or no law named: nothing to say
    assert load_runs(frame, law="data_constrained").notes == ()
    assert load_runs(frame.assign(unique_tokens=frame["D"]), law="chinchilla").notes == ()
    assert load_runs(frame).notes == ()
    # datablations' checkpoint file names its unique tokens "tokens_per_epoch"
    (note,) = load_runs(frame.rename(columns={"unique_tokens": "tokens_per_epoch"}),
                        law="chinchilla").notes
    assert "column 'tokens_per_epoch' looks like unique tokens (U)" in note
    assert load_runs(frame.rename(columns={"unique_tokens": "tokens_per_epoch"}),
                     law="data_constrained").extra["U"].tolist() == [2e9, 2e9, 2e10]


def test_several_sweeps_in_one_file_are_named_not_silently_fitted_as_one(tmp_path):
    """Two configurations' runs at the same sizes, told apart by a label column: a note names
    the column and both ways out; one configuration, or repeated seeds no label separates, give
    none."""
    rows = ["config,seed,params,tokens,loss"]
    for config, shift in (("base", 0.0), ("tuned", -0.1)):
        for seed in (0, 1):  # seeds are numbers: no label
            for n, d, loss in ((1e8, 2e9, 3.2), (4e8, 8e9, 2.9), (1.6e9, 3.2e10, 2.6)):
                rows.append(f"{config},{seed},{n:g},{d:g},{loss + shift + seed * 0.01}")
    path = write(tmp_path, "\n".join(rows) + "\n")
    (note,) = load_runs(path).notes
    assert note.startswith("9 runs repeat another run's N and D with another loss, and column "
                           "'config' (2 values) tells them apart")
    assert '--where "config == base"' in note and "--group-col config" in note
    assert load_runs(path, where="config == tuned").notes == ()
    assert load_runs(path, group="config").notes == ()
    seeds = write(tmp_path, "\n".join(r.split(",", 1)[1] for r in rows[:7]) + "\n", "seeds.csv")
    assert load_runs(seeds).notes == ()


def test_sizes_in_millions_read_as_counts_are_refused_not_only_warned():
    """Parameters in millions (57 for 57M) pass the largest-run check once the largest model
    has 10B parameters (10,000), but read as counts give 2e7 tokens per parameter: no such run
    exists, so the file is refused with the flag that fixes it."""
    millions = np.array([57, 160, 400, 1000, 2800, 16000.0])
    frame = pd.DataFrame({"params": millions, "tokens": 20 * millions * 1e6,
                          "loss": [3.9, 3.5, 3.1, 2.8, 2.55, 2.2]})
    with pytest.raises(RunsError, match=r"beyond any trained model.*parameter counts are in "
                                        r"millions or billions, --params-unit M"):
        load_runs(frame)
    with pytest.warns(UnitsWarning, match="beyond any trained model.*accepted as intended"):
        load_runs(frame, accept_units=True)
    # Tokens derived from FLOPs: the columns named are the ones given.
    flops = frame.assign(flops=6 * millions * 1e6 * frame["tokens"]).drop(columns="tokens")
    with pytest.raises(RunsError, match=r"columns 'params' and 'flops' are in different units"
                                        r".*--params-unit M \(or B\); otherwise --flops-unit"):
        load_runs(flops)


@pytest.mark.parametrize("where", ["loss != 'n/a?'", "loss != n/a?"])
def test_a_text_cell_of_the_loss_column_can_be_filtered_out_by_its_text(tmp_path, where):
    path = write(tmp_path, "N,D,loss\n" + "".join(f"{n:g},{20 * n:g},{3 - i / 10}\n" for i, n in
                                                  enumerate((1e8, 2e8, 4e8, 8e8)))
                 + "1.6e9,3.2e10,n/a?\n")
    with pytest.raises(RunsError, match=r"line 6, column 'loss' \(loss\): cannot read 'n/a\?'"):
        load_runs(path)
    runs = load_runs(path, where=where)
    assert len(runs) == 4 and "dropped 1 of 5 runs" in " ".join(runs.dropped)


def test_perplexities_below_the_refusal_are_warned_about():
    """Perplexities of 8-16 pass the refusal of losses above 20, but no trained model's best
    run has such a log-loss: a warning names the flag."""
    frame = ladder(loss=lambda x: np.exp(np.linspace(2.8, 2.1, len(x))))
    with pytest.warns(UnitsWarning, match=r"best run has 8.17, high .* --loss-kind perplexity"):
        load_runs(frame)
    runs = load_runs(frame, loss_kind="perplexity")
    np.testing.assert_allclose(runs.loss, np.linspace(2.8, 2.1, len(frame)))


def test_declared_units_and_loss_kind_are_said_not_applied_silently():
    runs = load_runs(ladder(params=lambda x: x / 1e9, loss=np.exp), units={"N": "B"},
                     loss_kind="perplexity")
    assert "column 'params' (N) read in units of B, as declared" in runs.notes
    assert "column 'loss' (loss) read as perplexity: its log is fitted" in runs.notes
    np.testing.assert_allclose(runs.N, [r[0] for r in LADDER])
