"""The stock chatbot's tools, for `suites/stocks_e2e.yaml` (end-to-end mode).

Prices come from the fixture below, so runs are offline and reproducible. Set EVALKIT_LIVE_PRICES=1
to use yfinance instead (only when it is installed and the network is reachable; never in tests).
"""
from __future__ import annotations

import os
from datetime import date, timedelta

# Fixture: closing prices (USD) for a few trading days, and the "current" price.
CURRENT = {"MSFT": 415.26, "AAPL": 187.44, "NVDA": 875.28, "TSLA": 175.79, "AMZN": 178.15,
           "GOOGL": 151.77, "META": 493.5, "IBM": 191.25, "KO": 60.12, "NFLX": 628.9}
HISTORY = {
    "MSFT": {"2024-01-02": 370.87, "2024-01-03": 370.6, "2024-01-04": 367.94, "2024-01-05": 367.75},
    "AAPL": {"2024-01-02": 185.64, "2024-01-03": 184.25, "2024-01-04": 181.91, "2024-01-05": 181.18},
    "NVDA": {"2024-01-02": 481.68, "2024-01-03": 475.69, "2024-01-04": 479.98, "2024-01-05": 490.97},
}
PERIOD_DAYS = {"1d": 1, "5d": 5, "1mo": 31, "3mo": 92, "6mo": 183, "1y": 365, "5y": 1826, "max": 36500}


def _live() -> bool:
    if os.environ.get("EVALKIT_LIVE_PRICES") != "1":
        return False
    try:
        import yfinance  # noqa: F401
    except ImportError:
        return False
    return True


def get_current_stock_price(symbol: str) -> dict:
    symbol = symbol.upper()
    if _live():
        import yfinance

        price = yfinance.Ticker(symbol).fast_info["last_price"]
        return {"symbol": symbol, "price": round(float(price), 2), "currency": "USD"}
    if symbol not in CURRENT:
        return {"error": f"unknown symbol {symbol}"}
    return {"symbol": symbol, "price": CURRENT[symbol], "currency": "USD"}


def get_historical_stock_price(symbol: str, start_date: str | None = None, end_date: str | None = None,
                               period: str | None = None) -> dict:
    symbol = symbol.upper()
    if period and not start_date:
        end = date.fromisoformat(end_date) if end_date else date(2024, 1, 5)
        start_date, end_date = (end - timedelta(days=PERIOD_DAYS[period])).isoformat(), end.isoformat()
    if _live():
        import yfinance

        frame = yfinance.Ticker(symbol).history(start=start_date, end=end_date)
        closes = {str(i.date()): round(float(c), 2) for i, c in frame["Close"].items()}
    else:
        if symbol not in HISTORY:
            return {"error": f"no history for {symbol}"}
        closes = {d: c for d, c in HISTORY[symbol].items()
                  if (not start_date or d >= start_date) and (not end_date or d <= end_date)}
    return {"symbol": symbol, "currency": "USD", "closes": closes}
