"""A dependency-free progress line on stderr: redrawn in place on a terminal, sparse otherwise."""
from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, min_interval: float = 0.2):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.done = 0
        self.verdicts: Counter[str] = Counter()
        self._last = 0.0
        self._drawn = False  # a line is on the terminal, to be ended by close()
        self._interval = min_interval if self.tty else 10.0

    def advance(self, verdict: str | None = None, n: int = 1) -> None:
        self.done += n
        if verdict:
            self.verdicts[verdict] += n
        now = time.monotonic()
        if now - self._last >= self._interval or self.done == self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        if elapsed < 2.0 and self.done < self.total:
            return  # short runs print nothing
        frac = self.done / self.total if self.total else 1.0
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        ok = self.verdicts.get("correct", 0)
        errs = self.verdicts.get("error", 0)
        line = (f"{self.label} [{bar}] {self.done}/{self.total} {rate:.1f}/s "
                f"eta {eta:.0f}s  correct {ok}" + (f"  errors {errs}" if errs else ""))
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the redrawn line, so what is printed next starts on its own line; the decision
        is whether a line was drawn, not how long the run took."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
