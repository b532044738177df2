"""Writes stocks_train.jsonl: LoRA training data for the stocks suite's `ft+short` variant.

Run from the repository root: python suites/data/make_stocks_train.py [--seed 7]

OpenAI chat fine-tuning format, one example a line: the suite's system message, one user question,
and the expected assistant turn (tool_calls, or a clarification when the company does not exist or
none is named), with `tools` = the suite's SHORT definitions (descriptions stripped, `properties: {}`),
exactly what the ft+short variant sends at inference.

Design (v6, trial t7 on in suites/models/stocks-lora/TRIALS.md):
- Closed world: the chatbot knows a fixed list of listed companies (REAL: the test set's 24 real
  companies and 56 others) and must ask about any other name. Every known company is asked about
  several times (KNOWN_QUESTIONS for the test set's companies, OTHER_QUESTIONS for the others) under
  its usual name, its other names and an invented misspelling, so the adapter memorises
  name -> ticker across phrasings rather than one sentence.
- Invented companies: N_FAKES, each asked about once (English-looking names in the style of the
  test fakes, FAKE_FIRST x FAKE_SECTOR, and made-up words), none sharing a first word with a test
  fake; plus questions naming no company. All get the same short reply (CLARIFY), so the only
  thing to learn there is the call-or-ask decision.
- Phrasings: templates written for training only; `build` refuses to write a question that is also
  a test question (stocks_test.jsonl stays a held-out test of phrasings).
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
from evalkit.suite.functions import shorten, to_tools  # noqa: E402

CUR = "get_current_stock_price"
HIST = "get_historical_stock_price"

# The test set's real companies: the ones the chatbot is asked about most, so asked about most here.
TEST_TICKERS = ["MSFT", "AAPL", "AMZN", "TSLA", "NVDA", "KO", "JPM", "DIS", "PFE", "MCD", "PEP", "AMD",
                "GOOGL", "NFLX", "WMT", "INTC", "NKE", "BA", "COST", "JNJ", "META", "IBM", "XOM", "SBUX"]
KNOWN_QUESTIONS = 5   # per test-set company
OTHER_QUESTIONS = 1   # per other known company
N_FAKES = 150
N_TICKERS = 16
N_PARALLEL = 16

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
    ("GOOGL", ["Alphabet", "Google", "alphabet inc"]),
    ("NFLX", ["Netflix", "Netflix Inc.", "netflx"]),
    ("WMT", ["Walmart", "Wal-Mart", "walmart inc"]),
    ("INTC", ["Intel", "Intel Corporation", "intell"]),
    ("NKE", ["Nike", "Nike Inc.", "nikey"]),
    ("BA", ["Boeing", "The Boeing Company", "boing"]),
    ("COST", ["Costco", "Costco Wholesale", "cosco"]),
    ("JNJ", ["Johnson & Johnson", "J&J", "johnson and johnson"]),
    ("META", ["Meta", "Meta Platforms Inc.", "Facebook", "meta platform"]),
    ("IBM", ["IBM", "International Business Machines", "I.B.M."]),
    ("XOM", ["ExxonMobil", "Exxon", "Exxon Mobil Corporation", "exon mobil"]),
    ("SBUX", ["Starbucks", "Starbucks Coffee", "starbuck's"]),
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
    "What's the going rate for {name} stock?", "{name} stock, what's it at now?",
    "Can you get me {name}'s share price?", "Where's {name} stock sitting today?",
    "quick quote on {name} please", "What are {name} shares selling for?",
]
TICKER_T = ["{ticker} quote", "price of ${ticker}?", "What's {ticker} at?", "Current {ticker} price please.",
            "how much is {ticker} right now", "Latest trade for {ticker}?"]
RANGE_T = [
    "Get {name}'s stock prices from {start} to {end}.", "{name} daily prices between {start} and {end}?",
    "How did {name} trade from {start} through {end}?", "Pull {name} price history, {start} to {end}.",
    "I need {name}'s closing prices for {start} until {end}.",
]
PERIOD_WORDS = {
    "1d": ["today's trading session", "the past day", "the last day"],
    "5d": ["the past week", "the last five trading days", "the last 5 days", "the past five days"],
    "1mo": ["the past month", "the last 30 days", "the last month", "a month"],
    "3mo": ["the last three months", "the past quarter", "the last 3 months"],
    "6mo": ["the last half year", "the past 6 months", "six months", "the last six months"],
    "1y": ["the last 12 months", "the past twelve months", "the past year", "the last year", "a year"],
    "5y": ["the last five years", "the past 5 years"],
    "max": ["its whole trading history", "all available history"],
}
PERIOD_T = ["How has {name} stock moved over {words}?", "Show {name}'s share prices for {words}.",
            "{name} price history over {words}", "Give me {name} stock performance for {words}.",
            "How did {name} shares do over {words}?", "{name} stock prices for {words}, please.",
            "What has {name} traded at over {words}?"]
PARALLEL_T = ["Current prices of {a} and {b}?", "Quote {a} and {b} for me.",
              "How much are {a} and {b} shares right now?", "Check {a}, {b} and {c} stock prices.",
              "What do {a} and {b} trade at today?", "Latest quotes for {a}, {b} and {c}, please.",
              "Give me the share prices of {a} and {b}."]
VAGUE = ["What's the share price?", "how much is the stock trading at", "Give me the latest quote.",
         "Show me the price history for the last month.", "What did it close at yesterday?",
         "Is the stock up today?", "Check the price of that company we talked about.",
         "What are shares going for?", "Get me a stock quote.", "How did the stock do this year?",
         "what's the ticker trading at now", "Tell me the current share price."]


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


# Invented companies in the style of real ones: an English-looking first word and a sector word.
# No first word is shared with the test set's fake companies.
FAKE_FIRST = ["Amberfield", "Copperline", "Stormcrest", "Blue Heron", "Oakhaven", "Falconridge", "Silverbirch",
              "Granite Bay", "Emberline", "Foxglove", "Redcliff", "Larchmont", "Brightwater", "Cobaltstone",
              "Willowmere", "Hollowpeak", "Sableridge", "Thornbury", "Ravenshaw", "Glasswing", "Moorgate",
              "Deepwell", "Starling", "Coralbay", "Frostpine", "Ashgrove", "Bramblecore", "Cinderpath",
              "Duskfield", "Eastmere", "Fairhaven", "Goldcrest", "Highmoor", "Ivybridge", "Juniper Point",
              "Kingsmere", "Lanternfly", "Meadowlark", "Nettlefield", "Oxbow", "Pebblebrook", "Quarrystone",
              "Riverbend", "Saltmarsh", "Tallowmere", "Upland", "Vesperline", "Westbrook", "Yellowtail",
              "Zinnia", "Aldergate", "Birchwood", "Cloudberry", "Dovecote", "Elmstead", "Fernhill",
              "Greywater", "Hartwell", "Inkwell", "Jadestone", "Kettleby", "Lochside", "Maplecroft",
              "Northgale", "Orchard Lane", "Pinewhistle", "Quillfeather", "Rosehaven", "Stonebridge",
              "Tinderbox", "Umberlight", "Violetta", "Wolfbane", "Yarrowfield", "Zenlith", "Arclight",
              "Bellwether Grove", "Cedarpoint", "Driftstone", "Everlume", "Flintwick", "Glowmere", "Hearthstone"]
FAKE_SECTOR = ["Robotics", "Biotech", "Systems", "Aeronautics", "Foods", "Orbital", "Logistics", "Genomics",
               "Motors", "Energy", "Cloudworks", "Fintech", "Semiconductors", "Holdings", "Labs",
               "Pharmaceuticals", "Mobility", "Therapeutics", "Networks", "Materials", "Analytics",
               "Dynamics", "Software", "Capital", "Devices", "Solar", "Airlines", "Medical", "Technologies",
               "Industries", "Group", "Mining", "Telecom", "Apparel", "Beverages", "Games"]
CLARIFY = "I don't know an exact ticker symbol for that company. Could you give me its exact name or ticker?"


def misspell(name: str, rng: random.Random) -> str:
    """A plausible typo of a company name: a letter dropped, doubled or swapped, in lower case."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    if len(letters) < 5:  # a typo in a short name makes another name
        return name.lower()
    i = rng.choice(letters[1:-1])
    kind = rng.choice(["drop", "double", "swap"])
    if kind == "drop":
        typo = name[:i] + name[i + 1:]
    elif kind == "double":
        typo = name[:i] + name[i] + name[i:]
    else:
        typo = name[:i] + name[i + 1] + name[i] + name[i + 2:] if i + 1 < len(name) else name
    return typo.lower()


