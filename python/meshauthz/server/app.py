"""The ASGI application (Starlette): Kuma resource routes (S2), tokens (S4), decisions (S7), webhook (S6)."""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any, Optional
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import meshauthz

from . import decisions, webhook
from .errors import ApiError, error_body, invalid
from .openapi import openapi_document
from .service import Service
from .types import GLOBAL_PATHS, MESH_PATHS, TYPES, ResourceType

log = logging.getLogger("meshauthz.server")
access_log = logging.getLogger("meshauthz.access")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), status_code=status,
                    media_type="application/json")


def _error(e: ApiError) -> Response:
    return _json(e.body(), e.status)


def _user(service: Service, request: Request) -> Any:
    scope = request.scope
    # ASGI header names are lower-case bytes; a repeated header answers its first value (as Go's Header.Get)
    headers: dict[str, str] = {}
    for k, v in scope["headers"]:
        headers.setdefault(k.decode("latin-1"), v.decode("latin-1"))
    client = scope.get("client")
    user = service.authenticate(client[0] if client else None, headers, scope.get("scheme", "http"))
    scope["meshauthz.user"] = user  # for the access log
    return user


def _log(request: Request, status: int, started: float, user: Any = None) -> None:
    if request.app.state.service.config.access_log and access_log.isEnabledFor(logging.INFO):
        access_log.info(json.dumps({
            "method": request.method, "path": request.url.path, "status": status,
            "user": None if user is None else str(user), "ms": round((time.perf_counter() - started) * 1000, 3),
            "peer": request.client.host if request.client else None}))


