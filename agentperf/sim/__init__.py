"""The built-in simulated inference server: OpenAI-compatible streaming chat completions whose
latency comes from a continuous-batching engine model stepped in real time, plus a simulated
DCGM exporter for power.

Layout: ``tokens`` (the whitespace tokenizer and its counting rule), ``profile`` (bundled engine
profiles), ``kvcache`` (paged KV blocks with a hash-chain prefix cache), ``engine`` (the pure
scheduler: one ``step()`` returns the modelled step duration), ``power`` (power and energy from
the step schedule), ``api`` (request validation and response shapes), ``metrics`` (vLLM-style
metrics and the DCGM exposition), ``server`` (aiohttp app and the real-time stepping loop),
``workload`` (a virtual-time closed-loop agent simulation used to calibrate profiles).
Run it with ``python -m agentperf.sim``; see docs/simulator.md.
"""
