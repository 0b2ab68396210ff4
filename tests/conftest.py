"""Suite-wide settings."""

from __future__ import annotations

from hypothesis import settings

# No wall-clock limits in the default run (a loaded CI machine must not fail a property test);
# speed is measured in benchmarks/, never asserted here.
settings.register_profile("tradeloop", deadline=None)
settings.load_profile("tradeloop")
