"""`AccessDecision`: the outcome of one check, with the exact §8 texts and an explanation.

Both classes are native (`meshauthz._core`, built by the check itself in Rust) and behave as
frozen dataclasses: keyword / positional constructor over the fields below, equality and hashing
over the fields, a dataclass-style repr, pickling, `__match_args__`.

`AccessDecision` fields: `allowed`, `user` (the `User` checked), `action`, `target` (label),
`mode`, `grant`, `old_grant` (UPDATE: the stored object's grant, R5.9), `denied_side` (UPDATE
denials: "old" or "new"), `uncovered` (denials: the elements no applicable rule covers, R5.6,
computed on first access), `reason` (R8.2 / R8.6, HTTP `detail`), `examined` (candidate rules),
`notes`; properties `role`, `binding`, `rule_index`, `http_status`; `message(channel)` (R8.3 /
R8.4 text), `explain()` (a dict), `str()` (a text explanation), truthiness = `allowed`.

`Grant(role, binding, rule, access)`: which binding gave which role whose rule (0-based index)
granted which access value.
"""

from __future__ import annotations

from typing import Literal

from .._core import AccessDecision, Grant

Channel = Literal["api", "kubernetes-webhook"]

__all__ = ["AccessDecision", "Channel", "Grant"]
