"""Entry point of the event log's writer process (kept apart so ``-m`` runs it fresh)."""

from __future__ import annotations

import sys

from tradeloop.store.log_writer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
