"""The order is the authority over its fills: a fill it refuses never reaches the portfolio."""

from __future__ import annotations

from tradeloop.core.bus import MessageBus
from tradeloop.core.ids import AccountId, ClientOrderId, StrategyId, Venue
from tradeloop.execution import EXECUTE_ENDPOINT, ExecutionEngine
from tradeloop.model.account import Account
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, Quantity
from tradeloop.portfolio import Portfolio
from tradeloop.testkit import TestClock, btcusdt, id_factory, make_fill

T0 = 1_700_000_000_000_000_000
S1 = StrategyId("S-1")


class SilentVenue:
    """An execution client that takes every command and answers nothing by itself."""

    venue = Venue("BINANCE")
    account_id = AccountId("SIM-001")

    def submit_order(self, command: SubmitOrder) -> None: ...
    def cancel_order(self, command: CancelOrder) -> None: ...
    def modify_order(self, command: ModifyOrder) -> None: ...
    def cancel_all_orders(self, command: CancelAllOrders) -> None: ...


class Rig:
    def __init__(self) -> None:
        clock = TestClock(T0)
        self.bus = MessageBus(clock, id_factory(1))
        self.engine = ExecutionEngine(self.bus, clock, id_factory(2))
        self.engine.register_client(SilentVenue())
        self.btc: Instrument = btcusdt()
        account = Account(AccountId("SIM-001"), Money.from_str("1000000", "USDT"))
        self.portfolio = Portfolio(self.bus, clock, id_factory(4), account, [self.btc])

    def buy(self, qty: Quantity) -> ClientOrderId:
        spec = self.engine.order_factory(S1).market(self.btc.id, OrderSide.BUY, qty)
        command = SubmitOrder(
            id="c1", correlation_id="k1", ts_event=T0, ts_init=T0, strategy_id=S1,
            instrument_id=self.btc.id, order=spec,
        )  # fmt: skip
        self.bus.publish(command)
        self.bus.send(EXECUTE_ENDPOINT, command, forward=True)
        return spec.client_order_id

    def fill(
        self, cid: str, qty: str, *, side: OrderSide = OrderSide.BUY, strategy: str = "S-1", trade: str
    ) -> None:
        fill = make_fill(
            self.btc, side, qty, "60000", client_order_id=cid, strategy_id=strategy, trade_id=trade
        )
        self.bus.publish(fill)


def test_fills_finer_than_the_order_quantity_are_counted_and_an_overfill_stops_at_the_order() -> None:
    rig = Rig()
    cid = rig.buy(Quantity.from_int(1))  # 1 BTC, precision 0; fills come in 0.000001 lots
    rig.fill(cid, "0.5", trade="T-a")
    order = rig.engine.order(cid)
    assert order is not None
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert (str(order.filled_qty), str(order.leaves_qty)) == ("0.500000", "0.500000")  # the lot precision

    rig.fill(cid, "0.6", trade="T-b")  # would make 1.1 of 1

    assert order.filled_raw == 500_000_000
    assert rig.portfolio.net_position_raw(rig.btc.id) == 500_000_000


def test_a_fill_on_the_other_side_or_for_another_strategy_is_refused() -> None:
    rig = Rig()
    cid = rig.buy(Quantity.from_str("1.000000"))
    rig.fill(cid, "1", side=OrderSide.SELL, trade="T-a")
    rig.fill(cid, "1", strategy="S-2", trade="T-b")
    order = rig.engine.order(cid)
    assert order is not None
    assert order.filled_raw == 0
    assert rig.portfolio.net_position_raw(rig.btc.id) == 0
