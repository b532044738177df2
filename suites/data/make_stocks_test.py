"""Writes stocks_test.jsonl: the stocks suite's test cases in the OpenAI chat fine-tuning format.

Run from this folder: python make_stocks_test.py. Each line: messages (user, then the expected
assistant turn: tool_calls, or a clarification for companies that do not exist), an id and tags.
"""
import json

CUR = "get_current_stock_price"
HIST = "get_historical_stock_price"

# (id, question, [(function, arguments)], tags); [] means: ask for clarification, no call.
CASES = [
    ("msft-now", "What is Microsoft's stock price right now?", [(CUR, {"symbol": "MSFT"})], ["real", "current", "name"]),
    ("aapl-ticker", "AAPL price?", [(CUR, {"symbol": "AAPL"})], ["real", "current", "ticker"]),
    ("amzn-now", "How much is one share of Amazon worth at the moment?", [(CUR, {"symbol": "AMZN"})], ["real", "current", "name"]),
    ("googl-now", "Give me the current share price of Alphabet.", [(CUR, {"symbol": {"any_of": ["GOOGL", "GOOG"]}})], ["real", "current", "name"]),
    ("tsla-misspelt", "whats teslas stock at today", [(CUR, {"symbol": "TSLA"})], ["real", "current", "misspelling"]),
    ("nvda-now", "Current price of NVIDIA shares, please.", [(CUR, {"symbol": "NVDA"})], ["real", "current", "name"]),
    ("meta-now", "Where is Meta Platforms trading right now?", [(CUR, {"symbol": "META"})], ["real", "current", "name"]),
    ("nflx-misspelt", "What's Netflics stock price currently?", [(CUR, {"symbol": "NFLX"})], ["real", "current", "misspelling"]),
    ("ko-now", "How is Coca-Cola's stock priced today?", [(CUR, {"symbol": "KO"})], ["real", "current", "name"]),
    ("wmt-ticker", "Quote for WMT?", [(CUR, {"symbol": "WMT"})], ["real", "current", "ticker"]),
    ("jpm-now", "What does JPMorgan Chase stock cost right now?", [(CUR, {"symbol": "JPM"})], ["real", "current", "name"]),
    ("intc-now", "Tell me Intel's latest share price.", [(CUR, {"symbol": "INTC"})], ["real", "current", "name"]),
    ("dis-now", "What's the Walt Disney Company trading at?", [(CUR, {"symbol": "DIS"})], ["real", "current", "name"]),
    ("nke-misspelt", "current price of nikee stock", [(CUR, {"symbol": "NKE"})], ["real", "current", "misspelling"]),
    ("ibm-ticker", "IBM stock price now", [(CUR, {"symbol": "IBM"})], ["real", "current", "ticker"]),
    ("xom-now", "How much is Exxon Mobil stock right now?", [(CUR, {"symbol": "XOM"})], ["real", "current", "name"]),
    ("aapl-hist-range", "What were Apple's daily prices between 2024-03-01 and 2024-03-15?",
     [(HIST, {"symbol": "AAPL", "start_date": "2024-03-01", "end_date": "2024-03-15"})], ["real", "historical", "name"]),
    ("msft-hist-day", "Show me Microsoft's prices from 2023-11-01 to 2023-11-30.",
     [(HIST, {"symbol": "MSFT", "start_date": "2023-11-01", "end_date": "2023-11-30"})], ["real", "historical", "name"]),
    ("nvda-hist-1y", "How has NVIDIA stock done over the past year?", [(HIST, {"symbol": "NVDA", "period": "1y"})], ["real", "historical", "name"]),
    ("ko-hist-1mo", "Coca-Cola share prices for the last month, please.", [(HIST, {"symbol": "KO", "period": "1mo"})], ["real", "historical", "name"]),
    ("pfe-hist-5d", "Pfizer stock over the last 5 days?", [(HIST, {"symbol": "PFE", "period": "5d"})], ["real", "historical", "name"]),
    ("ba-hist-range", "Boeing's stock history from 2022-01-03 to 2022-06-30.",
     [(HIST, {"symbol": "BA", "start_date": "2022-01-03", "end_date": "2022-06-30"})], ["real", "historical", "name"]),
    ("sbux-hist-6mo", "Starbucks share price history for six months", [(HIST, {"symbol": "SBUX", "period": "6mo"})], ["real", "historical", "name"]),
    ("mcd-now", "McDonald's stock price today?", [(CUR, {"symbol": "MCD"})], ["real", "current", "name"]),
    ("cost-now", "What's Costco trading at right now?", [(CUR, {"symbol": "COST"})], ["real", "current", "name"]),
    ("par-aapl-msft", "What are Apple's and Microsoft's share prices right now?",
     [(CUR, {"symbol": "AAPL"}), (CUR, {"symbol": "MSFT"})], ["real", "current", "parallel"]),
    ("par-nvda-amd", "Compare the current stock prices of NVIDIA and AMD.",
     [(CUR, {"symbol": "NVDA"}), (CUR, {"symbol": "AMD"})], ["real", "current", "parallel"]),
    ("par-ko-pep-jnj", "Current prices for Coca-Cola, PepsiCo and Johnson & Johnson?",
     [(CUR, {"symbol": "KO"}), (CUR, {"symbol": "PEP"}), (CUR, {"symbol": "JNJ"})], ["real", "current", "parallel"]),
    ("titan", "What was Titan Robotics' closing price last Friday?", [], ["fake", "historical"]),
    ("zephyr", "What's the stock price of Zephyr Biotech right now?", [], ["fake", "current"]),
    ("quantum-lattice", "How much is Quantum Lattice Systems stock?", [], ["fake", "current"]),
    ("bluefin", "Give me Bluefin Aeronautics' current share price.", [], ["fake", "current"]),
    ("crescent", "Crescent Harbor Foods stock price today?", [], ["fake", "current"]),
    ("nimbus", "How has Nimbus Orbital stock done over the last year?", [], ["fake", "historical"]),
    ("arborline", "What is Arborline Logistics trading at?", [], ["fake", "current"]),
    ("vantara", "Current share price of Vantara Genomics, please.", [], ["fake", "current"]),
    ("silverpeak", "What were Silverpeak Motors' prices from 2024-01-02 to 2024-01-31?", [], ["fake", "historical"]),
    ("helix-forge", "helix forge energy stock price", [], ["fake", "current"]),
    ("obsidian", "How much does a share of Obsidian Cloudworks cost?", [], ["fake", "current"]),
    ("marigold", "Where is Marigold Fintech stock right now?", [], ["fake", "current"]),
    ("driftwood", "Show me Driftwood Semiconductors' stock history for the past 6 months.", [], ["fake", "historical"]),
    ("polaris-tidewater", "What's Polaris Tidewater Holdings' share price?", [], ["fake", "current"]),
    ("kestrel", "Kestrel Quantum Labs stock quote", [], ["fake", "current"]),
    ("ironleaf", "How is Ironleaf Pharmaceuticals stock doing today?", [], ["fake", "current"]),
    ("solace", "What did Solace Mobility stock close at yesterday?", [], ["fake", "historical"]),
    ("no-company", "What's the stock price?", [], ["vague", "current"]),
]

