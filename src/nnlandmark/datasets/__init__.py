"""Datasets: converters to the own-data layout and the built-in synthetic datasets (demo, real-size)."""
