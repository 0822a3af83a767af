"""The ``next`` command: which runs to train next to sharpen a target forecast (`design`)."""

from __future__ import annotations

from .output import (announce_gate, check_writable, diagnostics_dict, emit_table, image_format,
                     records, to_stderr)
from .options import (add_discrepancy_flag, fit_file_command, load_fit, parse_discrepancy,
                      parse_list)

PROPOSAL_COLUMNS = ["step", "N", "D", "C", "cumulative_C", "width_after", "gain", "gain_se",
                    "gain_per_flop", "ess_ok"]
RANKING_SHOWN = 10  # candidates shown in the text output's ranking


def one_number(text, flag):
    """A single number of a flag (``70B``, ``5e20``), or None when the flag is absent."""
    values = parse_list(text, flag)
    if values is None:
        return None
    if len(values) != 1:
        raise ValueError(f"--{flag} takes one number, got {text!r}")
    return values[0]


def cmd_next(args):
    import jax

    from ..data import load_points
    from ..design import candidate_grid, check_candidates, propose_batch, target_point

    if args.plot:
        image_format(args.plot)  # before any work
        check_writable(args.plot, args.force)
    budget = one_number(args.budget, "budget")
    limits = {"max_params": one_number(args.max_params, "max-params"),
              "max_tokens": one_number(args.max_tokens, "max-tokens")}
    for name, value in (("budget", budget), *limits.items()):
        if value is not None and not value > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value:g}")
    post = load_fit(args)
    target = target_point(post, flops=one_number(args.target_flops, "target-flops"),
                          N=one_number(args.target_params, "target-params"),
                          D=one_number(args.target_tokens, "target-tokens"))
    if args.candidates == "grid":
        candidates = candidate_grid(post, budget, **limits)
    else:
        N, D, _ = load_points(args.candidates, flops_per_param_token=post.flops_per_param_token)
        candidates = check_candidates(N, D, flops_per_param_token=post.flops_per_param_token,
                                      budget=budget, **limits)
    discrepancy = parse_discrepancy(args.discrepancy)
    if args.refit:
        to_stderr(f"refitting the runs {len(candidates) * args.outcomes} times (every "
                  f"candidate x simulated outcome, one batched fit): an accelerator's job; on "
                  f"a CPU expect minutes")
    design = propose_batch(post, candidates, target=target, budget=budget,
                           key=jax.random.key(args.seed), count=args.count,
                           outcomes=args.outcomes, prob=args.prob, band=args.band,
                           discrepancy=discrepancy, objective=args.objective,
                           rank=args.rank, refit=args.refit)
    diagnostics = post.check()
    per = " per FLOP" if args.rank == "per-flop" else ""
    point = f"N={target['N']:.3g}, D={target['D']:.3g} (C={target['C']:.3g} FLOP)"
    if args.objective == "decision":
        what = (f"fall{per} of the expected regret of the compute-optimal allocation at "
                f"{target['C']:.3g} FLOP (the loss that the model size chosen under today's "
                f"uncertainty is expected to give up against the true optimum: now "
                f"{design.ranking['regret_before'].iloc[0]:.3g}, in the units of the loss)")
        shown = [c if c != "width_after" else "regret_after" for c in PROPOSAL_COLUMNS]
    else:
        what = (f"narrowing{per} of the {args.prob:.0%} interval of the {args.band} loss "
                f"at {point}; width now {design.width_now:.4g}")
        shown = PROPOSAL_COLUMNS
    title = (f"Greedy batch of up to {args.count} runs within {budget:.3g} FLOP, chosen by "
             f"expected {what}; {len(candidates)} candidates, {args.outcomes} simulated "
             f"outcomes each")
    # What the candidates' limits left out comes first, then what the batch says.
    notes = [note for note in (candidates.attrs.get("left_out"),) if note] + design.notes
    text = not (args.json or args.csv)
    if text and design.proposals.empty:
        print(f"{title}\nno run proposed (the notes below say why)")
    else:
        emit_table(design.proposals[shown] if text else design.proposals, args, title=title,
                   extra={"fit": args.fit, "method": design.method, "target": design.target,
                          "budget": budget, "objective": args.objective, "rank": args.rank,
                          "band": args.band, "prob": args.prob,
                          "width_now": design.width_now, "notes": notes,
                          "ranking": records(design.ranking), "refit": args.refit,
                          "diagnostics": diagnostics_dict(diagnostics)})
    if text:
        columns = ["N", "D", "C", shown[5], "gain", "gain_se", "gain_per_flop", "ess_ok"]
        if args.refit:
            columns += ["gain_reweighted", "refit_gate_ok"]
        emit_table(design.ranking.head(RANKING_SHOWN)[columns], args,
                   title=f"\nBest {min(RANKING_SHOWN, len(design.ranking))} of "
                         f"{len(design.ranking)} "
                         f"candidates alone (before any is chosen), by gain{per}"
                         + (", refitted" if args.refit else ""))
    for note in notes:
        to_stderr(f"note: {note}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plots.design import plot_design

        fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
        plot_design(post, design, candidates=candidates, ax=ax)
        fig.savefig(args.plot, format=image_format(args.plot), dpi=150)
        plt.close(fig)
        to_stderr(f"wrote {args.plot}")
    announce_gate(diagnostics)
    return 0


def add_commands(sub):
    """The parser of 'next' (``sub``: the subparsers of `main.build_parser`)."""
    nx = fit_file_command(sub, "next", "which runs to train next: rank candidate runs by the "
                                       "expected narrowing of a target forecast per FLOP and "
                                       "propose a batch within a budget", cmd_next, probs=False)
    nx.add_argument("--target-flops", required=True,
                    help="compute of the target run, e.g. 1e23; alone: the compute-optimal "
                         "run at that compute (posterior median N*)")
    nx.add_argument("--target-params", help="parameters of the target run, e.g. 70B")
    nx.add_argument("--target-tokens", help="tokens of the target run, e.g. 1.4T")
    nx.add_argument("--budget", required=True, help="FLOPs to spend on the proposed runs")
    nx.add_argument("--candidates", default="grid", metavar="grid|FILE.csv",
                    help="candidate runs: 'grid' (default: isoFLOP lines at the budget and at "
                         "1/4, 1/16, 1/64 of it) or a CSV with two of params, tokens, flops")
    nx.add_argument("--count", type=int, default=4, help="the most runs to propose (default 4)")
    nx.add_argument("--max-params", help="leave out candidates with more parameters, e.g. 7B")
    nx.add_argument("--max-tokens", help="leave out candidates with more tokens, e.g. 300B")
    nx.add_argument("--outcomes", type=int, default=64,
                    help="simulated outcomes per candidate (default 64)")
    nx.add_argument("--prob", type=float, default=0.9,
                    help="the central interval whose width is the objective (default 0.9)")
    nx.add_argument("--band", default="observed", choices=("observed", "expected"),
                    help="the target's observed loss (noise and the law's own error beyond the "
                         "data, as forecast's observed band; default) or its expected loss "
                         "(the law: parameter uncertainty alone)")
    nx.add_argument("--objective", default="width", choices=("width", "decision"),
                    help="what a run should improve: the width of the target's interval "
                         "(default), or the expected regret of the compute-optimal allocation "
                         "at the target's compute (with --rank gain, the one that matched a "
                         "fixed isoFLOP grid's error in simulation, see the README)")
    nx.add_argument("--rank", default="per-flop", choices=("per-flop", "gain"),
                    help="choose each run by expected gain per FLOP (default; cheap runs "
                         "first) or by expected gain whatever it costs (spends the budget on "
                         "the most informative runs: on real sweeps in retrospect as good or "
                         "better when the whole budget will be spent)")
    nx.add_argument("--refit", action="store_true",
                    help="rank the candidates by full refits (every candidate x simulated "
                         "outcome one fit of one batched call: an accelerator's job) instead "
                         "of reweighting the draws, the reweighting's estimates beside them; "
                         "the batch is still chosen by reweighting")
    add_discrepancy_flag(nx, "in the target's observed band")
    nx.add_argument("--seed", type=int, default=0)
    nx.add_argument("--plot", metavar="PATH",
                    help="also draw the runs, candidates, proposals and isoFLOP lines over "
                         "(N, D) (.png, .svg or .pdf)")
    nx.add_argument("--force", action="store_true", help="overwrite an existing --plot image")
