"""Client cost of the streaming hot path: CPU seconds the loadgen spends per streamed chunk.

Not a test (pytest does not collect it). Run::

    .venv/bin/python bench/loadgen_hot_path.py [--streams 200] [--tokens 500] [--rounds 3]

A server subprocess streams ``--tokens`` one-token chunks per request as fast as it can
(vLLM-shaped events, usage null on every chunk, a final usage chunk and [DONE]); this
process runs ``--streams`` concurrent ChatClient streams and reports chunks per second and
client CPU microseconds per chunk (process CPU time, so the server's work is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

from aiohttp import web

from agentperf.loadgen.client import ChatClient, ClientSettings, Exchange
from agentperf.loadgen.history import Conversation
from agentperf.loadgen.profiles import request_tail


async def _serve(port: int) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        n = int(body["max_tokens"])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        head = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"'
        tail = b'"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
        batch = []
        for i in range(n):
            batch.append(head + b"tok%d " % i + tail)
            if len(batch) == 16:
                await resp.write(b"".join(batch))
                batch = []
        if batch:
            await resp.write(b"".join(batch))
        usage = {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": n + 10}
        await resp.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _client(port: int, streams: int, tokens: int, rounds: int) -> None:
    client = ChatClient(ClientSettings(f"http://127.0.0.1:{port}", "m"), streams)
    body, _ = Conversation("system").body("hello", request_tail("m", "vllm", tokens))

    async def agent() -> int:
        chunks = 0
        for _ in range(rounds):
            ex = Exchange(time.monotonic(), time.time())
            await client.stream(body, "bench", ex)
            assert not ex.failure, ex.failure
            chunks += ex.chunks
        return chunks

    await agent()  # warm the connection pool and the code paths
    cpu, wall = time.process_time(), time.monotonic()
    total = sum(await asyncio.gather(*(agent() for _ in range(streams))))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    await client.close()
    print(
        json.dumps(
            {
                "streams": streams,
                "chunks": total,
                "wall_s": round(wall, 3),
                "client_cpu_s": round(cpu, 3),
                "chunks_per_s": round(total / wall),
                "client_cpu_us_per_chunk": round(cpu / total * 1e6, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.port))
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        asyncio.run(_client(port, args.streams, args.tokens, args.rounds))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
