"""Write the event-contract example's data: seeded synthetic quotes and a model's probabilities.

    python scripts/make_event_contract_data.py

writes ``examples/data/rain_quotes.csv`` and ``examples/data/rain_model.csv`` for
``examples/event_contract_edge.yaml``: a binary contract on one day's event, a quote a minute
for five days up to its settlement, and a model probability per quote with a real but
imperfect edge. The same seed gives the same files.
"""

from __future__ import annotations

from pathlib import Path

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.data import generate_event_contract
from tradeloop.model.instruments import BinaryEventContract

START_NS = 1_704_067_200 * NANOS_PER_SECOND  # 2024-01-01T00:00:00Z
POINTS = 7_200  # five days of one-minute quotes
EXPIRY_NS = START_NS + POINTS * 60 * NANOS_PER_SECOND  # 2024-01-06T00:00:00Z
OUT = Path(__file__).resolve().parent.parent / "examples" / "data"


def main() -> None:
    instrument = BinaryEventContract("RAIN-24JAN06.SIM", expiry_ns=EXPIRY_NS)
    series = generate_event_contract(instrument, POINTS, start_ns=START_NS, seed=7, true_probability=0.45)
    OUT.mkdir(parents=True, exist_ok=True)
    quotes = series.write_quotes_csv(OUT / "rain_quotes.csv")
    model = series.model.write_csv(OUT / "rain_model.csv")
    print(f"{quotes} ({len(series.quotes)} quotes), {model}; the event settles {'YES' if series.outcome else 'NO'}")


if __name__ == "__main__":
    main()
