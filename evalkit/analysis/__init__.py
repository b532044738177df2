"""Numbers over recorded results: the metric set, intervals and tests, token counts, cost, trials."""
