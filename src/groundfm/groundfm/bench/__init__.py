"""Benchmarks: one entry point (`groundfm bench NAME`) and one JSON schema for every capability."""
