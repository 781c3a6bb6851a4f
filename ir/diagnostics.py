"""Errors that point at the user's text or the user's node.

A `Source` is a named text (a file being parsed). Positions are character offsets into it, turned into
``file:line:col`` with the source line and a caret only when an error is shown. Ops parsed from text
remember their offset (``op.src``), so verifier errors point at the line too; every op error also names
the op and its location (``loc("conv1")``: the user's node name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tritium.ir.core import Operation


@dataclass(eq=False)
class Source:
    text: str
    filename: str = "<string>"

    def line_col(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        start = self.text.rfind("\n", 0, pos) + 1
        return line, pos - start + 1

    def snippet(self, pos: int) -> str:
        """The source line holding ``pos`` and a caret under it."""
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        line = self.text[start : end if end >= 0 else len(self.text)]
        return f"{line}\n{' ' * (pos - start)}^"

    def where(self, pos: int) -> str:
        line, col = self.line_col(pos)
        return f"{self.filename}:{line}:{col}"


class TritiumError(Exception):
    """Base of all errors Tritium raises on bad input."""


class ParseError(TritiumError):
    def __init__(self, source: Source, pos: int, message: str) -> None:
        self.source, self.pos, self.message = source, pos, message
        super().__init__(f"{source.where(pos)}: error: {message}\n{source.snippet(pos)}")

    @property
    def line(self) -> int:
        return self.source.line_col(self.pos)[0]


class VerifyError(TritiumError):
    """An op breaks a rule. The message names the op, its location and the rule."""

    def __init__(self, op: Operation, message: str, notes: list[str] | None = None) -> None:
        self.op, self.message, self.notes = op, message, notes or []
        super().__init__(self._format())

    @property
    def line(self) -> int | None:
        src = getattr(self.op, "src", None)
        if src is None:
            return None
        return src[0].line_col(src[1])[0]

    def _format(self) -> str:
        src = getattr(self.op, "src", None)
        head = f"{src[0].where(src[1])}: " if src is not None else ""
        text = f"{head}error: {self.op.describe()}: {self.message}"
        if src is not None:
            text += "\n" + src[0].snippet(src[1])
        for n in self.notes:
            text += f"\nnote: {n}"
        return text
