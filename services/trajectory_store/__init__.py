"""trajectory-store: imports, validates and serves trajectory datasets from embedded SQLite.

Datasets come from our JSONL format (``formats``), all-or-nothing, or from the seeded synthetic
generator (``synthetic``); the loadgen streams them back sharded by trajectory index.
"""
