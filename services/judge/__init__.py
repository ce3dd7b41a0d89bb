"""slo-judge: ingests request records and turns each concurrency level into per-tier verdicts.

Records arrive over a client stream and are held idempotently on ``record_id`` per run and
level (:mod:`.store`). A verdict uses only the records sent inside the measurement window:
P95 time to first token and P25 output speed, nearest-rank, per SLO tier (:mod:`.core`).
Failed requests and requests that waited past a tier's TTFT limit count as violations.
The semantics are written down in docs/measurement.md.
"""
