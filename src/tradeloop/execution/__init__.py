"""Execution: the order cache, the order factory and the venue port."""

from tradeloop.execution.answers import answer_submit, order_denied
from tradeloop.execution.client import ExecutionClient
from tradeloop.execution.engine import EXECUTE_ENDPOINT, PRIORITY_EXECUTION, ExecutionEngine
from tradeloop.execution.factory import OrderFactory

__all__ = [
    "EXECUTE_ENDPOINT",
    "PRIORITY_EXECUTION",
    "ExecutionClient",
    "ExecutionEngine",
    "OrderFactory",
    "answer_submit",
    "order_denied",
]
