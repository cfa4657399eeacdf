"""Detectors: one contract (base.Detector) for every method."""
