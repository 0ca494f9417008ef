"""tradeguard vs NautilusTrader 1.221 on the same FTX month (issue 15, targets 2 and 5).

Run: .venv/bin/python bench/bench_vs_nautilus.py [--repeat N]

NautilusTrader lives in its own virtual environment, .bench-venvs/nautilus/ (git-ignored),
created here with `python3 -m venv` + pip on first use; the project never depends on it.
When it cannot be installed the bench prints why and exits 0.

Both sides replay the 45,031 one-minute bars of FTX BTC-PERP January 2022, parsed before the
timed part: tradeguard times `session.run()` of the session `tradeguard replay` wires (SQLite
journal, paper book, fresh state directory); NautilusTrader times `BacktestEngine.run()`
(bench/nautilus_side.py, in its own process, ERROR logging, no post-run analysis). Max RSS
is that of a whole process: `tradeguard replay --json` vs the NautilusTrader script. Runs
alternate between the two sides; medians of N runs are printed. Figures, not asserts. Each
replay throughput is also given per second of its process's CPU time (`time.process_time`
around the same calls): on a shared, loaded machine wall time mostly measures the scheduler.

Without orders, the like-for-like pair is a strategy that sees every bar and never signals on
both sides (bench/noop_strategy.py vs NautilusTrader's NoOp): the session's own bar path. The
SMA 10/30 dry run (signals computed and journaled, no order sent), the figure earlier runs of
this bench reported as "no orders", is printed below it against the same reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.month_replay import (
    REPO,
    SYMBOL,
    MonthRun,
    load_month,
    month_path,
    replay_month,
)
from bench.noop_strategy import CLASS_PATH as NO_SIGNALS

NAUTILUS_SPEC = "nautilus_trader==1.221.*"
NAUTILUS_SERIES = "1.221."
VENV = REPO / ".bench-venvs" / "nautilus"
SIDE_SCRIPT = Path(__file__).resolve().parent / "nautilus_side.py"
INSTALL_TIMEOUT = 1200
RUN_TIMEOUT = 600
MIB = 1024.0


class SkipBenchError(Exception):
    """NautilusTrader cannot be made available; the message says why."""


@dataclass(frozen=True)
class Figure:
    """Medians of one measurement on one side."""

    bars_per_second: float
    orders: int
    max_rss_mib: float | None = None
    cpu_bars_per_second: float | None = None  # per second of the process's CPU time


def venv_python() -> Path:
    """Return the python of the NautilusTrader environment."""
    return VENV / "bin" / "python"


def installed_version(python: Path) -> str | None:
    """Return the nautilus_trader version importable by python, or None."""
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import nautilus_trader; print(nautilus_trader.__version__)"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_nautilus() -> str:
    """Create or reuse the NautilusTrader venv; return its version or raise SkipBenchError."""
    version = installed_version(venv_python())
    if version is not None and version.startswith(NAUTILUS_SERIES):
        return version
    base = shutil.which("python3") or sys.executable
    print(f"installing {NAUTILUS_SPEC} into {VENV} (first run only) ...", flush=True)
    steps = (
        [base, "-m", "venv", "--clear", str(VENV)],
        [str(venv_python()), "-m", "pip", "install", "--quiet", NAUTILUS_SPEC],
    )
    for step in steps:
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            message = f"`{' '.join(step)}` failed: {e}"
            raise SkipBenchError(message) from e
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            message = f"`{' '.join(step)}` exited {done.returncode}: {' | '.join(tail)}"
            raise SkipBenchError(message)
    version = installed_version(venv_python())
    if version is None:
        message = f"nautilus_trader does not import in {VENV} after installation"
        raise SkipBenchError(message)
    return version


def nautilus_run(data: Path, kind: str) -> dict[str, float]:
    """Run bench/nautilus_side.py once in the NautilusTrader venv; return its JSON figures."""
    done = subprocess.run(
        [str(venv_python()), str(SIDE_SCRIPT), str(data), kind],
        capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT, cwd=REPO,
    )
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        message = f"nautilus_side.py {kind} exited {done.returncode}: {tail}"
        raise SkipBenchError(message)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cli_replay_rss(data: Path) -> tuple[float, float, int]:
    """Run `tradeguard replay --json` on the month in a child; return (MiB, seconds, orders)."""
    cli = Path(sys.executable).with_name("tradeguard")
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp, tempfile.TemporaryFile() as out:
        env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=tmp)
        command = [str(cli), "--state-dir", f"{tmp}/state", "replay", "--data",
                   f"{data}:{SYMBOL}", "--json"]
        began = time.perf_counter()
        # Linux carries the spawning process's peak RSS into the child's ru_maxrss across
        # exec, so this (large) bench process would be counted: a tiny interpreter spawns the
        # replay and reports that child's own peak on stderr.
        child = subprocess.run(
            [sys.executable, "-S", "-c", _RSS_PROBE, *command],
            stdout=out, stderr=subprocess.PIPE, env=env, check=False,
        )
        seconds = time.perf_counter() - began
        out.seek(0)
        text = out.read().decode()
    if child.returncode != 0:
        message = f"tradeguard replay exited {child.returncode}"
        raise RuntimeError(message)
    orders = int(json.loads(text)["orders_submitted"])
    max_rss_kib = int(child.stderr.decode().strip().splitlines()[-1])
    return max_rss_kib / MIB, seconds, orders


_RSS_PROBE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(str(usage.ru_maxrss) + chr(10))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def median_figure(
    rates: list[float], orders: list[int], rss: list[float] | None, cpu: list[float] | None
) -> Figure:
    """Return the medians of one measurement's runs."""
    return Figure(
        statistics.median(rates),
        int(statistics.median(orders)),
        statistics.median(rss) if rss else None,
        statistics.median(cpu) if cpu else None,
    )


