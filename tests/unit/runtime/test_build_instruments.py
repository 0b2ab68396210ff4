"""From ``data.instrument`` and ``data.kind`` in a config to the instrument and data a run trades.

Each run here is a handful of hand-written ticks in a CSV and a strategy that buys on one tick
and closes on another, so the realized P&L can be computed by hand, to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.model.data import QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import (
    AssetClass,
    BinaryEventContract,
    CryptoSpot,
    Equity,
    FuturesContract,
    FxPair,
    Instrument,
)
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.runtime import BacktestConfig, build_engine, run_backtest
from tradeloop.runtime.build import load_data
from tradeloop.strategy import Strategy, StrategyConfig

T0_S = 1_704_153_600  # 2024-01-02 00:00:00 UTC


class RoundTripConfig(StrategyConfig):
    instrument_id: str
    kind: Literal["trades", "quotes"] = "trades"
    quantity: Decimal = Decimal(1)
    buy_on: int = 1
    close_on: int = 3


class RoundTrip(Strategy):
    """Sends a market buy on tick ``buy_on`` and closes the position on tick ``close_on``.

    A market order fills at the next tick, so the entry is tick ``buy_on + 1`` and the exit
    tick ``close_on + 1``.
    """

    def __init__(self, config: RoundTripConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.ticks = 0

    def on_start(self) -> None:
        if self.cfg.kind == "trades":
            self.subscribe_trade_ticks(self.cfg.instrument_id)
        else:
            self.subscribe_quote_ticks(self.cfg.instrument_id)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self._step()

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._step()

    def _step(self) -> None:
        self.ticks += 1
        instrument = self.instrument(self.cfg.instrument_id)
        if self.ticks == self.cfg.buy_on:
            quantity = instrument.make_qty(self.cfg.quantity)
            self.submit_order(self.order_factory.market(instrument.id, OrderSide.BUY, quantity))
        elif self.ticks == self.cfg.close_on:
            self.close_position(instrument.id)


# ``load_strategy`` imports the class by name; this module is already imported under it.
ROUND_TRIP = f"{__name__}:RoundTrip"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    lines = [header] + [f"{T0_S + i + 1},{row}" for i, row in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(
    tmp_path: Path,
    csv: Path,
    instrument: dict[str, Any],
    *,
    kind: str = "trades",
    quantity: str = "1",
    balance: int = 1_000_000,
) -> BacktestConfig:
    return BacktestConfig.model_validate(
        {
            "run": {"name": "instruments", "seed": 1, "output_dir": str(tmp_path / "out")},
            "data": {
                "source": "csv",
                "kind": kind,
                "path": str(csv),
                "instrument": instrument,
                "timestamp_unit": "s",
            },
            "venue": {"starting_balance": balance, "account_type": "MARGIN"},
            "strategies": [
                {
                    "class": ROUND_TRIP,
                    "config": {"instrument_id": instrument["id"], "kind": kind, "quantity": quantity},
                }
            ],
            "log": {"enabled": False},
            "report": {"enabled": False},
        }
    )


def trades_csv(tmp_path: Path, prices: list[str]) -> Path:
    return write_csv(tmp_path / "trades.csv", "timestamp,price,size", [f"{p},100000" for p in prices])


def loaded_instrument(tmp_path: Path, instrument: dict[str, Any], price: str = "100.00") -> Instrument:
    cfg = config(tmp_path, trades_csv(tmp_path, [price]), instrument)
    return load_data(cfg.data).instrument


# -- futures: the multiplier scales P&L --------------------------------------------------------


@pytest.mark.parametrize("multiplier", [50, 20])
def test_a_future_with_a_multiplier_books_the_price_move_times_the_multiplier(
    tmp_path: Path, multiplier: int
) -> None:
    # Buy sent at 4990.00 fills at 5000.00; the close sent at 5006.25 fills at 5010.50.
    csv = trades_csv(tmp_path, ["4990.00", "5000.00", "5006.25", "5010.50", "5020.00"])
    instrument = {"id": "ES.SIM", "type": "future", "multiplier": multiplier, "tick": "0.25"}
    cfg = config(tmp_path, csv, instrument, quantity="2")

    result = build_engine(cfg, event_log=None).run()

    assert result.fills == 2
    expected = Money.from_decimal(Decimal("10.50") * 2 * multiplier, "USD")
    assert result.realized_pnl == expected
    (trade,) = result.trades
    assert (trade.avg_entry_px, trade.avg_exit_px) == (Decimal("5000.00"), Decimal("5010.50"))
    assert trade.realized_pnl == expected.as_decimal()
    assert result.final_equity == result.starting_balance + expected


def test_a_future_config_builds_a_futures_contract_with_its_tick_and_fees(tmp_path: Path) -> None:
    instrument = loaded_instrument(
        tmp_path,
        {
            "id": "NQ.SIM",
            "type": "future",
            "multiplier": 20,
            "tick": "0.5",
            "maker_fee": "0.00001",
            "taker_fee": "0.00003",
        },
        price="18000.5",
    )
    assert instrument == FuturesContract(
        "NQ.SIM", multiplier=20, tick="0.5", maker_fee="0.00001", taker_fee="0.00003"
    )
    assert instrument.price_increment == Price.from_str("0.5")
    assert instrument.asset_class is AssetClass.FUTURE


# -- spot instruments: lot and tick ----------------------------------------------------------


def test_a_crypto_spot_config_honours_its_lot_and_tick(tmp_path: Path) -> None:
    instrument = loaded_instrument(
        tmp_path,
        {"id": "BTCUSD.SIM", "type": "crypto_spot", "currency": "USD", "lot": "0.01", "tick": "0.5"},
        price="42000.0",
    )
    assert instrument == CryptoSpot(
        "BTCUSD.SIM", quote_currency="USD", lot="0.01", tick="0.5", maker_fee="0", taker_fee="0"
    )
    assert instrument.size_increment == Quantity.from_str("0.01")
    assert instrument.asset_class is AssetClass.CRYPTO_SPOT


def test_a_crypto_spot_config_without_a_lot_keeps_the_type_default(tmp_path: Path) -> None:
    instrument = loaded_instrument(
        tmp_path, {"id": "BTCUSD.SIM", "type": "crypto_spot", "currency": "USD"}, price="42000.00"
    )
    assert instrument.size_increment == CryptoSpot("BTCUSD.SIM").size_increment


def test_a_crypto_spot_run_trades_fractions_of_a_coin_on_its_lot_grid(tmp_path: Path) -> None:
    csv = trades_csv(tmp_path, ["42000.0", "42000.0", "42100.0", "42150.5", "42200.0"])
    instrument = {"id": "BTCUSD.SIM", "type": "crypto_spot", "currency": "USD", "lot": "0.01", "tick": "0.5"}

    result = build_engine(config(tmp_path, csv, instrument, quantity="0.25"), event_log=None).run()

    assert result.fills == 2
    assert result.realized_pnl == Money.from_str("37.625", "USD")  # 150.50 x 0.25, exactly


def test_an_fx_config_builds_an_fx_pair_with_its_defaults_or_its_lot(tmp_path: Path) -> None:
    default = loaded_instrument(tmp_path, {"id": "EURUSD.SIM", "type": "fx"}, price="1.08500")
    assert default == FxPair("EURUSD.SIM", maker_fee="0", taker_fee="0")
    assert default.asset_class is AssetClass.FX
    assert (default.price_increment, default.size_increment) == (
        Price.from_str("0.00001"),
        Quantity.from_str("1000"),
    )
    sized = loaded_instrument(tmp_path, {"id": "EURUSD.SIM", "type": "fx", "lot": "10000"}, price="1.08500")
    assert sized.size_increment == Quantity.from_str("10000")


def test_an_event_contract_config_builds_a_binary_contract_with_its_price_band(tmp_path: Path) -> None:
    instrument = loaded_instrument(
        tmp_path,
        {"id": "RAIN.SIM", "type": "event_contract", "maker_fee": "0.001", "taker_fee": "0.002"},
        price="0.42",
    )
    assert instrument == BinaryEventContract("RAIN.SIM", maker_fee="0.001", taker_fee="0.002")
    assert instrument.asset_class is AssetClass.EVENT_CONTRACT
    assert (instrument.min_price, instrument.max_price) == (Price.from_str("0.01"), Price.from_str("0.99"))


def test_an_equity_config_honours_its_lot(tmp_path: Path) -> None:
    round_lot = loaded_instrument(tmp_path, {"id": "ABC.SIM", "type": "equity", "lot": "100"})
    assert round_lot == Equity("ABC.SIM", lot="100")
    assert loaded_instrument(tmp_path, {"id": "ABC.SIM"}) == Equity("ABC.SIM")
    with pytest.raises(ConfigError, match=r"data\.instrument: ABC\.SIM: increments must be positive"):
        loaded_instrument(tmp_path, {"id": "ABC.SIM", "lot": "0"})  # not silently 1


# -- quotes ----------------------------------------------------------------------------------


QUOTES = ["99.98,100.02,500,400", "99.99,100.03,500,400", "100.40,100.44,300,200", "100.51,100.55,100,100"]


def quotes_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "quotes.csv", "timestamp,bid,ask,bid_size,ask_size", QUOTES)


def test_a_quotes_csv_loads_quote_ticks_with_their_bid_ask_and_sizes(tmp_path: Path) -> None:
    cfg = config(tmp_path, quotes_csv(tmp_path), {"id": "ABC.SIM"}, kind="quotes")

    loaded = load_data(cfg.data)

    assert all(type(q) is QuoteTick for q in loaded.data)
    assert [(str(q.bid_price), str(q.ask_price), str(q.bid_size), str(q.ask_size)) for q in loaded.data] == [
        tuple(row.split(",")) for row in QUOTES
    ]
    assert [q.ts_event for q in loaded.data] == [(T0_S + i + 1) * 10**9 for i in range(len(QUOTES))]


def test_a_run_on_quotes_buys_at_the_ask_and_sells_at_the_bid(tmp_path: Path) -> None:
    cfg = config(tmp_path, quotes_csv(tmp_path), {"id": "ABC.SIM"}, kind="quotes", quantity="10")

    outcome = run_backtest(cfg, output_dir=tmp_path / "run")

    result = outcome.result
    assert result.messages["QuoteTick"] == len(QUOTES)
    assert "TradeTick" not in result.messages
    (trade,) = result.trades
    # Entry at the second quote's ask, exit at the fourth quote's bid.
    assert (trade.avg_entry_px, trade.avg_exit_px) == (Decimal("100.03"), Decimal("100.51"))
    assert result.realized_pnl == Money.from_str("4.80", "USD")


@pytest.mark.parametrize("kind", ["equity", "crypto_spot", "fx", "future", "event_contract"])
def test_every_instrument_type_is_quoted_in_the_configured_currency(tmp_path: Path, kind: str) -> None:
    instrument = loaded_instrument(tmp_path, {"id": "X.SIM", "type": kind, "currency": "EUR"}, price="0.50")
    assert instrument.quote_currency == "EUR"
