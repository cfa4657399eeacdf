"""Detectors: every analysis step of a window behind one contract (`contract`), listed once in
the registry (`registry`) that `graphnet.pipeline` runs."""
