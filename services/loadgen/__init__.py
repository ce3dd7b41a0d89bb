"""The load generator service: runs concurrency levels of closed-loop agents on request.

A thin gRPC face (``RunLevel``, ``GetStats``) over the agent-replay engine in
``agentperf.loadgen``; trajectories come from the trajectory store, tool gaps from toolsim,
and every request's record goes to the judge.
"""
