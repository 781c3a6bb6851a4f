"""``--verify-diagnostics``: check the errors Tritium reports against annotations in the input.

    // expected-error @+1 {{contraction dimensions differ}}
    %0 = nn.matmul %a, %b : ...

An annotation matches a reported error on its line (``@+N``/``@-N``: N lines below/above) whose
message contains the text in braces. Every annotation must be matched and every error expected.
"""

from __future__ import annotations

import re
import sys

from tritium.ir.diagnostics import ParseError, TritiumError
from tritium.ir.parser import parse_ir
from tritium.ir.verifier import verify_all

_EXPECT = re.compile(r"//\s*expected-error\s*(@[+-]\d+)?\s*\{\{(.*?)\}\}")


def expectations(text: str) -> list[tuple[int, str]]:
    out = []
    for i, line in enumerate(text.split("\n"), start=1):
        for m in _EXPECT.finditer(line):
            offset = int(m.group(1)[1:]) if m.group(1) else 0
            out.append((i + offset, m.group(2)))
    return out


def collect(chunk: str, name: str, pipeline: str) -> list[tuple[int | None, str]]:
    """(line, message) of each error that parsing, verifying and the pipeline report."""
    try:
        module = parse_ir(chunk, name)
    except ParseError as e:
        return [(e.line, e.message)]
    errors = verify_all(module)
    if errors:
        return [(e.line, e.message) for e in errors]
    if pipeline:
        from tritium.passes import PassManager

        try:
            PassManager(pipeline).run(module)
        except TritiumError as e:
            cause = e.__cause__
            line = getattr(cause, "line", None)
            return [(line, str(e))]
    return []


def check_expected_diagnostics(text: str, name: str, pipeline: str, split: bool) -> int:
    from tritium.cli.opt import split_chunks

    failures: list[str] = []
    for chunk in split_chunks(text) if split else [text]:
        expected = expectations(chunk)
        found = collect(chunk, name, pipeline)
        unmatched = list(found)
        for line, msg in expected:
            hit = next((d for d in unmatched if d[0] == line and msg in d[1]), None)
            if hit is None:
                failures.append(f"{name}:{line}: expected error not produced: {msg}")
            else:
                unmatched.remove(hit)
        for line, msg in unmatched:
            failures.append(f"{name}:{line if line is not None else '?'}: unexpected error: {msg}")
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0