def measure(data: Path, repeat: int) -> tuple[dict[str, Figure], int]:
    """Alternate tradeguard and NautilusTrader runs; return the medians and the bar count."""
    items = load_month(data)
    rates: dict[str, list[float]] = {}
    orders: dict[str, list[int]] = {}
    rss: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def keep(key: str, rate: float, count: int, mib: float | None = None,
             cpu_rate: float | None = None) -> None:
        rates.setdefault(key, []).append(rate)
        orders.setdefault(key, []).append(count)
        if mib is not None:
            rss.setdefault(key, []).append(mib)
        if cpu_rate is not None:
            cpu.setdefault(key, []).append(cpu_rate)

    def keep_run(key: str, run: MonthRun) -> None:
        keep(key, run.bars_per_second, run.orders, cpu_rate=run.cpu_bars_per_second)

    def keep_nautilus(kind: str) -> None:
        side = nautilus_run(data, kind)
        keep(f"nt-{kind}", side["bars"] / side["seconds"], int(side["orders"]),
             side["max_rss_kib"] / MIB, side["bars"] / side["cpu_seconds"])

    for i in range(repeat):
        print(f"run {i + 1}/{repeat} ...", flush=True)
        keep_run("tg-noop", replay_month(items, dry_run=True, strategy_class=NO_SIGNALS))
        keep_run("tg-dry", replay_month(items, dry_run=True))
        keep_nautilus("noop")
        keep_run("tg-sma", replay_month(items, dry_run=False))
        keep_nautilus("sma")
        mib, seconds, count = cli_replay_rss(data)
        keep("tg-cli", len(items) / seconds, count, mib)
    figures = {
        key: median_figure(rates[key], orders[key], rss.get(key), cpu.get(key)) for key in rates
    }
    return figures, len(items)


def verdict(ok: bool) -> str:
    """Return the status word of a target."""
    return "met" if ok else "NOT met"


def _cpu_row(tg: Figure, nt: Figure) -> tuple[str, str, str]:
    """Return the tradeguard, NautilusTrader and ratio cells of the CPU-time figures."""
    if tg.cpu_bars_per_second is None or nt.cpu_bars_per_second is None:
        return "", "", ""
    ratio = tg.cpu_bars_per_second / nt.cpu_bars_per_second
    return f"{tg.cpu_bars_per_second:,.0f}", f"{nt.cpu_bars_per_second:,.0f}", f"{ratio:.2f}x"


