"""What compiling the hot path with mypyc would buy on the headline workload: an experiment.

    python benchmarks/compiled_core.py                 # 300,000 bars, 3 rounds
    python benchmarks/compiled_core.py --bars 1000000 --rounds 2

tradeloop ships as pure Python. This script copies ``src/`` to a temporary directory, compiles
the modules of the per-bar and per-order path there with mypyc (mypy's compiler, installed
with the test dependencies; it needs a C compiler and the Python headers), then runs the
headline backtest (event log off) alternately on the pure and the compiled copy, each run in
its own process. It prints the rates and each run's trades and final P&L, which must be equal.
Nothing in the working tree changes, and nothing it builds is installed.

The modules are the ones whose own code is on the hot path and that need no change to compile:
the bus and clock, portfolio, simulated venue, execution, risk engine, orders, positions,
account and the backtest loop. Strategies, indicators and the component base stay interpreted
(users subclass them) and so do the msgspec messages and value objects (mypyc cannot compile
a msgspec ``Struct``). See docs/design-notes.md, "The core stays pure Python".
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "core/bus",
    "core/clock",
    "portfolio/portfolio",
    "venues/simulated/exchange",
    "venues/simulated/matching",
    "venues/simulated/checks",
    "venues/simulated/working_order",
    "venues/simulated/ledger",
    "execution/engine",
    "execution/factory",
    "risk/engine",
    "model/orders",
    "model/position",
    "model/account",
    "runtime/backtest",
]
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
setup(name="tradeloop-compiled-experiment", ext_modules=mypycify(sys.argv.pop(1).split(","), opt_level="3"))
"""
_RUN = """
import json, sys
sys.path.insert(0, {bench!r})
import run
out = run.scenario_backtest({bars}, False)
print(json.dumps({{k: out[k] for k in ("rate", "trades", "final_pnl", "messages")}}))
"""


def _build(work: Path) -> Path:
    src = work / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (work / "setup_mypyc.py").write_text(_SETUP)
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())  # mypy's settings
    paths = ",".join(f"src/tradeloop/{m}.py" for m in MODULES)
    proc = subprocess.run(
        [sys.executable, "setup_mypyc.py", paths, "build_ext", "--inplace"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"mypyc build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return src


def _run(src: Path, bars: int) -> dict[str, object]:
    code = _RUN.format(bench=str(ROOT / "benchmarks"), bars=bars)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"run failed:\n{proc.stderr[-4000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bars", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tradeloop-mypyc-") as tmp:
        print(f"compiling {len(MODULES)} modules with mypyc (about a minute) ...", flush=True)
        compiled = _build(Path(tmp))
        rates: dict[str, list[int]] = {"pure": [], "compiled": []}
        outcomes = set()
        for _ in range(args.rounds):
            for name, src in (("pure", ROOT / "src"), ("compiled", compiled)):
                out = _run(src, args.bars)
                rates[name].append(int(str(out["rate"])))
                outcomes.add((out["trades"], out["final_pnl"], out["messages"]))
                print(f"  {name:>8}: {out['rate']:,} bars/s", flush=True)
    pure, fast = statistics.median(rates["pure"]), statistics.median(rates["compiled"])
    print(f"\nmedian over {args.rounds} rounds of {args.bars:,} bars, event log off:")
    print(f"  pure Python {pure:,.0f} bars/s; compiled {fast:,.0f} bars/s; {fast / pure:.2f}x")
    trades, pnl, messages = sorted(outcomes)[0]
    same = "the same" if len(outcomes) == 1 else "DIFFERENT"
    print(f"  trades, final P&L and message count: {same} ({trades} trades, {pnl}, {messages} messages)")
    if len(outcomes) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
