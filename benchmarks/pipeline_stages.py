"""Time the default pipeline, stage by stage, with the real ``dvc repro``.

Copies the pipeline (dvc.yaml, params.yaml, stages/, auxqual/) into a temporary git + DVC
repository, runs ``dvc repro`` there once and records when each stage started and ended
(from DVC's ``Running stage`` lines and the stages' own last log line). Writes
``benchmarks/results/pipeline_stages.csv`` and ``.md``.

    python benchmarks/pipeline_stages.py                       # the default params.yaml
    python benchmarks/pipeline_stages.py --set fanout.workers=2 --set fanout.runner=process

Goal (issue 4): the default ``dvc repro`` (embedded digits data, EAP T=100, 3 generators,
5 scores, 3 detectors, q = 0..100 step 10) finishes within 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_SECONDS = 300.0


def _set(params: dict, assignment: str) -> None:
    """Apply one ``--set key=value`` as the flows do: a key not in params.yaml is an error."""
    from auxqual.flows.dvcrepo import parse_overrides, set_nested

    for key, value in parse_overrides([assignment]).items():
        set_nested(params, key, value)


def _copy_pipeline(target: Path, params: dict) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*.partial")
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "stages", target / "stages", ignore=ignore)
    shutil.copytree(ROOT / "auxqual", target / "auxqual", ignore=ignore)
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(params: dict, keep: bool = False) -> tuple[list[dict], float, str]:
    env = os.environ.copy()
    env.update({"DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("PYTHONPATH", None)
    workdir = Path(tempfile.mkdtemp(prefix="auxqual-bench-"))
    try:
        subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
        subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=workdir, check=True, env=env)
        _copy_pipeline(workdir, params)
        start = time.perf_counter()
        process = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        stages: list[dict] = []
        log = []
        for line in process.stdout:
            now = time.perf_counter() - start
            log.append(line)
            sys.stderr.write(line)
            match = re.match(r"Running stage '([^']+)'", line)
            if match:
                if stages:
                    stages[-1]["end_s"] = now
                stages.append({"stage": match.group(1), "start_s": now, "end_s": None})
        code = process.wait()
        total = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"dvc repro failed ({code}); output above")
        if stages:
            stages[-1]["end_s"] = total
        for stage in stages:
            stage["seconds"] = stage["end_s"] - stage["start_s"]
        if keep:
            print(f"kept {workdir}", file=sys.stderr)
        return stages, total, "".join(log)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _versions() -> str:
    import dvc
    import torch

    return f"python {platform.python_version()}, dvc {dvc.__version__}, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param of params.yaml (dotted key, YAML value)")
    default_out = ROOT / "benchmarks" / "results" / "pipeline_stages"
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")
    args = parser.parse_args(argv)

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    try:
        for assignment in args.set:
            _set(params, assignment)
    except ValueError as error:
        parser.error(str(error))
    load_before = os.getloadavg()
    stages, total, _ = run(params, keep=args.keep)
    load_after = os.getloadavg()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["stage", "start_s", "seconds"])
        writer.writeheader()
        for stage in stages:
            writer.writerow({"stage": stage["stage"], "start_s": f"{stage['start_s']:.1f}",
                             "seconds": f"{stage['seconds']:.1f}"})
        writer.writerow({"stage": "TOTAL (dvc repro)", "start_s": "0.0", "seconds": f"{total:.1f}"})

    summary = {k: params[k] for k in ("data", "generate", "score", "train", "fanout") if k in params}
    lines = [
        "# Default pipeline: `dvc repro` time per stage", "",
        f"- when: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (shared machine)",
        f"- {_versions()}",
        f"- overrides: {', '.join(args.set) if args.set else 'none (the repository params.yaml)'}",
        f"- goal: under {GOAL_SECONDS:.0f} s on 2 cores; measured **{total:.1f} s** "
        f"({'met' if total <= GOAL_SECONDS else 'NOT met'})", "",
        "| stage | seconds | share |", "| --- | ---: | ---: |",
    ]
    for stage in stages:
        lines.append(f"| {stage['stage']} | {stage['seconds']:.1f} | {100 * stage['seconds'] / total:.0f} % |")
    lines += [f"| **total** | **{total:.1f}** | 100 % |", "",
              "Stage times include DVC's own work for the stage (hashing, caching) and the Python start-up.", "",
              "Params:", "", "```yaml", yaml.safe_dump(summary, sort_keys=False).rstrip(), "```", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    if not args.set and args.out == default_out:  # docs/benchmarks.md shows the default run only
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _readme import update_readme_section

        update_readme_section("pipeline-stages", "\n".join(lines).split("\nParams:")[0])


if __name__ == "__main__":
    main()
