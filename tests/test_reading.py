"""Reading the files users bring: delimiters, decimal commas, comments, encodings, gzip, Excel,
Parquet, directories and duplicate header names; each read right or refused by name."""

import gzip

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import reading
from bayes_scaling.data import RunsError, load_runs
from bayes_scaling.reading import read_table

SWEEP = [(7e7, 1.4e9, 3.9), (1.6e8, 3.2e9, 3.5), (4e8, 8e9, 3.1)]


def csv_text(sep=",", decimal="."):
    rows = [sep.join(["params", "tokens", "loss"])]
    rows += [sep.join([f"{n:g}", f"{d:g}", f"{loss}".replace(".", decimal)])
             for n, d, loss in SWEEP]
    return "\n".join(rows) + "\n"


def expect_sweep(runs):
    np.testing.assert_allclose(runs.N, [r[0] for r in SWEEP])
    np.testing.assert_allclose(runs.loss, [r[2] for r in SWEEP])


@pytest.mark.parametrize("sep, decimal, note", [
    ("\t", ".", "delimiter tab"), (";", ",", "delimiter semicolon and decimal commas"),
    ("|", ".", "delimiter pipe"), ("  ", ".", "delimiter spaces"),
    ("\t", ",", "delimiter tab and decimal commas")])
def test_delimiter_and_decimal_style_are_sniffed_and_said(tmp_path, sep, decimal, note):
    path = tmp_path / "runs.csv"
    path.write_text(csv_text(sep, decimal))
    runs = load_runs(path)
    expect_sweep(runs)
    assert any(note in n for n in runs.notes), runs.notes


def test_sep_flag_overrides_the_sniffing(tmp_path):
    path = tmp_path / "runs.txt"
    path.write_text(csv_text(";"))
    expect_sweep(load_runs(path, sep=";"))
    with pytest.raises(RunsError, match="no loss column"):  # told wrong: one column
        load_runs(path, sep=",")


def test_comment_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    text = csv_text().splitlines()
    path = tmp_path / "runs.csv"
    path.write_text("\n".join(["# sweep of 2026", "  # units: nats", text[0], text[1],
                               "# a rerun below", text[2], text[3]]) + "\n")
    table = read_table(path)
    assert table.lines.tolist() == [4, 6, 7]
    path.write_text(path.read_text().replace("3.5", "oops"))
    with pytest.raises(RunsError, match="line 6, column 'loss'"):
        load_runs(path)


def test_a_decimal_comma_in_a_comma_separated_file_is_refused_not_misread(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text('params,tokens,loss\n1e8,2e9,"2,85"\n2e8,4e9,"2,70"\n')
    with pytest.raises(RunsError, match="line 2, column 'loss'.*'2,85'.*not a thousands"):
        load_runs(path)


def test_gzip_content_is_read_whatever_its_name(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(gzip.compress(csv_text().encode()))
    runs = load_runs(path)
    expect_sweep(runs)
    assert any("gzip" in n for n in runs.notes)


def test_windows_1252_bytes_are_read_and_said_and_undecodable_bytes_named(tmp_path):
    path = tmp_path / "runs.csv"
    text = csv_text().replace("loss\n", "loss,note\n").replace("3.9\n", "3.9,café\n")
    path.write_bytes(text.replace("3.5\n", "3.5,\n").replace("3.1\n", "3.1,\n").encode("cp1252"))
    runs = load_runs(path)
    expect_sweep(runs)
    assert any("byte 0xE9 on line 2" in n and "Windows-1252" in n for n in runs.notes)
    path.write_bytes(b"params,tokens,loss\n1e8,2e9,3\x81\n")  # 0x81: no character anywhere
    with pytest.raises(RunsError, match="line 2: byte 0x81 is not UTF-8"):
        load_runs(path)


def test_a_directory_and_binary_and_unreadable_formats_are_named(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "a.csv").write_text(csv_text())
    with pytest.raises(RunsError, match="is a directory.*a.csv"):
        load_runs(tmp_path / "sweep")
    zipped = tmp_path / "runs.zip"
    zipped.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(RunsError, match="a zip archive"):
        load_runs(zipped)


@pytest.mark.parametrize("magic, what, package", [
    (b"PK\x03\x04 xl/workbook.xml", "an Excel workbook", "openpyxl"),
    (b"PAR1\x00\x00", "a Parquet file", "pyarrow")])
def test_excel_and_parquet_are_refused_by_name_without_their_reader(tmp_path, monkeypatch,
                                                                     magic, what, package):
    monkeypatch.setattr(reading.importlib.util, "find_spec", lambda name: None)
    path = tmp_path / "runs.csv"
    path.write_bytes(magic)
    with pytest.raises(RunsError, match=f"{what}.*install {package}"):
        load_runs(path)


def test_excel_is_read_with_its_rows_as_lines_when_openpyxl_is_present(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "runs.xlsx"
    pd.DataFrame(SWEEP, columns=["params", "tokens", "loss"]).to_excel(path, index=False)
    runs = load_runs(path)
    expect_sweep(runs)
    assert runs.lines.tolist() == [2, 3, 4]


@pytest.mark.parametrize("data", ["file", "frame"])
def test_a_header_naming_one_column_twice_is_an_error(tmp_path, data):
    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss,loss\n1e8,2e9,3.1,3.0\n2e8,4e9,2.9,2.8\n")
    source = path if data == "file" else pd.DataFrame([[1e8, 2e9, 3.1, 3.0]],
                                                      columns=["params", "tokens", "loss", "loss"])
    with pytest.raises(RunsError, match="'loss' appears twice \\(columns 3 and 4\\)"):
        load_runs(source)
