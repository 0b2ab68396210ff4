"""Data files shipped with tradeloop; read them through :mod:`tradeloop.data.sample`."""