def create_app(service: Service) -> Any:
    """The application for one Service (both ports serve it, S1.1)."""

    async def guarded(request: Request, handler: Any) -> Response:
        started = time.perf_counter()
        try:
            response: Response = await handler(request)
        except ApiError as e:
            response = _error(e)
        except Exception:  # noqa: BLE001 - never leak a traceback; fail closed with a 500 (SA13)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = _json(error_body(500, "Internal Server Error", "internal error"), 500)
        _log(request, response.status_code, started, request.scope.get("meshauthz.user"))
        return response

    def route(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)
        return endpoint

    async def index(request: Request) -> Response:
        # S4.9: no authentication at all (a bad token is ignored).
        return _json({"hostname": socket.gethostname(), "product": "meshauthz", "version": meshauthz.__version__,
                      "instanceId": service.instance_id, "clusterId": "", "gui": "", "basedOnKuma": "2.10.11"})

    async def who_am_i(request: Request) -> Response:
        user = _user(service, request)
        return _json({"name": user.name, "groups": list(user.groups)})

    async def resources_index(request: Request) -> Response:
        items = []
        for t in sorted(TYPES.values(), key=lambda t: t.name):
            items.append({"name": t.name, "path": t.path, "scope": "Global" if t.global_scoped else "Mesh",
                          "readOnly": service.config.read_only, "singularDisplayName": t.name,
                          "includeInFederation": False})
        return _json({"resources": items})

    async def tokens_user(request: Request) -> Response:
        user = _user(service, request)
        raw = await request.body()
        token = await run_in_threadpool(service.issue_user_token, user, raw)
        return PlainTextResponse(token)

    async def access(request: Request) -> Response:
        user = _user(service, request)
        body = await _decode(request)
        return _json(decisions.access(service, user, body))

    async def traffic(request: Request) -> Response:
        _user(service, request)
        body = await _decode(request)
        return _json(await run_in_threadpool(decisions.traffic, service, body))

    async def openapi(request: Request) -> Response:
        return _json(openapi_document())

    async def validate_webhook(request: Request) -> Response:
        raw = await request.body()
        status, body = webhook.review(service, raw)
        return _json(body, status)

    async def resource(request: Request) -> Response:
        parts = [p for p in request.url.path.split("/") if p != ""]
        method = request.method
        if len(parts) >= 3 and parts[0] == "meshes":
            mesh = parts[1]
            rtype = MESH_PATHS.get(parts[2])
            if rtype is None:
                raise ApiError(404, "Not Found", "Not found")
            if len(parts) == 3 and method == "GET":
                return await _list(request, rtype, mesh, "/meshes/{mesh}/" + rtype.path)
            if len(parts) == 4:
                return await _one(request, rtype, mesh, parts[3])
            if len(parts) == 5 and rtype.name == "Dataplane" and parts[4] == "policies" and method == "GET":
                _user(service, request)
                return _json(await run_in_threadpool(decisions.dataplane_policies, service, mesh, parts[3]))
            if len(parts) == 6 and parts[4] == "_resources" and parts[5] == "dataplanes" and method == "GET":
                _user(service, request)
                return _json(await run_in_threadpool(decisions.policy_dataplanes, service, rtype, mesh, parts[3]))
            raise ApiError(404, "Not Found", "Not found")
        if len(parts) in (1, 2):
            rtype = GLOBAL_PATHS.get(parts[0]) or MESH_PATHS.get(parts[0])
            if rtype is None:
                raise ApiError(404, "Not Found", "Not found")
            if len(parts) == 1 and method == "GET":
                return await _list(request, rtype, None, "/" + rtype.path)
            if len(parts) == 2 and rtype.global_scoped:
                return await _one(request, rtype, None, parts[1])
        raise ApiError(404, "Not Found", "Not found")

    async def _one(request: Request, rtype: ResourceType, mesh: Optional[str], name: str) -> Response:
        user = _user(service, request)
        if request.method == "GET":
            _check_format(request)
            return _json(service.get(user, rtype, mesh, name))
        if request.method == "PUT":
            raw = await request.body()
            status, body = await run_in_threadpool(service.put, user, rtype, mesh, name, raw)
            return _json(body, status)
        if request.method == "DELETE":
            return _json(await run_in_threadpool(service.delete, user, rtype, mesh, name))
        raise ApiError(405, "Method not Allowed", "Method not allowed")

    async def _list(request: Request, rtype: ResourceType, mesh: Optional[str], template: str) -> Response:
        user = _user(service, request)
        q = request.query_params
        _check_format(request)
        size_text = q.get("size")
        size = 100
        if size_text is not None and size_text != "":
            try:
                size = int(size_text)
                if size < 0:
                    raise ValueError
            except ValueError:
                raise ApiError(400, "Could not retrieve resources", "Invalid page size",
                               [("size", "invalid format")]) from None
            if size > 1000:
                raise ApiError(400, "Could not retrieve resources", "Invalid page size",
                               [("size", f"invalid page size of {size}. Maximum page size is 1000")])
            if size == 0:
                size = 100
        offset = 0
        off_text = q.get("offset")
        if off_text is not None and off_text != "":
            try:
                offset = int(off_text)
                if offset < 0:
                    raise ValueError
            except ValueError:
                raise ApiError(400, "Could not retrieve resources", "Invalid offset",
                               [("offset", "Invalid format")]) from None
        label_filters: dict[str, str] = {}
        for key, value in q.multi_items():
            if not key.startswith("filter["):
                continue
            inner = key[len("filter["):]
            field, _, rest = inner.partition("]")
            where = f"{template}.{key}"
            if not field.startswith("labels."):
                raise invalid("Could not retrieve resources", [(where, "filters are only supported on labels")])
            if rest:
                raise invalid("Could not retrieve resources", [(where, "advanced filters are not supported")])
            label_filters[field[len("labels."):]] = value
        name_filter = q.get("name")
        items = service.list(user, rtype, mesh)
        if name_filter:
            items = [d for d in items if name_filter in d.get("name", "")]
        if label_filters:
            items = [d for d in items
                     if all((d.get("labels") or {}).get(k) == v for k, v in label_filters.items())]
        total = len(items)
        page = items[offset:offset + size]
        nxt = None
        if offset + size < total:
            params = dict(q.multi_items())
            params["offset"] = str(offset + size)
            if "size" not in params:
                params["size"] = str(size)
            host = request.headers.get("host", "")
            nxt = f"{request.url.scheme}://{host}{request.url.path}?{urlencode(sorted(params.items()))}"
        return _json({"total": total, "items": page, "next": nxt})

    def _check_format(request: Request) -> None:
        fmt = request.query_params.get("format")
        if fmt is not None and fmt not in ("", "universal"):  # SA11: no Kubernetes mapper yet
            raise ApiError(400, "Bad Request", "Resource is not valid",
                           [("format", "only the universal format is supported")])

    async def _decode(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Bad Request", "could not unmarshal the request body as JSON") from None

    routes = [
        Route("/", route(index), methods=["GET"]),
        Route("/who-am-i", route(who_am_i), methods=["GET"]),
        Route("/_resources", route(resources_index), methods=["GET"]),
        Route("/tokens/user", route(tokens_user), methods=["POST"]),
        Route("/_meshauthz/v1/access", route(access), methods=["POST"]),
        Route("/_meshauthz/v1/traffic", route(traffic), methods=["POST"]),
        Route("/_meshauthz/openapi.json", route(openapi), methods=["GET"]),
        Route("/validate-kuma-io-v1alpha1", route(validate_webhook), methods=["POST"]),
        Route("/{path:path}", route(resource), methods=["GET", "PUT", "DELETE"]),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        title = {404: "Not Found", 405: "Method not Allowed"}.get(code, "Bad Request")
        return _json(error_body(code, title, str(getattr(exc, "detail", "")) or title), code)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.service = service
    return DecisionFastPath(app, service)


class DecisionFastPath:
    """`POST /_meshauthz/v1/access` served as a plain ASGI handler in front of Starlette (the decision hot
    path: no Request object, routing table or middleware stack); everything else goes to the app.
    Same authentication, same decisions module, same S3 error bodies."""

    PATH = "/_meshauthz/v1/access"

    def __init__(self, app: Starlette, service: Service) -> None:
        self.app = app
        self.service = service
        self.state = app.state
        self.routes = app.routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        status = 200
        try:
            headers: dict[str, str] = {}
            for k, v in scope["headers"]:
                headers.setdefault(k.decode("latin-1"), v.decode("latin-1"))
            client = scope.get("client")
            user = self.service.authenticate(client[0] if client else None, headers, scope.get("scheme", "http"))
            scope["meshauthz.user"] = user
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "Bad Request", "could not unmarshal the request body as JSON") from None
            out: Any = decisions.access(self.service, user, body)
        except ApiError as e:
            status, out = e.status, e.body()
        except Exception:  # noqa: BLE001 - fail closed, never a traceback
            log.exception("unhandled error on POST %s", self.PATH)
            status, out = 500, error_body(500, "Internal Server Error", "internal error")
        data = json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})
        if self.service.config.access_log and access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({"method": "POST", "path": self.PATH, "status": status,
                                        "user": None if scope.get("meshauthz.user") is None else
                                        str(scope["meshauthz.user"]),
                                        "ms": round((time.perf_counter() - started) * 1000, 3),
                                        "peer": client[0] if (client := scope.get("client")) else None}))
