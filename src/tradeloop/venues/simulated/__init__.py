"""The simulated venue: an ``ExecutionClient`` with a matching engine, fill, fee and latency models.

:class:`SimulatedExchange` is a venue adapter like any real one. The execution engine calls
``submit_order`` / ``cancel_order`` / ``modify_order`` / ``cancel_all_orders``; the exchange
answers only by publishing order events on the bus. The backtest (or paper) engine drives it
with market data *before* publishing each data point, so the venue always sees a price before
the strategies do:

* ``advance_time(ts_ns)`` delivers the commands whose latency has elapsed and expires orders,
  in time order (an expiry at the same instant as a command's arrival goes first).
* ``process_bar`` / ``process_quote_tick`` / ``process_trade_tick`` match the working orders of
  that instrument against the data point, then remember it as the latest market state. With no
  working order on the instrument this is one dict lookup and one dict store. With
  ``bar_execution`` off, bars only update the latest market state (use it when the same
  instrument is also fed quotes or trades).

Commands and latency
    A command sent at clock time ``ts`` reaches the venue at ``ts + base_ns +
    uniform(0, jitter_ns)``, drawn from a ``random.Random(seed)``; commands never overtake each
    other. With zero latency a command is handled inside the call that sent it. The events of
    a command carry its ``correlation_id``, its ``id`` as ``causation_id`` and, as
    ``ts_event``, the moment the command reached the venue.

Validation on arrival (``OrderRejected`` with a ``reason``; else ``OrderAccepted`` with
``venue_order_id = "<venue>-<n>"``)
    In this order: injected faults (``reject_orders``, ``reject_probability``); a client order
    id the venue already knows; an instrument the venue does not list; a command whose
    strategy or instrument differs from its order's; the quantity (``Instrument.
    quantity_problem``: positive, on the lot grid, above the minimum); the limit and trigger
    prices (``Instrument.price_problem``: on the tick grid, inside the price band, such as
    0.01..0.99 for an event contract); an expire time not after the venue time; a post-only
    limit that would cross the last known market; a trailing stop with neither a trigger price
    nor a known market; a reduce-only order larger than the venue-side position it reduces;
    then the account:

    * CASH: a buy needs ``cash - cash reserved by the other open buys >= notional + taker
      fee``, the notional taken at the limit price (limit, stop-limit), the trigger (stop,
      trailing stop) or the last known price (market: the ask of the latest quote, else the
      latest trade price or bar close; a market order with no known price is rejected). A
      sell needs the venue-side position, less the other open sells (no shorting); a
      reduce-only sell reserves nothing, since it can never go short (so a stop-loss and a
      take-profit may both cover one position).
    * MARGIN: buying power is ``equity x leverage`` minus the gross exposure of the open
      positions (marked at the latest mid, trade or close) and of the open orders; an order
      needs buying power for the notional of the part of it that would grow the position (the
      part that reduces it needs none) plus the taker fee. There is no liquidation.

    A modify re-runs the checks that apply to what it changes; the account check only when the
    order's exposure grows.

Fills (one fill per order per data point; every fill is ``OrderFilled`` with ``trade_id =
"<venue>-T-<n>"`` and ``commission = fee_raw(notional, rate, currency precision)``)
    * Market orders fill at the first price the venue sees after acceptance, as TAKER: the next
      bar's open, the next quote's ask (buy) or bid (sell), the next trade's price; shifted
      ``slippage_ticks`` against the taker and clamped to the price band.
    * Limit orders fill when touched (a buy when the price is at or below the limit), as MAKER,
      at the limit price; a bar that opens through the limit fills at the open (price
      improvement). A limit that is marketable on arrival (or after a modify) takes liquidity
      on the next data point: TAKER at the better of the limit and that point's price, and a
      remainder the volume cap held back stays TAKER at each later point that still crosses;
      the first point that no longer crosses makes it rest as a maker order.
    * Stop-market orders trigger (``OrderTriggered``) when the price reaches the trigger (a buy
      stop at or above it), then fill as a market order: at the trigger inside a bar, at the
      worse of trigger and price when a bar opens through it or on a tick, plus slippage.
      A stop already through the market on arrival triggers at the next data point.
    * Stop-limit orders trigger the same way, then work as a limit: TAKER at once if the price
      at the trigger crosses the limit (and, like a marketable limit, while it crosses), else
      resting as a MAKER limit.
    * Every fill price is clamped to the instrument's price band (``min_price``..``max_price``):
      a binary event contract fills at 0.99 at most even when the market shows 1.00.
    * Trailing stops (``TRAILING_STOP_MARKET``) keep their trigger ``trailing_offset`` behind the
      best price seen since acceptance (a sell: the highest bid/trade/bar price, trigger below
      it; a buy: the lowest, trigger above), snapped onto the tick grid away from the market.
      The offset is a raw price distance (``TrailingOffsetType.PRICE``) or whole basis points of
      the best price (``BASIS_POINTS``). The trigger only ever moves in the favourable direction,
      and each move is published as ``OrderUpdated``; at acceptance it starts at the given
      trigger or the one the offset puts behind the current market, whichever is nearer the
      market (``OrderUpdated`` follows ``OrderAccepted`` unless it is the order's own trigger).
    * Bars are walked as four prices: open, then the extreme nearer the open, the other
      extreme, and the close (O-H-L-C when the high is nearer the open than the low, otherwise
      O-L-H-C). Only the open is a gap; the walk between points is continuous, which is why a
      limit touched inside a bar fills at its limit and a stop at its trigger.
    * Quotes: buys meet the ask, sells the bid. Trades: both sides meet the trade price.
    * Volume: with ``max_volume_participation`` one order fills at most that fraction of the
      bar's volume, the trade's size or the top-of-book size on the side it takes per data
      point (rounded down to the lot). The remainder keeps working and fills on later data
      points (a market remainder at their first price).
    * IOC and FOK orders get one attempt, at the first price point after acceptance (stops: at
      the trigger). IOC fills what it can there and the rest is canceled; FOK fills completely
      or is canceled without a fill.
    * The account is checked again at fill time: a reduce-only order never fills past the
      venue-side position, a CASH sell never past the position, a CASH buy never past the cash
      not reserved by other buys. When that cuts a fill short the venue cancels the remainder
      (``OrderCanceled``).
    * Fill events caused by data carry the order's originating ``correlation_id`` and, as
      ``causation_id``, the id of the order's previous event; their ``ts_event`` is the clock's
      time (the data point's).

Time in force and expiry
    DAY orders expire at the first UTC midnight after acceptance; an ``expire_time_ns`` makes
    any order good-till-date (the earlier of the two wins for DAY). Expiry is ``OrderExpired``
    with ``ts_event`` the expiry time.

Cancel and modify
    ``OrderCanceled`` / ``OrderUpdated``, or ``OrderCancelRejected`` / ``OrderModifyRejected``
    naming the reason: an unknown order, another strategy's order, an order already closed,
    nothing to modify, an invalid quantity or price, a trigger change on a stop that already
    triggered, a post-only price that would cross, the account checks above, or the injected
    ``cancel_rejects`` fault. A modify that brings the quantity down to the filled quantity
    completes the order.

Faults (all seeded)
    ``reject_orders``, ``reject_probability``, ``never_fill_limit_orders`` (limits accept but
    never fill; an IOC/FOK limit is canceled), ``max_fill_fraction`` (at most that fraction of
    an order's quantity per data point, at least one lot), ``cancel_rejects``.

Ledger
    The venue keeps its own exact books (:class:`~tradeloop.venues.simulated.ledger.
    VenueLedger`): cash moves by each fill's notional (``Instrument.notional_raw``) and fee,
    positions are netted per instrument. :meth:`SimulatedExchange.balance`,
    :meth:`~SimulatedExchange.position_raw` and :meth:`~SimulatedExchange.open_orders` report
    them for reconciliation (``balance`` rounds half to even only when the exact cash, which
    ``cash_raw`` gives, has more decimals than the currency).

Re-entrancy
    Events are buffered while the venue works and published once its state is consistent. A
    handler that answers an event by sending a command (with zero latency, handled at once)
    sees the data point already recorded as the latest market state; its own events are
    published after the ones before them.
"""

from tradeloop.venues.simulated.config import (
    AccountType,
    FaultConfig,
    FeeModel,
    FillModel,
    LatencyModel,
    SimulatedVenueConfig,
)
from tradeloop.venues.simulated.exchange import SimulatedExchange
from tradeloop.venues.simulated.ledger import VenueLedger
from tradeloop.venues.simulated.working_order import OrderReport

__all__ = [
    "AccountType",
    "FaultConfig",
    "FeeModel",
    "FillModel",
    "LatencyModel",
    "OrderReport",
    "SimulatedExchange",
    "SimulatedVenueConfig",
    "VenueLedger",
]
