"""The conformance runner (shared/spec/conformance.md): replay vector files through the public API.

    python -m meshauthz.conformance VECTORS.yaml [VECTORS.yaml ...]

One JSON object per vector on stdout, in file order. The runner never reads a vector's `expect`,
`error`, `reason`, `note`, `basis` or `source` (conformance.md rule 2): `strip_answers` removes them
before a handler sees the vector, so no handler can peek.
"""

from .runner import main, run_file, strip_answers

__all__ = ["main", "run_file", "strip_answers"]
