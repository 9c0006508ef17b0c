"""Data sets and batching for minicnn."""
