"""Entry point of the event log's writer process (kept apart so ``-m`` runs it fresh)."""

from __future__ import annotations

import os
import sys

from tradeloop.store.log_writer import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # The reader thread may still block on standard input; a normal interpreter shutdown would
    # wait on its lock. The answer is written and the file closed, so leave at once.
    os._exit(code)
