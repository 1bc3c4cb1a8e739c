"""Cold start benchmark: ``voiceapp lint FILE`` vs ``python -c "import lxml.etree"``.

Each command runs as a whole new process, the commands taking turns (A B [C] A B [C]
...) so a drift of the machine's speed hits all of them alike.  A process's CPU time
(user + system, from ``os.wait4``: the kernel's accounting of that process alone) is
the figure; wall time is printed too.  The ratio is voiceapp's median over the peer's.

``--before TREE`` adds the same lint command with ``PYTHONPATH=TREE``: a source tree
holding another version's ``voiceapp/`` (``git archive <commit> voiceapp | tar -x -C
TREE``), so before and after are measured in the same run.

``--bytecode cached`` (default) lets Python write and read ``__pycache__`` (what an
installed package does); ``--bytecode source`` removes voiceapp's ``__pycache__``
folders first and runs with ``PYTHONDONTWRITEBYTECODE=1``, so voiceapp's modules are
compiled from source in every run (the peer's lxml and the standard library keep
their own compiled files in both modes).  Target: lint <= 1.3x the peer.

Usage: ``.venv/bin/python bench/bench_cli.py [--runs 20] [--bytecode cached|source]
[--before TREE] [--file examples/pin.xml]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``argv``; its output is discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode not in (0, 1):  # lint exits 1 on an invalid document
        raise SystemExit(f"{argv} failed ({proc.returncode}): {err.decode()[-400:]}")
    return usage.ru_utime + usage.ru_stime, wall


def clear_bytecode(tree: Path) -> None:
    for cache in (tree / "voiceapp").rglob("__pycache__"):
        shutil.rmtree(cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bytecode", choices=("cached", "source"), default="cached")
    ap.add_argument("--before", type=Path, help="a tree with the other version's voiceapp/")
    ap.add_argument("--file", default=str(ROOT / "examples" / "pin.xml"))
    args = ap.parse_args()

    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if args.bytecode == "source":
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    lint = [str(BIN / "voiceapp"), "lint", args.file]
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "voiceapp lint": (lint, env),
        "python -c 'import lxml.etree'": ([sys.executable, "-c", "import lxml.etree"], env),
    }
    if args.before is not None:
        commands["voiceapp lint, before"] = (lint, {**env, "PYTHONPATH": str(args.before)})
    trees = [ROOT] + ([args.before] if args.before is not None else [])
    if args.bytecode == "source":
        for tree in trees:
            clear_bytecode(tree)

    cpu: dict[str, list[float]] = {name: [] for name in commands}
    wall: dict[str, list[float]] = {name: [] for name in commands}
    for _warmup in range(2):  # writes __pycache__ in cached mode
        for argv, cmd_env in commands.values():
            run_once(argv, cmd_env)
    for _ in range(args.runs):
        for name, (argv, cmd_env) in commands.items():
            c, w = run_once(argv, cmd_env)
            cpu[name].append(c)
            wall[name].append(w)

    peer = "python -c 'import lxml.etree'"
    peer_cpu = statistics.median(cpu[peer])
    print(f"cold start, {args.runs} runs each, bytecode {args.bytecode}, file {args.file}")
    for name in commands:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        ratio = "" if name == peer else f"  {c / peer_cpu:.2f}x the peer (CPU)"
        print(f"  {name:32} CPU {c * 1000:6.1f} ms  wall {w * 1000:6.1f} ms{ratio}")
    print("  target: voiceapp lint <= 1.3x the peer")


if __name__ == "__main__":
    main()
