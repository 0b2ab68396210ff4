"""Venue adapters at the edge: each implements the execution and market-data ports.

Adapters are imported from their own subpackage (``tradeloop.venues.simulated``, ...), never
re-exported here, so that importing one adapter never pulls in another's SDK.
"""

__all__: list[str] = []
