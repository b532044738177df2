"""Running a suite: plan the requests, answer from the cache, send them under concurrency and
rate limits, run tool loops, and record every result."""
