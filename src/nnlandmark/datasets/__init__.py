"""Datasets: converters to the own-data layout and the built-in synthetic demo."""
