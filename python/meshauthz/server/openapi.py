"""`GET /_meshauthz/openapi.json` (S7.3): an OpenAPI 3 document of every route the server answers."""

from __future__ import annotations

from typing import Any

import meshauthz

from .types import TYPES

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    for c in codes:
        out[str(c)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _body(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_LIST_PARAMS = [
    {"name": "size", "in": "query", "schema": {"type": "integer"}},
    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
    {"name": "name", "in": "query", "schema": {"type": "string"}},
]


def openapi_document() -> dict[str, Any]:
    resource = {"type": "object", "additionalProperties": True}
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Index", "responses": _responses({"type": "object"})}},
        "/who-am-i": {"get": {"summary": "Effective identity", "responses": _responses(
            {"type": "object", "properties": {"name": {"type": "string"},
                                              "groups": {"type": "array", "items": {"type": "string"}}}}, 401)}},
        "/_resources": {"get": {"summary": "Served resource types", "responses": _responses({"type": "object"})}},
        "/tokens/user": {"post": {
            "summary": "Issue a user token", "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"name": {"type": "string"}, "validFor": {"type": "string"},
                                                 "groups": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {"200": {"description": "token", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "400": {"description": "invalid"}, "401": {"description": "unauthenticated"},
                          "403": {"description": "denied"}}}},
        "/_meshauthz/v1/access": {"post": {
            "summary": "RBAC decision (one request or {checks: [...]})",
            "requestBody": _body("AccessRequest"),
            "responses": _responses({"type": "object"}, 400, 401, 403)}},
        "/_meshauthz/v1/traffic": {"post": {
            "summary": "Traffic decision (one request or {checks: [...]})",
            "requestBody": _body("TrafficRequest"),
            "responses": _responses({"type": "object"}, 400, 401)}},
        "/_meshauthz/openapi.json": {"get": {"summary": "This document", "responses": _responses({"type": "object"})}},
    }
    for t in sorted(TYPES.values(), key=lambda t: t.path):
        list_op = {"get": {"summary": f"List {t.name}", "parameters": _LIST_PARAMS,
                           "responses": _responses({"type": "object"}, 400, 401, 403, 404)}}
        one = {
            "get": {"summary": f"Get {t.name}", "responses": _responses(resource, 401, 403, 404)},
            "put": {"summary": f"Create or update {t.name}",
                    "requestBody": {"content": {"application/json": {"schema": resource}}},
                    "responses": {**_responses({"type": "object"}, 400, 401, 403, 404, 409),
                                  "201": {"description": "created"}}},
            "delete": {"summary": f"Delete {t.name}", "responses": _responses({"type": "object"}, 400, 401, 403, 404)},
        }
        if t.global_scoped:
            paths[f"/{t.path}"] = list_op
            paths[f"/{t.path}/{{name}}"] = {k: {**v, "parameters": [_path_param("name")]} for k, v in one.items()}
        else:
            paths[f"/{t.path}"] = list_op
            paths[f"/meshes/{{mesh}}/{t.path}"] = {"get": {**list_op["get"],
                                                           "parameters": [_path_param("mesh"), *_LIST_PARAMS]}}
            paths[f"/meshes/{{mesh}}/{t.path}/{{name}}"] = {
                k: {**v, "parameters": [_path_param("mesh"), _path_param("name")]} for k, v in one.items()}
    paths["/meshes/{mesh}/dataplanes/{name}/policies"] = {"get": {
        "summary": "TrafficPermission / MeshTrafficPermission matched by a Dataplane",
        "parameters": [_path_param("mesh"), _path_param("name")],
        "responses": _responses({"type": "object"}, 401, 404)}}
    for p in ("traffic-permissions", "meshtrafficpermissions"):
        paths[f"/meshes/{{mesh}}/{p}/{{name}}/_resources/dataplanes"] = {"get": {
            "summary": "Dataplanes the policy selects", "parameters": [_path_param("mesh"), _path_param("name")],
            "responses": _responses({"type": "object"}, 401, 404)}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "meshauthz serve", "version": meshauthz.__version__},
        "paths": paths,
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["type", "status", "title", "detail"], "properties": {
                "type": {"type": "string"}, "status": {"type": "integer"}, "title": {"type": "string"},
                "detail": {"type": "string"}, "details": {"type": "string"},
                "invalid_parameters": {"type": "array", "items": {"type": "object"}},
                "causes": {"type": "array", "items": {"type": "object"}}}},
            "AccessRequest": {"type": "object", "properties": {
                "user": {"type": "object", "properties": {"name": {"type": "string"},
                                                          "groups": {"type": "array", "items": {"type": "string"}}}},
                "action": {"type": "string"}, "resource": {"type": "object"}, "oldResource": {"type": "object"},
                "tokenRequest": {"type": "object"}, "checks": {"type": "array", "items": {"type": "object"}}}},
            "TrafficRequest": {"type": "object", "properties": {
                "source": {}, "destination": {}, "mesh": {"type": "string"},
                "checks": {"type": "array", "items": {"type": "object"}}}},
        }},
    }
