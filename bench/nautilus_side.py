"""NautilusTrader side of bench_vs_nautilus.py: one timed BacktestEngine.run() on the FTX month.

Runs ONLY with the Python of the bench's own NautilusTrader virtual environment
(.bench-venvs/nautilus); the project never imports it. Prints one JSON line:
{"bars", "seconds", "cpu_seconds", "orders", "fills", "max_rss_kib", "version"}.

Run: .bench-venvs/nautilus/bin/python bench/nautilus_side.py DATA.csv.gz {noop|sma}
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from decimal import Decimal
from pathlib import Path

import nautilus_trader
import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy


class BenchConfig(StrategyConfig, frozen=True):
    """Instrument, bar type and SMA periods of both bench strategies."""

    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Decimal = Decimal("0.01")
    fast: int = 10
    slow: int = 30


class NoOp(Strategy):
    """Subscribes to the bars and does nothing with them."""

    def __init__(self, config: BenchConfig) -> None:
        super().__init__(config)
        self.bar_type = config.bar_type

    def on_start(self) -> None:
        """Subscribe to the bar stream."""
        self.subscribe_bars(self.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Ignore the bar."""


class SmaCross(Strategy):
    """SMA fast/slow crossover, long only, market orders of trade_size (as tradeguard's default).

    A cross up buys trade_size when flat; a cross down sells the long back to flat.
    """

    def __init__(self, config: BenchConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self.prev: float | None = None
        self.instrument: Instrument | None = None

    def on_start(self) -> None:
        """Look up the instrument, register the indicators and subscribe to bars."""
        self.instrument = self.cache.instrument(self.cfg.instrument_id)
        self.register_indicator_for_bars(self.cfg.bar_type, self.fast)
        self.register_indicator_for_bars(self.cfg.bar_type, self.slow)
        self.subscribe_bars(self.cfg.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Trade the crossings of fast over slow."""
        if not self.slow.initialized:
            return
        gap = self.fast.value - self.slow.value
        prev, self.prev = self.prev, gap
        if prev is None or self.instrument is None:
            return
        instrument_id = self.cfg.instrument_id
        if gap > 0 >= prev and self.portfolio.is_flat(instrument_id):
            self._market(OrderSide.BUY)
        elif gap < 0 <= prev and self.portfolio.is_net_long(instrument_id):
            self._market(OrderSide.SELL)

    def _market(self, side: OrderSide) -> None:
        assert self.instrument is not None
        order = self.order_factory.market(
            instrument_id=self.cfg.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(self.cfg.trade_size),
            time_in_force=TimeInForce.IOC,
            reduce_only=side == OrderSide.SELL,
        )
        self.submit_order(order)


def load_frame(path: Path) -> pd.DataFrame:
    """Read the FTX csv.gz into the frame BarDataWrangler expects (volume in base units)."""
    frame = pd.read_csv(path, parse_dates=["ts"]).set_index("ts")
    frame.index.name = "timestamp"
    # The file's volume is USD notional; the instrument counts base units (BTC).
    frame["volume"] = (frame["volume"] / frame["close"]).round(3)
    return frame[["open", "high", "low", "close", "volume"]]


def build(bars: list[Bar], instrument: Instrument, bar_type: BarType, kind: str) -> BacktestEngine:
    """Return an engine with one venue, the instrument, the bars and the chosen strategy."""
    # Quietest logging and no post-run analysis: the cheapest run() the reference offers.
    config = BacktestEngineConfig(
        trader_id="BENCH-001",
        logging=LoggingConfig(log_level="ERROR"),
        run_analysis=False,
    )
    engine = BacktestEngine(config=config)
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USDT,
        starting_balances=[Money(1_000_000, USDT)],
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy_config = BenchConfig(instrument_id=instrument.id, bar_type=bar_type)
    engine.add_strategy(NoOp(strategy_config) if kind == "noop" else SmaCross(strategy_config))
    return engine


def main() -> None:
    """Load the bars, run the engine once, print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("kind", choices=("noop", "sma"))
    args = parser.parse_args()
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, instrument).process(load_frame(args.data))
    engine = build(bars, instrument, bar_type, args.kind)
    began, cpu_began = time.perf_counter(), time.process_time()
    engine.run()
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
    cache = engine.trader.generate_orders_report()
    fills = engine.trader.generate_order_fills_report()
    result = {
        "bars": len(bars),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "orders": len(cache),
        "fills": len(fills),
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "version": nautilus_trader.__version__,
    }
    engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
