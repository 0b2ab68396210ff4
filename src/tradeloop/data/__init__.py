"""Market data in: file loaders, tick-to-bar aggregation, synthetic data, the packaged sample."""

from tradeloop.data.aggregation import TimeBarAggregator, aggregate_quotes_to_bars, aggregate_trades_to_bars
from tradeloop.data.arrays import bars_from_arrays, quote_ticks_from_arrays, trade_ticks_from_arrays
from tradeloop.data.columns import DEFAULT_COLUMNS, FileFormat
from tradeloop.data.event_contracts import (
    EventContractSeries,
    ProbabilitySeries,
    generate_event_contract,
    load_probabilities,
)
from tradeloop.data.loaders import (
    BarTimestamp,
    LoadResult,
    load_bars,
    load_quote_ticks,
    load_trade_ticks,
)
from tradeloop.data.parsing import EpochUnit
from tradeloop.data.sample import (
    SAMPLE_ROWS,
    SAMPLE_TRADES_FILE,
    load_sample_bars,
    load_sample_trades,
    sample_instrument,
)
from tradeloop.data.synthetic import (
    DEFAULT_START_NS,
    event_probability_path,
    generate_bars,
    generate_event_contract_prices,
    generate_quotes,
    generate_trades,
    iter_bars,
    iter_quotes,
    iter_trades,
)
from tradeloop.data.validation import SKIP_REASONS, OnError

__all__ = [
    "DEFAULT_COLUMNS",
    "DEFAULT_START_NS",
    "SAMPLE_ROWS",
    "SAMPLE_TRADES_FILE",
    "SKIP_REASONS",
    "BarTimestamp",
    "EpochUnit",
    "EventContractSeries",
    "FileFormat",
    "LoadResult",
    "OnError",
    "ProbabilitySeries",
    "TimeBarAggregator",
    "aggregate_quotes_to_bars",
    "aggregate_trades_to_bars",
    "bars_from_arrays",
    "event_probability_path",
    "generate_bars",
    "generate_event_contract",
    "generate_event_contract_prices",
    "generate_quotes",
    "generate_trades",
    "iter_bars",
    "iter_quotes",
    "iter_trades",
    "load_bars",
    "load_probabilities",
    "load_quote_ticks",
    "load_sample_bars",
    "load_sample_trades",
    "load_trade_ticks",
    "quote_ticks_from_arrays",
    "sample_instrument",
    "trade_ticks_from_arrays",
]