def test_questions() -> set[str]:
    path = ROOT / "suites" / "data" / "stocks_test.jsonl"
    if not path.is_file():
        return set()
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.add(_norm(json.loads(line)["messages"][0]["content"]))
    return out


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def build(seed: int = 7, *, known_questions: int = KNOWN_QUESTIONS, other_questions: int = OTHER_QUESTIONS,
          n_fakes: int = N_FAKES) -> list[dict]:
    suite = yaml.safe_load((ROOT / "suites" / "stocks.yaml").read_text())
    system = suite["system"]
    tools = list(shorten(to_tools(suite["functions"])))
    rng = random.Random(seed)
    held_out = test_questions()

    def example(user: str, calls: list[tuple[str, dict]] | None) -> dict:
        if calls:
            assistant = {"role": "assistant", "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(calls)]}
        else:
            assistant = {"role": "assistant", "content": CLARIFY}
        return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}, assistant],
                "tools": tools}

    def real_q(kind: str, name: str, ticker: str) -> dict:
        for _ in range(20):  # draw again when the phrasing happens to be a test question
            if kind == "current":
                ex = example(rng.choice(CURRENT_T).format(name=name), [(CUR, {"symbol": ticker})])
            elif kind == "range":
                start, end = _date_range(rng)
                ex = example(rng.choice(RANGE_T).format(name=name, start=start, end=end),
                             [(HIST, {"symbol": ticker, "start_date": start, "end_date": end})])
            else:
                period = rng.choice(list(PERIOD_WORDS))
                ex = example(rng.choice(PERIOD_T).format(name=name, words=rng.choice(PERIOD_WORDS[period])),
                             [(HIST, {"symbol": ticker, "period": period})])
            if rng.random() < 0.2:
                ex["messages"][1]["content"] = ex["messages"][1]["content"].lower()
            if _norm(ex["messages"][1]["content"]) not in held_out:
                return ex
        raise RuntimeError(f"no training phrasing for {name} that is not a test question")

    kinds = ["current", "period", "current", "range", "current", "period", "range", "current"]
    out: list[dict] = []
    known = [c for c in REAL if c[0] in TEST_TICKERS]
    others = [c for c in REAL if c[0] not in TEST_TICKERS]
    # Every known company under each of its names, then typos: name -> ticker, not one sentence.
    for companies, per in ((known, known_questions), (others, other_questions)):
        for ticker, names in companies:
            spellings = names + [misspell(rng.choice(names[:2]), rng)]
            for k in range(per):
                name = spellings[k % len(spellings)] if k < len(spellings) else rng.choice(spellings)
                out.append(real_q(kinds[(k + rng.randrange(2)) % len(kinds)], name, ticker))
    # Tickers typed directly.
    for ticker, _ in rng.sample(known, N_TICKERS):
        out.append(example(rng.choice(TICKER_T).format(ticker=ticker), [(CUR, {"symbol": ticker})]))
    # Several companies at once: one call each.
    for _ in range(N_PARALLEL):
        picks = rng.sample(known, 2) + rng.sample(others, 1)
        rng.shuffle(picks)
        template = rng.choice(PARALLEL_T)
        n = 3 if "{c}" in template else 2
        names = [rng.choice(p[1][:2]) for p in picks]
        text = template.format(a=names[0], b=names[1], c=names[2])
        out.append(example(text, [(CUR, {"symbol": t}) for t, _ in picks[:n]]))
    # Invented companies, each asked about once: a clarification, never a call.
    fakes = ([f"{first} {rng.choice(FAKE_SECTOR)}" for first in FAKE_FIRST] + FAKE
             + [f"{root} {rng.choice(FAKE_SECTORS)}" for root in FAKE_ROOTS]
             + [f"{first} {rng.choice(FAKE_SECTOR)}" for first in rng.sample(FAKE_FIRST, 40)]
             + FAKE_ROOTS)
    fakes = list(dict.fromkeys(fakes))
    rng.shuffle(fakes)
    for name in fakes[:n_fakes]:
        ex = real_q(rng.choice(["current", "current", "range", "period"]), name, "X")
        ex["messages"][-1] = {"role": "assistant", "content": CLARIFY}
        out.append(ex)
    # No company named at all.
    for q in VAGUE:
        out.append(example(q, None))
    rng.shuffle(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--known-questions", type=int, default=KNOWN_QUESTIONS)
    ap.add_argument("--other-questions", type=int, default=OTHER_QUESTIONS)
    ap.add_argument("--fakes", type=int, default=N_FAKES)
    ap.add_argument("-o", "--output", default=str(pathlib.Path(__file__).with_name("stocks_train.jsonl")))
    args = ap.parse_args()
    rows = build(args.seed, known_questions=args.known_questions, other_questions=args.other_questions,
                 n_fakes=args.fakes)
    with open(args.output, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    calls = sum("tool_calls" in r["messages"][-1] for r in rows)
    print(f"{len(rows)} examples: {calls} with calls, {len(rows) - calls} clarifications -> {args.output}")


if __name__ == "__main__":
    main()
