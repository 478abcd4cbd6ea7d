"""How long does the ``auxqual`` command take to answer? (goal: ``--help`` under 1 s on 2 cores)

    python benchmarks/cli_startup.py [--repeat 5] [--out-dir benchmarks/results]

Times the installed console script (``.venv/bin/auxqual``, a fresh process each run, as a
user types it): ``auxqual --help``, each sub-command's ``--help``, and ``auxqual lineage
--model`` on the default run's table when ``results/lineage.parquet`` exists. Each command
is run ``--repeat`` times; the table gives the median and the best wall-clock time, whether
torch, prefect or dvc was imported (none should be, for these commands), and the slowest
imports of ``auxqual --help`` (``python -X importtime``).

Writes ``cli_startup.md`` and the section ``cli-startup`` of docs/benchmarks.md (the default output only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from auxqual.io import write_text

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_SECONDS = 1.0
HEAVY = ("torch", "prefect", "dvc")
LINEAGE_MODEL = "models/digits/local/eap/mlp/q20.pt"
_PROBE = ("import sys; sys.argv = ['auxqual', *sys.argv[1:]]\n"
          "try:\n    from auxqual.cli import main; code = main()\nexcept SystemExit as e: code = e.code\n"
          "sys.stdout.flush()\n"
          "print('HEAVY:' + ','.join(sorted({m.split('.')[0] for m in sys.modules} & set(%r))), file=sys.stderr)\n")


def commands() -> list[list[str]]:
    """The command lines to time (arguments after ``auxqual``)."""
    from auxqual.cli import build_parser

    names = sorted(build_parser()._subparsers._group_actions[0].choices)  # argparse has no public API for them
    lines = [["--help"]] + [[name, "--help"] for name in names]
    if (ROOT / "results" / "lineage.parquet").exists() and (ROOT / LINEAGE_MODEL).exists():
        lines.append(["lineage", "--model", LINEAGE_MODEL])
    return lines


def time_command(args: list[str], repeat: int) -> dict:
    """Median and best wall-clock seconds of ``auxqual ARGS`` over ``repeat`` fresh processes,
    and the heavy packages one run of the same command imports."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([str(BIN / "auxqual"), *args], cwd=ROOT, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"auxqual {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    probe = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY,), *args], cwd=ROOT, capture_output=True,
                           text=True)
    heavy = next((line.split(":", 1)[1] for line in probe.stderr.splitlines() if line.startswith("HEAVY:")), "?")
    return {"command": "auxqual " + " ".join(args), "median": statistics.median(seconds), "best": min(seconds),
            "heavy": heavy or "none"}


def slowest_imports(n: int = 8) -> list[tuple[str, float]]:
    """The ``n`` imports of ``auxqual --help`` with the largest cumulative time (``-X importtime``)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import sys; sys.argv = ['auxqual', '--help']\n"
                           "from auxqual.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass"],
                          cwd=ROOT, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            rows.append((parts[2].strip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:n]


def report(rows: list[dict], imports: list[tuple[str, float]], repeat: int, load: tuple) -> str:
    """The markdown table of start-up times."""
    main_help = next(row for row in rows if row["command"] == "auxqual --help")
    verdict = "met" if main_help["median"] < GOAL_SECONDS else "NOT met"
    lines = ["# `auxqual` start-up time", "",
             f"Machine: {os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}; "
             f"load average before {load[0]:.2f}. Each command {repeat} times, a fresh process each "
             f"(`python benchmarks/cli_startup.py`).", "",
             f"Goal: `auxqual --help` under {GOAL_SECONDS:.0f} s on 2 cores; median "
             f"**{main_help['median']:.2f} s** ({verdict}).", "",
             "| command | median (s) | best (s) | imports torch / prefect / dvc |", "| --- | ---: | ---: | --- |"]
    lines += [f"| `{row['command']}` | {row['median']:.2f} | {row['best']:.2f} | {row['heavy']} |" for row in rows]
    lines += ["", "Slowest imports of `auxqual --help` (cumulative seconds, `python -X importtime`, one run): "
              + ", ".join(f"`{name}` {seconds:.2f}" for name, seconds in imports) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    default_out = ROOT / "benchmarks" / "results"
    parser.add_argument("--out-dir", type=Path, default=default_out)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    rows = [time_command(line, args.repeat) for line in commands()]
    text = report(rows, slowest_imports(), args.repeat, load)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_text(text, args.out_dir / "cli_startup.md")
    if args.out_dir == default_out:
        from _readme import update_readme_section

        update_readme_section("cli-startup", text)
    print(text)


if __name__ == "__main__":
    main()
