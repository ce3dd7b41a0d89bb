"""toolsim: models an agent's tool call as a seeded delay; nothing from a request is ever executed.

The delay of a call is drawn from a lognormal distribution (per tool class, optional), fixed by
the service seed and the request's key, or taken from the trajectory's recorded duration. The
service waits that long (scaled by ``time_scale``), optionally behind a concurrency limit that
models a shared CPU pool, and answers with the delay and the model that produced it.
"""
