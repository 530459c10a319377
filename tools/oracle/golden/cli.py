"""The command line of the oracle (tools/oracle/generate_golden.py): generate every case, or some, into a folder."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from .cases import all_cases
from .datasets import build_datasets
from .output import manifest, refused_entry, write_json
from .runner import probe_unsupported, run_case

DESCRIPTION = (
    "Golden-case generator: runs the real autoarray / autogalaxy and writes the JSON cases the tests compare against."
)
DEFAULT_OUT = Path(__file__).resolve().parents[3] / "tests" / "golden" / "imaging"


def progress_line(name: str, result: dict, size: int, diag: dict | None) -> str:
    """One line of progress: P, FoM and file size, with the JAX and fp64 comparisons where the case has them."""
    e = result["expected"]
    msg = f"{name:58s} P={len(e['reconstruction']):3d} FoM={e['figure_of_merit']:.12f} {size / 1024:6.0f} KiB"
    if "jax_figure_of_merit" in result:
        msg += f"  dFoM(jax)={result['jax_figure_of_merit'] - e['figure_of_merit']:.1e}"
        msg += f" max|ds|={diag['max_abs_reconstruction_diff']:.1e}"
    if "expected_fp64_figure_of_merit" in result:
        msg += f"  FoM(mixed)-FoM(fp64)={e['figure_of_merit'] - result['expected_fp64_figure_of_merit']:.2e}"
    return msg


def main(argv=None) -> int:
    """Parse the arguments (--out, --only, --list), run the cases and write their files (and MANIFEST.json on a full
    run). A case autoarray refuses gets no file; a full run lists it in MANIFEST.json."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default tests/golden/imaging)")
    parser.add_argument("--only", action="append", default=None, help="generate only this case (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the case names and exit")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", message=".*padded.*")
    cases = all_cases()
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    if args.only:
        unknown = set(args.only) - {c.name for c in cases}
        if unknown:
            parser.error(f"unknown case(s): {sorted(unknown)}")
        cases = [c for c in cases if c.name in set(args.only)]

    datasets = build_datasets()
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    done, refused, conditions = [], [], {}
    for case in cases:
        try:
            result = run_case(case, datasets)
        except Exception as e:  # autoarray refused this combination: record it, write no file
            entry = refused_entry(case, e)
            refused.append(entry)
            stale = args.out / f"{case.name}.json"
            if stale.exists():
                stale.unlink()
            print(f"{case.name:58s} REFUSED by autoarray: {entry['error'][:150]}", flush=True)
            continue
        done.append(case)
        conditions[case.name] = float(np.linalg.cond(np.asarray(result["expected"]["curvature_reg_matrix"])))
        diag = result.pop("_jax_diag", None)
        size = write_json(args.out / f"{case.name}.json", result)
        total += size
        print(progress_line(case.name, result, size, diag), flush=True)

    if not args.only:
        unsupported = refused + probe_unsupported(datasets)
        total += write_json(args.out / "MANIFEST.json", manifest(done, conditions, unsupported))
        print(f"{len(done)} cases ({len(refused)} refused), {total / 1024 / 1024:.2f} MiB written to {args.out}")
    return 0
