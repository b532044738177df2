"""Writes stocks_train.jsonl: LoRA training data for the stocks suite's `ft+short` variant.

Run from the repository root: python suites/data/make_stocks_train.py [--seed 7]

OpenAI chat fine-tuning format, one example a line: the suite's system message, one user question,
and the expected assistant turn (tool_calls, or a clarification when the company does not exist or
none is named), with `tools` = the suite's SHORT definitions (descriptions stripped, `properties: {}`),
exactly what the ft+short variant sends at inference.

Design:
- Real companies: ~70 well-known listed companies. Only part of the test set's companies appear
  (SEEN_TEST_TICKERS below); the others are held out, so the report can separate companies the
  adapter saw in training from companies it must know from pre-training.
- Fake companies: 90 invented names (a list, plus made-up words x sector words), none shared with
  the test set's fake companies; with 8 questions naming no company, 43% of the examples are
  clarifications.
- Phrasings: templates written for training only; no test question appears here.
- Historical questions teach the argument convention the full definitions describe: explicit
  dates -> start_date/end_date (YYYY-MM-DD); a period ending today -> `period` from the enum.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from evalkit.functions import shorten, to_tools  # noqa: E402

CUR = "get_current_stock_price"
HIST = "get_historical_stock_price"

# Test-set companies that also appear in training (the rest of the test companies are unseen).
SEEN_TEST_TICKERS = ["MSFT", "AAPL", "AMZN", "TSLA", "NVDA", "KO", "JPM", "DIS", "PFE", "MCD", "PEP", "AMD"]
# Held out on purpose: GOOGL, META, NFLX, WMT, INTC, NKE, IBM, XOM, BA, SBUX, COST, JNJ.

# (ticker, names the user may use: first is the usual one; later ones include misspellings)
REAL = [
    ("MSFT", ["Microsoft", "Microsoft Corporation", "mircosoft"]),
    ("AAPL", ["Apple", "Apple Inc.", "aple"]),
    ("AMZN", ["Amazon", "Amazon.com", "amazn"]),
    ("TSLA", ["Tesla", "Tesla Motors", "tesler"]),
    ("NVDA", ["NVIDIA", "Nvidia Corporation", "nvidea"]),
    ("KO", ["Coca-Cola", "The Coca-Cola Company", "coca cola", "cocacola"]),
    ("JPM", ["JPMorgan", "JP Morgan", "J.P. Morgan"]),
    ("DIS", ["Disney", "Walt Disney", "disny"]),
    ("PFE", ["Pfizer", "Pfizer Inc.", "phizer"]),
    ("MCD", ["McDonald's", "McDonalds", "macdonalds"]),
    ("PEP", ["PepsiCo", "Pepsi", "pepsico"]),
    ("AMD", ["AMD", "Advanced Micro Devices"]),
    ("ORCL", ["Oracle", "Oracle Corporation", "oracel"]),
    ("CRM", ["Salesforce", "salesforce.com"]),
    ("ADBE", ["Adobe", "Adobe Inc."]),
    ("CSCO", ["Cisco", "Cisco Systems", "cisko"]),
    ("QCOM", ["Qualcomm", "qualcom"]),
    ("AVGO", ["Broadcom"]),
    ("TXN", ["Texas Instruments"]),
    ("PYPL", ["PayPal", "paypal holdings"]),
    ("V", ["Visa", "Visa Inc."]),
    ("MA", ["Mastercard", "master card"]),
    ("BAC", ["Bank of America", "bank of america corp"]),
    ("GS", ["Goldman Sachs", "goldman"]),
    ("MS", ["Morgan Stanley"]),
    ("WFC", ["Wells Fargo", "wells fargo & co"]),
    ("C", ["Citigroup", "Citi"]),
    ("CVX", ["Chevron", "chevron corp"]),
    ("COP", ["ConocoPhillips"]),
    ("PG", ["Procter & Gamble", "P&G", "procter and gamble"]),
    ("HD", ["Home Depot", "the home depot"]),
    ("TGT", ["Target", "Target Corporation"]),
    ("LOW", ["Lowe's", "lowes"]),
    ("UNH", ["UnitedHealth", "UnitedHealth Group"]),
    ("MRK", ["Merck", "Merck & Co."]),
    ("ABBV", ["AbbVie"]),
    ("LLY", ["Eli Lilly", "Lilly"]),
    ("VZ", ["Verizon", "verizon communications"]),
    ("T", ["AT&T"]),
    ("CMCSA", ["Comcast"]),
    ("CAT", ["Caterpillar", "caterpiller"]),
    ("MMM", ["3M"]),
    ("GE", ["General Electric", "GE Aerospace"]),
    ("F", ["Ford", "Ford Motor"]),
    ("GM", ["General Motors"]),
    ("UBER", ["Uber", "Uber Technologies"]),
    ("ABNB", ["Airbnb", "air bnb"]),
    ("SPOT", ["Spotify"]),
    ("SHOP", ["Shopify"]),
    ("PLTR", ["Palantir", "palantir technologies"]),
    ("MRNA", ["Moderna"]),
    ("HON", ["Honeywell"]),
    ("LMT", ["Lockheed Martin"]),
    ("FDX", ["FedEx", "fed ex"]),
    ("UPS", ["UPS", "United Parcel Service"]),
    ("DAL", ["Delta Air Lines", "Delta Airlines"]),
    ("AXP", ["American Express", "Amex"]),
    ("BABA", ["Alibaba"]),
    ("TM", ["Toyota", "Toyota Motor"]),
    ("SONY", ["Sony"]),
    ("MU", ["Micron", "Micron Technology"]),
    ("DELL", ["Dell", "Dell Technologies"]),
    ("HPQ", ["HP Inc.", "Hewlett-Packard"]),
    ("EBAY", ["eBay"]),
    ("CMG", ["Chipotle", "chipotle mexican grill"]),
    ("CL", ["Colgate-Palmolive", "Colgate"]),
    ("PM", ["Philip Morris"]),
    ("ADP", ["ADP", "Automatic Data Processing"]),
]

FAKE = [
    "Velmora Systems", "Quillstone Biologics", "Drennix Motors", "Starvane Aerospace", "Orrisfield Energy",
    "Lumora Health Partners", "Tarnwell Capital", "Brisklane Logistics", "Cindervale Mining",
    "Pellucid Dynamics", "Wrenfield Analytics", "Gorvant Industries", "Halvorsen Aquatics",
    "Mistral Ridge Semiconductors", "Corvanta Foods", "Embertide Robotics", "Fenwick Skyworks",
    "Glimmerpine Software", "Ostrava Nutrition", "Ravelstone Pharma", "Thistlebrook Retail",
    "Umbrion Networks", "Wyncrest Insurance", "Yarrowgate Telecom", "Zorvane Materials",
    "Astrellis Genetics", "Bramblewood Apparel", "Copperhollow Mining", "Dunmere Shipping",
    "Eldervine Beverages", "Frostmark Devices", "Granitefall Construction", "Hazelmont Media",
    "Isolde Quantum Computing", "Jasperline Rail", "Kilnworth Ceramics", "Larkspur Nanotech",
    "Moonridge Hydrogen", "Northwynd Airlines", "Orchidea Cosmetics", "Pinecastle Games",
    "Redmarsh Chemicals", "Saltwhistle Solar", "Tumblecreek Bank", "Vireo Autonomy",
]

# More invented names: a made-up first word and a sector word (no test-set fake company's name).
FAKE_ROOTS = ["Quorvex", "Bellanor", "Tivarro", "Myrandel", "Oskerra", "Plenvia", "Drusilk", "Femmaro",
              "Galdris", "Hexwynn", "Ilvane", "Jorvik Bay", "Kavrenn", "Lothmere", "Morvanta", "Nestavia",
              "Opalwick", "Prendle", "Quenmoor", "Rostavel", "Sundrel", "Tovarin", "Ulmaris", "Veskara",
              "Wexmoor", "Xandril", "Yelvarr", "Zintaro", "Abernath", "Brovik", "Calderwyn", "Dravenna",
              "Estmoor", "Falcrest", "Gravenholt", "Harrowgate", "Ivorleigh", "Kelderwick", "Lumenvale",
              "Marrowind", "Norvallis", "Orindale", "Palavon", "Ravenmoor", "Selvaren"]
FAKE_SECTORS = ["Robotics Corp", "Therapeutics", "Aerospace", "Foods", "Energy", "Semiconductors", "Holdings",
                "Biosciences", "Networks", "Motors", "Analytics", "Pharmaceuticals", "Logistics", "Capital",
                "Devices", "Mining", "Airlines", "Software", "Materials", "Telecom", "Group", "Labs", "Inc."]

CURRENT_T = [
    "What's {name} trading at?", "Latest quote for {name}.", "Could you check {name}'s share price?",
    "{name} share price now", "How much does {name} stock cost today?", "price of {name} shares",
    "I'd like the current price of {name}.", "Look up {name} stock for me.",
    "What is one {name} share worth today?", "Is {name} up or down right now? What's the price?",
    "Check the market price of {name}, please.", "{name}: current stock price?",
    "what does {name} trade for", "Tell me where {name} shares are at.",
    "Fetch the live stock quote of {name}.", "How are {name} shares priced at the moment?",
]
TICKER_T = ["{ticker} quote", "price of ${ticker}?", "What's {ticker} at?", "Current {ticker} price please.",
            "how much is {ticker} right now", "Latest trade for {ticker}?"]
RANGE_T = [
    "Get {name}'s stock prices from {start} to {end}.", "{name} daily prices between {start} and {end}?",
    "How did {name} trade from {start} through {end}?", "Pull {name} price history, {start} to {end}.",
    "I need {name}'s closing prices for {start} until {end}.",
]
PERIOD_WORDS = {
    "1d": ["today's trading session", "the past day"],
    "5d": ["the past week", "the last five trading days"],
    "1mo": ["the past month", "the last 30 days"],
    "3mo": ["the last three months", "the past quarter"],
    "6mo": ["the last half year", "the past 6 months"],
    "1y": ["the last 12 months", "the past twelve months"],
    "5y": ["the last five years", "the past 5 years"],
    "max": ["its whole trading history", "all available history"],
}
PERIOD_T = ["How has {name} stock moved over {words}?", "Show {name}'s share prices for {words}.",
            "{name} price history over {words}", "Give me {name} stock performance for {words}."]
PARALLEL_T = ["Current prices of {a} and {b}?", "Quote {a} and {b} for me.",
              "How much are {a} and {b} shares right now?", "Check {a}, {b} and {c} stock prices."]
VAGUE = ["What's the share price?", "how much is the stock trading at", "Give me the latest quote.",
         "Show me the price history for the last month.", "What did it close at yesterday?",
         "Is the stock up today?", "Check the price of that company we talked about.",
         "What are shares going for?"]
CLARIFY_FAKE = ["I couldn't find a listed company called {name}, so I don't have an exact ticker symbol. "
                "Could you check the name or give me the ticker?",
                "I don't know an exact ticker symbol for {name}. Can you confirm the company name or its "
                "ticker symbol?"]
CLARIFY_VAGUE = "Which company do you mean? Please tell me its name or exact ticker symbol."


def _date_range(rng: random.Random) -> tuple[str, str]:
    year = rng.randint(2019, 2025)
    m1 = rng.randint(1, 11)
    d1 = rng.randint(1, 28)
    m2 = rng.randint(m1, min(12, m1 + rng.choice([0, 1, 2, 5])))
    d2 = rng.randint(d1 if m2 == m1 else 1, 28)
    if (m2, d2) == (m1, d1):
        d2 = min(28, d1 + 7) if d1 < 28 else d1
        d1 = d1 - 7 if d2 == d1 else d1
    return f"{year}-{m1:02d}-{d1:02d}", f"{year}-{m2:02d}-{d2:02d}"


def build(seed: int = 7) -> list[dict]:
    suite = yaml.safe_load((ROOT / "suites" / "stocks.yaml").read_text())
    system = suite["system"]
    tools = list(shorten(to_tools(suite["functions"])))
    rng = random.Random(seed)

    def example(user: str, calls: list[tuple[str, dict]] | None, refusal: str | None = None) -> dict:
        if calls:
            assistant = {"role": "assistant", "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(calls)]}
        else:
            assistant = {"role": "assistant", "content": refusal}
        return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}, assistant],
                "tools": tools}

    out: list[dict] = []
    # Real companies: each one a current-price question; about half also a historical one.
    for i, (ticker, names) in enumerate(REAL):
        name = names[0] if i % 3 else rng.choice(names)
        out.append(example(rng.choice(CURRENT_T).format(name=name), [(CUR, {"symbol": ticker})]))
        if len(names) > 2 and rng.random() < 0.5:  # a second spelling/misspelling
            out.append(example(rng.choice(CURRENT_T).format(name=names[-1]).lower(), [(CUR, {"symbol": ticker})]))
        if i % 2 == 0:
            if rng.random() < 0.5:
                start, end = _date_range(rng)
                out.append(example(rng.choice(RANGE_T).format(name=rng.choice(names[:2]), start=start, end=end),
                                   [(HIST, {"symbol": ticker, "start_date": start, "end_date": end})]))
            else:
                period = rng.choice(list(PERIOD_WORDS))
                out.append(example(rng.choice(PERIOD_T).format(name=names[0], words=rng.choice(PERIOD_WORDS[period])),
                                   [(HIST, {"symbol": ticker, "period": period})]))
    # Tickers typed directly.
    for ticker, _ in rng.sample(REAL, 10):
        out.append(example(rng.choice(TICKER_T).format(ticker=ticker), [(CUR, {"symbol": ticker})]))
    # Several companies at once: one call each.
    for _ in range(8):
        picks = rng.sample(REAL, 3)
        template = rng.choice(PARALLEL_T)
        n = 3 if "{c}" in template else 2
        text = template.format(a=picks[0][1][0], b=picks[1][1][0], c=picks[2][1][0])
        out.append(example(text, [(CUR, {"symbol": t}) for t, _ in picks[:n]]))
    # Fake companies: current, historical (range and period) questions, all refused.
    fakes = FAKE + [f"{root} {rng.choice(FAKE_SECTORS)}" for root in FAKE_ROOTS]
    for i, name in enumerate(fakes):
        kind = i % 4
        if kind in (0, 1):
            q = rng.choice(CURRENT_T).format(name=name)
        elif kind == 2:
            start, end = _date_range(rng)
            q = rng.choice(RANGE_T).format(name=name, start=start, end=end)
        else:
            period = rng.choice(list(PERIOD_WORDS))
            q = rng.choice(PERIOD_T).format(name=name, words=rng.choice(PERIOD_WORDS[period]))
        if i % 5 == 4:
            q = q.lower()
        out.append(example(q, None, rng.choice(CLARIFY_FAKE).format(name=name)))
    # No company named at all.
    for q in VAGUE:
        out.append(example(q, None, CLARIFY_VAGUE))
    rng.shuffle(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("-o", "--output", default=str(pathlib.Path(__file__).with_name("stocks_train.jsonl")))
    args = ap.parse_args()
    rows = build(args.seed)
    with open(args.output, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    calls = sum("tool_calls" in r["messages"][-1] for r in rows)
    print(f"{len(rows)} examples: {calls} with calls, {len(rows) - calls} clarifications -> {args.output}")


if __name__ == "__main__":
    main()
