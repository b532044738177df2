"""Bridges to data and habits from elsewhere (BFCL question files, ...)."""
