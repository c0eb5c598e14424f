"""Load scenarios for Podium (see bench/README.md; results in docs/performance.md)."""
