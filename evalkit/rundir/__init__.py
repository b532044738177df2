"""The run directory: the files a run writes and the typed records later commands read back."""
