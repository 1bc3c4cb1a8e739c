"""Cold start benchmark: ``voiceapp lint FILE`` vs ``python -c "import lxml.etree"``.

Each command runs as a whole new process, the commands taking turns (A B [C] A B [C]
...) so a drift of the machine's speed hits all of them alike.  A process's CPU time
(user + system, from ``os.wait4``: the kernel's accounting of that process alone) is
the figure; wall time is printed too.  The ratio is voiceapp's median over the peer's.

``--before TREE`` adds the same lint command with ``PYTHONPATH=TREE``: a source tree
holding another version's ``voiceapp/`` (``git archive <commit> voiceapp | tar -x -C
TREE``), so before and after are measured in the same run; and this tree's lint with
``PYTHONPATH`` naming it, the "after" to compare with (a ``PYTHONPATH`` entry is looked
in by every import, stdlib and lxml too: about 2.5 M instructions).

``--bytecode cached`` (default) lets Python write and read ``__pycache__`` (what an
installed package does); ``--bytecode source`` removes voiceapp's ``__pycache__``
folders first and runs with ``PYTHONDONTWRITEBYTECODE=1``, so voiceapp's modules are
compiled from source in every run (the peer's lxml and the standard library keep
their own compiled files in both modes).  Target: lint <= 1.3x the peer.

``--site venv`` (default) runs this virtualenv's ``voiceapp`` script and Python: in a
dev setup (``scripts/setup``) that is an editable install, whose finder every process
of the venv loads at start (the peer too: about 50 M instructions).  ``--site
installed`` runs both from a throwaway venv whose ``.pth`` puts the tree and this venv's
site-packages on ``sys.path`` as plain entries, so voiceapp is imported as from an
installed wheel and neither command pays the editable finder.

``--instructions`` also runs each command once under ``valgrind --tool=callgrind`` and
prints its instruction count and the ratio (the machine's load does not move them).

Usage: ``.venv/bin/python bench/bench_cli.py [--runs 20] [--bytecode cached|source]
[--site venv|installed] [--instructions] [--before TREE] [--file examples/pin.xml]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
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


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions one run of ``argv`` executes (valgrind callgrind's ``Collected``)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count for {argv}: {proc.stderr[-400:]}")
    return int(found.group(1))


def installed_site(where: Path) -> tuple[str, str]:
    """(python, voiceapp script) of a venv at ``where`` that imports voiceapp, lxml and
    click through plain ``sys.path`` entries (no editable finder), as a wheel would."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(target, "voiceapp-bench.pth").write_text("\n".join([str(ROOT), *ours]) + "\n")
    script = where / "bin" / "voiceapp"
    body = (BIN / "voiceapp").read_text().split("\n", 1)[1]  # the console script, new #!
    script.write_text(f"#!{python}\n{body}")
    script.chmod(0o755)
    return str(python), str(script)


def clear_bytecode(tree: Path) -> None:
    for cache in (tree / "voiceapp").rglob("__pycache__"):
        shutil.rmtree(cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bytecode", choices=("cached", "source"), default="cached")
    ap.add_argument("--before", type=Path, help="a tree with the other version's voiceapp/")
    ap.add_argument("--site", choices=("venv", "installed"), default="venv")
    ap.add_argument("--instructions", action="store_true", help="also count (callgrind)")
    ap.add_argument("--file", default=str(ROOT / "examples" / "pin.xml"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        if args.site == "installed":
            python, script = installed_site(Path(tmp) / "venv")
        else:
            python, script = sys.executable, str(BIN / "voiceapp")
        measure(args, python, script)


def measure(args: argparse.Namespace, python: str, script: str) -> None:

    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if args.bytecode == "source":
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    lint = [script, "lint", args.file]
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "voiceapp lint": (lint, env),
        "python -c 'import lxml.etree'": ([python, "-c", "import lxml.etree"], env),
    }
    if args.before is not None:  # both on PYTHONPATH: its entry costs every import a look
        commands["voiceapp lint, on PYTHONPATH"] = (lint, {**env, "PYTHONPATH": str(ROOT)})
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
    print(
        f"cold start, {args.runs} runs each, bytecode {args.bytecode}, site {args.site}, "
        f"file {args.file}, load {os.getloadavg()[0]:.1f}"
    )
    for name in commands:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        ratio = "" if name == peer else f"  {c / peer_cpu:.2f}x the peer (CPU)"
        print(f"  {name:32} CPU {c * 1000:6.1f} ms  wall {w * 1000:6.1f} ms{ratio}")
    if args.instructions:
        counts = {name: instructions(argv, cmd_env) for name, (argv, cmd_env) in commands.items()}
        for name, count in counts.items():
            ratio = "" if name == peer else f"  {count / counts[peer]:.2f}x the peer"
            print(f"  {name:32} {count / 1e6:6.1f} M instructions{ratio}")
    print("  target: voiceapp lint <= 1.3x the peer")


if __name__ == "__main__":
    main()
