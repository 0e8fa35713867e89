"""Helpers shared by test packages (and benchmarks) that are not fixtures of one package."""
