"""slo-judge: ingests request records, turns each concurrency level into per-tier verdicts, gates rollouts.

Records arrive over a client stream and are folded, idempotently on ``record_id``, into one
mergeable aggregate per run, level and load generator shard (:mod:`.stats`). Everything is
kept in SQLite (:mod:`.store`): a batch is acknowledged only after its commit, so a judge
killed and started again on the same file has every acknowledged record and recognises
their ids. Verdicts merge the shards (and any repeated measurements of the level) and bound
P95 TTFT and P25 output speed at a stated confidence (docs/measurement.md).

The conductor reports each run's phase and answers (PutRun); the HTTP gate API (:mod:`.http`)
serves them to Argo Rollouts, Flagger and people, with the gate rules of
:mod:`agentperf.gate`. Storage, API, metrics and configuration: docs/judge.md.
"""