# Companies that also appear (with other phrasings) in stocks_train.jsonl; their cases get the tag
# `seen`, the other real-company cases `unseen`, so accuracy can be read on both.
SEEN = {"MSFT", "AAPL", "AMZN", "TSLA", "NVDA", "KO", "JPM", "DIS", "PFE", "MCD", "PEP", "AMD",
        "GOOGL", "NFLX", "WMT", "INTC", "NKE", "BA", "COST", "JNJ", "META", "IBM", "XOM", "SBUX"}

CLARIFY = ("I couldn't find an exact ticker symbol for that company. Could you confirm the company's "
           "exact name or its ticker symbol?")


def seen_tag(calls):
    """A case is seen when every company it asks about is in training (any accepted ticker counts)."""
    def known(symbol):
        options = symbol["any_of"] if isinstance(symbol, dict) else [symbol]
        return any(o in SEEN for o in options)

    return ["seen"] if all(known(args["symbol"]) for _, args in calls) else ["unseen"]


def line(case_id, question, calls, tags):
    if calls:
        tags = tags + seen_tag(calls)
    if calls:
        assistant = {"role": "assistant", "tool_calls": [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)]}
    else:
        assistant = {"role": "assistant", "content": CLARIFY}
    return {"id": case_id, "tags": tags, "messages": [{"role": "user", "content": question}, assistant]}


if __name__ == "__main__":
    with open("stocks_test.jsonl", "w") as f:
        for case in CASES:
            f.write(json.dumps(line(*case)) + "\n")
    print(f"{len(CASES)} cases: {sum(bool(c[2]) for c in CASES)} should call, "
          f"{sum(not c[2] for c in CASES)} should refuse")
