"""Redis (or Valkey): the one store of record. Every key name lives in keys.py."""
