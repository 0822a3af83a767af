"""What the command line prints: tables as text, CSV or JSON; the diagnostics gate; notes on stderr."""

from __future__ import annotations

import json
import os
import sys

EXIT_INPUT_ERROR = 2
# The fit was made (and written, unless --strict) but failed the diagnostics gate: scripts can
# tell it from a clean fit (0) and from bad input (2).
EXIT_GATE_FAILED = 3


def to_stderr(message):
    print(message, file=sys.stderr)


def emit_table(frame, args, title=None, extra=None):
    """Print a DataFrame as text, CSV (--csv) or JSON (--json, with ``extra`` keys)."""
    if getattr(args, "json", False):
        print(json.dumps({**(extra or {}), "table": records(frame)}, indent=2))
    elif getattr(args, "csv", False):
        print(frame.to_csv(index=False), end="")
    else:
        if title:
            print(title)
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def records(frame):
    return json.loads(frame.to_json(orient="records"))


def diagnostics_dict(diagnostics):
    return {"ok": diagnostics.ok, "problems": list(diagnostics.problems),
            "max_r_hat": diagnostics.max_r_hat, "min_ess_bulk": diagnostics.min_ess_bulk,
            "min_ess_tail": diagnostics.min_ess_tail, "divergences": diagnostics.divergences,
            "min_e_bfmi": diagnostics.min_bfmi}


def announce_gate(diagnostics):
    if not diagnostics.ok:
        bar = "!" * 78
        to_stderr(f"{bar}\nWARNING: {diagnostics.message()}\nDo not trust these numbers as they "
             f"are.\n{bar}")


def summary_payload(post, diagnostics):
    """The parameter table and the fit's facts, for text and JSON output alike."""
    frame = post.summary(prob=0.9).reset_index().rename(columns={"index": "param"})
    attrs = post.attrs
    extra = {"law": post.law.name, "likelihood": post.likelihood, "source": attrs["source"],
             "num_runs": int(post.runs_table.shape[0]), "priors": attrs["priors"],
             "sampler": attrs["sampler"], "diagnostics": diagnostics_dict(diagnostics),
             "mean_leapfrog_steps": float(post.idata.sample_stats["n_steps"].mean())}
    if "pool" in attrs:
        extra.update(groups=attrs["groups"], pool=attrs["pool"])
    return frame, extra


def print_summary(post, args, header=""):
    diagnostics = post.check()
    frame, extra = summary_payload(post, diagnostics)
    attrs = post.attrs
    if getattr(args, "json", False) or getattr(args, "csv", False):
        emit_table(frame, args, extra=extra)
    else:
        if header:
            print(header)
        sampler = attrs["sampler"]
        print(f"law {post.law.name} ({post.law.reference}); {post.likelihood} likelihood on "
              f"log-loss; {extra['num_runs']} runs from {extra['source']}")
        print("priors: " + "; ".join(f"{k} ~ {v}" if not v.startswith("fixed") else f"{k} {v}"
                                     for k, v in attrs["priors"].items()))
        if "pool" in attrs:
            own = [n for n in post.law.param_names if n not in attrs["pool"]]
            print(f"groups: {', '.join(attrs['groups'])}; pooled: {', '.join(attrs['pool'])} "
                  f"(their priors above are the population's; <name>_tau is the spread between "
                  f"groups); each group's own: {', '.join(own) or 'none'}")
        print(f"sampler: NUTS, {sampler['num_chains']} chains x ({sampler['num_warmup']} warmup + "
              f"{sampler['num_samples']} draws), target acceptance {sampler['target_accept']}")
        emit_table(frame, args)
        print(f"divergences: {diagnostics.divergences}   min E-BFMI: {diagnostics.min_bfmi:.2f}   "
              f"max R-hat: {diagnostics.max_r_hat:.4f}   min ESS bulk/tail: "
              f"{diagnostics.min_ess_bulk:.0f}/{diagnostics.min_ess_tail:.0f}   "
              f"mean leapfrog steps: {extra['mean_leapfrog_steps']:.1f}")
        print(diagnostics.message())
    note = post.outlier_note()
    if note:
        to_stderr(f"note: {note}")
    announce_gate(diagnostics)


def describe_runs(runs):
    if runs.columns:
        to_stderr("columns: " + ", ".join(f"{k} <- {v!r}" for k, v in runs.columns.items())
             + "".join(f", {k} derived" for k in ("N", "D", "C") if k not in runs.columns))
    for note in (*runs.notes, *runs.dropped):
        to_stderr(note)


def check_writable(path, force, other="-o another path", suffixes=None):
    """Refuse, before any work, an output path that could not be written as asked: an existing
    file without ``force``, a directory, a missing or read-only directory, or (with
    ``suffixes``) a name whose extension belongs to another format."""
    if os.path.isdir(path):
        raise ValueError(f"cannot write {path}: it is a directory; name a file in it, e.g. "
                         f"{os.path.join(path, 'out' + (suffixes[0] if suffixes else ''))}")
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        raise ValueError(f"{path}: this file is written as {'/'.join(suffixes)}; name it "
                         f"*{suffixes[0]} (the extension says what a file holds)")
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it or {other}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"cannot write {path}: directory {directory} is not writable")


IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def image_format(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_FORMATS:
        raise ValueError(f"{path}: unknown image format {ext or '(no extension)'!r}; "
                         f"use {', '.join(IMAGE_FORMATS)}")
    return IMAGE_FORMATS[ext]