def print_table(figures: dict[str, Figure], version: str, repeat: int, bars: int) -> None:
    """Print measurement | tradeguard | NautilusTrader | ratio | target."""
    tg_noop, nt_noop, tg_dry = figures["tg-noop"], figures["nt-noop"], figures["tg-dry"]
    tg_sma, nt_sma = figures["tg-sma"], figures["nt-sma"]
    cli, nt_rss = figures["tg-cli"], figures["nt-sma"].max_rss_mib or 0.0
    tg_rss = cli.max_rss_mib or 0.0
    noop_ratio = tg_noop.bars_per_second / nt_noop.bars_per_second
    dry_ratio = tg_dry.bars_per_second / nt_noop.bars_per_second
    sma_ratio = tg_sma.bars_per_second / nt_sma.bars_per_second
    head = f"{'measurement (medians of ' + str(repeat) + ')':<46} {'tradeguard':>14} " \
           f"{'Nautilus ' + version:>16} {'ratio':>7}  target"
    print(head)
    print("-" * len(head) + "-" * 18)
    rows = [
        ("replay, no signals/orders, SQLite (bars/s)", f"{tg_noop.bars_per_second:,.0f}",
         f"{nt_noop.bars_per_second:,.0f}", f"{noop_ratio:.2f}x",
         f">= 8x  {verdict(noop_ratio >= 8)}"),
        ("  the same by CPU time (bars per CPU-second)", *_cpu_row(tg_noop, nt_noop),
         "robust on a loaded machine"),
        ("  the same with SMA 10/30 dry run (signals)", f"{tg_dry.bars_per_second:,.0f}",
         f"{nt_noop.bars_per_second:,.0f}", f"{dry_ratio:.2f}x", "no orders, signals journaled"),
        ("replay, SMA 10/30 orders, SQLite (bars/s)", f"{tg_sma.bars_per_second:,.0f}",
         f"{nt_sma.bars_per_second:,.0f}", f"{sma_ratio:.2f}x",
         f">= 5x  {verdict(sma_ratio >= 5)}"),
        ("  the same by CPU time (bars per CPU-second)", *_cpu_row(tg_sma, nt_sma), ""),
        ("  orders submitted in that replay", f"{tg_sma.orders:,}", f"{nt_sma.orders:,}",
         "", ""),
        ("max RSS, month replay with orders (MiB)", f"{tg_rss:.1f}", f"{nt_rss:.1f}",
         f"{tg_rss / nt_rss:.2f}x" if nt_rss else "", f"<= 64 MiB  {verdict(tg_rss <= 64)}"),
        ("  whole `tradeguard replay --json` (bars/s)", f"{cli.bars_per_second:,.0f}",
         "", "", "incl. startup + parse"),
    ]
    for name, tg, nt, ratio, target in rows:
        print(f"{name:<46} {tg:>14} {nt:>16} {ratio:>7}  {target}")
    print_budget(figures, bars)


def print_budget(figures: dict[str, Figure], bars: int) -> None:
    """Print what orders cost tradeguard per order and what the 5x target leaves them.

    An order's cost is the month's time with orders less its time without signals, spread
    over the orders; the budget is the same difference with the time 5x NautilusTrader
    allows. Every order writes durably before and after its broker call (docs/state.md),
    so bench_journal.py's design floor (the order commits' SQL alone) is a least cost.
    """
    tg_noop, tg_sma, nt_sma = figures["tg-noop"], figures["tg-sma"], figures["nt-sma"]
    orders = max(1, tg_sma.orders)
    base = bars / tg_noop.bars_per_second
    spent = (bars / tg_sma.bars_per_second - base) / orders * 1e6
    budget = (bars / (5 * nt_sma.bars_per_second) - base) / orders * 1e6
    print(f"{'per order: tradeguard (with orders - no signals) (us)':<62} {spent:>10,.0f}")
    print(f"{'per order: what the 5x target leaves, same subtraction (us)':<62} {budget:>10,.0f}")


def main() -> int:
    """Set up NautilusTrader, measure both sides, print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()
    # Same verbosity on both sides: NautilusTrader runs at ERROR.
    logging.basicConfig(level=logging.ERROR)
    data = month_path()
    try:
        version = ensure_nautilus()
        figures, bars = measure(data, max(1, args.repeat))
    except SkipBenchError as e:
        print(f"skipped: NautilusTrader {NAUTILUS_SPEC} unavailable: {e}")
        return 0
    print_table(figures, version, max(1, args.repeat), bars)
    return 0


if __name__ == "__main__":
    sys.exit(main())
