"""The judge's HTTP gate API: run verdicts for Argo Rollouts, Flagger, people and the report.

Routes (docs/judge.md has the bodies and examples):

* ``GET /api/v1/runs/{run_id}/verdict[?rule=...]``: the gate's answer (``agentperf.verdict/v1``),
  shaped for an Argo Rollouts ``web`` metric (``jsonPath: "{$.status}"``);
* ``POST /api/v1/flagger/gate``: Flagger webhook; 200 when the gate passes, 412 otherwise;
* ``GET /api/v1/runs`` and ``GET /api/v1/runs/{run_id}``: run list and one run's state with
  the latest stored verdict of each level;
* ``GET /healthz``.

Every rule is applied by :func:`agentperf.gate.evaluate_gate`, the same function as
``agentperf gate``. Errors map to HTTP statuses here and only here (InputError 400,
NotFoundError 404, anything else 500), always with a JSON body ``{"error": ...}``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from google.protobuf import json_format

from agentperf import gate
from agentperf.errors import AgentperfError, InputError, NotFoundError
from agentperf.runtime.net import bind_tcp
from agentperf.services.judge.store import JudgeStore
from agentperf.v1 import judge_pb2

log = logging.getLogger(__name__)

VERDICT_SCHEMA = "agentperf.verdict/v1"
RUN_SCHEMA = "agentperf.judge-run/v1"
PHASE_NAMES = {
    judge_pb2.RUN_PHASE_RUNNING: "running",
    judge_pb2.RUN_PHASE_FINISHED: "finished",
    judge_pb2.RUN_PHASE_INTERRUPTED: "interrupted",
    judge_pb2.RUN_PHASE_ERROR: "error",
}
_dumps = functools.partial(json.dumps, allow_nan=False)


# -- RunState as a gate sees it (pure) ---------------------------------------------------------


def phase_name(state: judge_pb2.RunState) -> str:
    return PHASE_NAMES.get(state.phase, "unspecified")


def _known(value: float) -> float | None:
    """``value`` where the proto's 0 means unknown; None otherwise (and for non-finite values)."""
    return value if value and math.isfinite(value) else None


def tier_figures(state: judge_pb2.RunState) -> dict[str, gate.TierFigures]:
    return {
        t.tier.name: gate.TierFigures(
            max_agents=t.max_agents,
            agents_per_gpu=_known(t.agents_per_gpu),
            agents_per_mw=_known(t.agents_per_mw),
            converged=t.converged,
        )
        for t in state.tiers
    }


def stored_rules(state: judge_pb2.RunState) -> list[gate.GateRule]:
    return [
        gate.GateRule(r.tier, r.min_agents, r.min_agents_per_gpu, r.min_agents_per_mw) for r in state.gate
    ]


def parse_rules(texts: Iterable[str], *, source: str) -> list[gate.GateRule]:
    """Parse each rule text; the InputError names the rule that is wrong."""
    return [gate.parse_rule(text, source=f"{source} {text!r}") for text in texts]


def gate_outcome(state: judge_pb2.RunState, rules: list[gate.GateRule] | None = None) -> gate.GateOutcome:
    """The gate's answer for ``state`` under ``rules`` (the run's stored rules when None)."""
    chosen = stored_rules(state) if rules is None else rules
    return gate.evaluate_gate(phase_name(state), tier_figures(state), chosen)


def _tier_json(t: judge_pb2.TierAnswer) -> dict[str, Any]:
    answered = t.max_agents > 0
    return {
        "max_agents": t.max_agents,
        "lowest_failing": t.lowest_failing or None,
        "converged": t.converged,
        "inconclusive": t.inconclusive,
        "agents_per_gpu": _known(t.agents_per_gpu),
        "agents_per_mw": _known(t.agents_per_mw),
        "p95_ttft_s": _known(t.p95_ttft_s) if answered else None,
        "p25_output_speed": _known(t.p25_output_speed) if answered else None,
        "min_output_speed": t.tier.min_output_speed,
        "max_ttft_s": t.tier.max_ttft_s,
    }


def verdict_body(state: judge_pb2.RunState, rules: list[gate.GateRule] | None = None) -> dict[str, Any]:
    """The ``agentperf.verdict/v1`` document: the gate's status plus the run's figures."""
    chosen = stored_rules(state) if rules is None else rules
    outcome = gate.evaluate_gate(phase_name(state), tier_figures(state), chosen)
    return {
        "schema": VERDICT_SCHEMA,
        "run_id": state.run_id,
        "phase": phase_name(state),
        "status": outcome.status.value,
        "pass": outcome.status is gate.GateStatus.PASS,
        "reasons": outcome.reasons,
        "rules": [rule.describe() for rule in chosen],
        "tiers": {t.tier.name: _tier_json(t) for t in state.tiers},
        "gpus": state.gpus,
        "gpu_seconds": state.gpu_seconds,
        "levels_measured": state.levels_measured,
        "current_level": state.current_level,
        "updated_unix_s": state.updated_unix_s,
        "message": state.message,
    }


