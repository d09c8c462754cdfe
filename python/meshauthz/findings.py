"""Lint findings shared by the RBAC lint (L001-L013) and the traffic lint (T001-T011).

The two families keep their own severity words — RBAC: info / warn / high / critical; traffic:
info / warning / error — on one scale, so `--fail-on` means the same for both:

    info  <  warn = warning  <  high = error  <  critical

`to_sarif` renders findings as one SARIF 2.1.0 log (what code-scanning UIs read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

# Severity -> rank on the shared scale.
RANK = {"info": 0, "warn": 1, "warning": 1, "high": 2, "error": 2, "critical": 3}
ALL_SEVERITIES = ("info", "warn", "warning", "high", "error", "critical")
FAMILY_SEVERITIES = {
    "rbac": ("info", "warn", "high", "critical"),
    "traffic": ("info", "warning", "error"),
}
SARIF_LEVEL = {0: "note", 1: "warning", 2: "error", 3: "error"}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    resource: str
    file: str = "<objects>"
    line: Optional[int] = None
    path: str = ""
    document: Optional[int] = None  # 0-based document index in `file`

    @property
    def family(self) -> str:
        return "traffic" if self.code.startswith("T") else "rbac"

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return (
            f"{where}: {self.code} [{self.severity}] {self.resource}{' ' + self.path if self.path else ''}: "
            f"{self.message}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "resource": self.resource,
                "file": self.file, "document": self.document, "line": self.line, "path": self.path,
                "family": self.family}


def at_least(findings: Iterable[Finding], severity: str) -> list[Finding]:
    """Findings whose severity is `severity` or above on the shared scale."""
    floor = RANK[severity]
    return [f for f in findings if RANK[f.severity] >= floor]


def code_matches(code: str, patterns: Iterable[str]) -> bool:
    """`T001` matches `T001`, `T00`, `T` (a prefix), case-insensitively."""
    return any(code.upper().startswith(p.strip().upper()) for p in patterns if p.strip())


def select(findings: Iterable[Finding], select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Finding]:
    """`--select` keeps only matching codes (all when empty); `--ignore` then drops matching ones."""
    sel, ign = [s for s in select if s.strip()], [s for s in ignore if s.strip()]
    return [f for f in findings if (not sel or code_matches(f.code, sel)) and not code_matches(f.code, ign)]


def to_sarif(findings: list[Finding], rules: dict[str, tuple[str, str]], version: str) -> dict[str, Any]:
    """One SARIF 2.1.0 log; `rules` maps a code to (default severity, one-line description)."""
    used = sorted({f.code for f in findings} | set(rules))
    index = {c: i for i, c in enumerate(used)}
    rule_objs = []
    for c in used:
        sev, text = rules.get(c, ("warning", c))
        rule_objs.append({
            "id": c, "name": c, "shortDescription": {"text": text},
            "defaultConfiguration": {"level": SARIF_LEVEL[RANK.get(sev, 1)]},
            "properties": {"severity": sev},
        })
    results = []
    for f in findings:
        region: dict[str, Any] = {"startLine": f.line} if f.line else {}
        loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": f.file}}}
        if region:
            loc["physicalLocation"]["region"] = region
        loc["logicalLocations"] = [{"name": f.resource,
                                    "fullyQualifiedName": f.resource + (f" {f.path}" if f.path else "")}]
        results.append({
            "ruleId": f.code, "ruleIndex": index[f.code], "level": SARIF_LEVEL[RANK[f.severity]],
            "message": {"text": f"{f.resource}{' ' + f.path if f.path else ''}: {f.message}"},
            "locations": [loc],
            "properties": {"severity": f.severity, "document": f.document},
        })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "meshauthz", "version": version, "rules": rule_objs}},
            "results": results,
        }],
    }