def _proto_json(msg: Any) -> dict[str, Any]:
    return json_format.MessageToDict(
        msg,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )


# -- the aiohttp application ----------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, dumps=_dumps)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason, path=request.path)
    except InputError as exc:
        return _error(400, str(exc))
    except NotFoundError as exc:
        return _error(404, str(exc))
    except AgentperfError as exc:
        return _error(500, str(exc))
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return _error(500, "internal error (logged by the judge)")


class GateApi:
    """The HTTP handlers over one :class:`JudgeStore`."""

    def __init__(self, store: JudgeStore) -> None:
        self._store = store

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/api/v1/runs", self.list_runs)
        app.router.add_get("/api/v1/runs/{run_id}", self.get_run)
        app.router.add_get("/api/v1/runs/{run_id}/verdict", self.verdict)
        app.router.add_post("/api/v1/flagger/gate", self.flagger_gate)
        return app

    async def _state(self, run_id: str) -> judge_pb2.RunState:
        state = await self._store.get_run(run_id)
        if state is None:
            raise NotFoundError(f"run {run_id!r} is not known to the judge (runs are reported with PutRun)")
        return state

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def list_runs(self, request: web.Request) -> web.Response:
        runs = [
            {
                "run_id": s.run_id,
                "phase": phase_name(s),
                "updated_unix_s": s.updated_unix_s,
                "current_level": s.current_level,
                "levels_measured": s.levels_measured,
            }
            for s in await self._store.runs()
        ]
        return web.json_response({"runs": runs}, dumps=_dumps)

    async def get_run(self, request: web.Request) -> web.Response:
        run_id = request.match_info["run_id"]
        state = await self._store.get_run(run_id)
        verdicts = await self._store.latest_verdicts(run_id)
        if state is None and not verdicts:
            raise NotFoundError(f"run {run_id!r} is not known to the judge")
        body = {
            "schema": RUN_SCHEMA,
            "run_id": run_id,
            "phase": None if state is None else phase_name(state),
            "state": None if state is None else _proto_json(state),
            "levels": [_proto_json(v) for v in verdicts],
        }
        return web.json_response(body, dumps=_dumps)

    async def verdict(self, request: web.Request) -> web.Response:
        texts = request.query.getall("rule", [])
        rules = parse_rules(texts, source="query rule") if texts else None
        state = await self._state(request.match_info["run_id"])
        return web.json_response(verdict_body(state, rules), dumps=_dumps)

    async def flagger_gate(self, request: web.Request) -> web.Response:
        run_id, rules, canary = await _flagger_request(request)
        state = await self._state(run_id)
        body = verdict_body(state, rules)
        body["canary"] = canary
        if body["pass"]:
            return web.json_response(body, dumps=_dumps)
        reason = f"gate {body['status']}: " + "; ".join(body["reasons"])
        return web.json_response({"error": reason, **body}, status=412, dumps=_dumps)


async def _flagger_request(request: web.Request) -> tuple[str, list[gate.GateRule] | None, dict[str, Any]]:
    """Run id, rules (None: the run's stored rules) and canary identity from Flagger's payload."""
    src = "Flagger webhook payload"
    try:
        payload = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"body is not JSON: {exc}", source=src) from exc
    if not isinstance(payload, Mapping):
        raise InputError("must be a JSON object", source=src)
    metadata = payload.get("metadata")
    if not isinstance(metadata, Mapping):
        raise InputError("must be an object with run_id (and optional rules)", source=src, field="metadata")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise InputError(
                f"must be a string, got {type(value).__name__}", source=src, field=f"metadata.{key}"
            )
    run_id = str(metadata.get("run_id", "")).strip()
    if not run_id:
        raise InputError("must name the run to gate on", source=src, field="metadata.run_id")
    rules_text = str(metadata.get("rules", ""))
    texts = [part.strip() for part in rules_text.split(";") if part.strip()]
    rules = parse_rules(texts, source="metadata.rules rule") if texts else None
    canary = {
        key: payload.get(key) for key in ("name", "namespace", "phase") if isinstance(payload.get(key), str)
    }
    return run_id, rules, canary


class HttpServer:
    """Runs the gate API on one port; ``port`` is the bound one (useful with port 0)."""

    def __init__(self, store: JudgeStore) -> None:
        self._api = GateApi(store)
        self._runner: web.AppRunner | None = None
        self.port = -1

    async def start(self, host: str, port: int) -> int:
        runner = web.AppRunner(self._api.app(), access_log=None)
        await runner.setup()
        try:
            sock = bind_tcp(host, port, "judge HTTP gate API")
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(sock.getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
