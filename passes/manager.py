"""The pass manager: runs a pipeline with verification and instrumentation (MLIR's PassManager).

- verifies the input and the IR after every pass (``verify_each``, on by default);
- prints the IR before/after every pass, after the passes that changed it, or after a failure;
- times each pass and collects the statistics passes return;
- on failure writes a reproducer (the IR before the failing pass, and the pipeline from it on) and
  raises `PassError`, naming the pass and its position.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tritium.ir.core import mutation_count
from tritium.ir.diagnostics import TritiumError, VerifyError
from tritium.ir.modulefile import weights_path
from tritium.ir.printer import print_ir
from tritium.ir.verifier import verify
from tritium.ir.weights import save_tensors
from tritium.passes.base import Pass, parse_pipeline, pipeline_text


class PassError(TritiumError):
    def __init__(self, message: str, reproducer: Path | None = None) -> None:
        self.reproducer = reproducer
        if reproducer is not None:
            message += f"\nreproducer written to {reproducer} (run: tritium opt {reproducer})"
        super().__init__(message)


@dataclass
class PassRecord:
    name: str
    seconds: float
    changed: bool
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class PipelineReport:
    records: list[PassRecord] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def timing_table(self) -> str:
        total = self.total_seconds or 1e-12
        lines = [
            "===-------------------------------------------------------------------------===",
            "                         ... Pass execution timing report ...",
            "===-------------------------------------------------------------------------===",
            f"  Total Execution Time: {self.total_seconds:.4f} seconds",
            "",
            "  ----Wall Time----  ----Name----",
        ]
        for r in self.records:
            lines.append(f"  {r.seconds:8.4f} ({100 * r.seconds / total:5.1f}%)  {r.name}")
        lines.append(f"  {self.total_seconds:8.4f} (100.0%)  Total")
        return "\n".join(lines)

    def statistics(self) -> str:
        lines = []
        for r in self.records:
            if r.stats:
                lines.append(f"'{r.name}'")
                for k, v in sorted(r.stats.items()):
                    lines.append(f"  {v:8d} {k}")
        return "\n".join(lines)


class PassManager:
    def __init__(
        self,
        pipeline: str | list[Pass],
        *,
        verify_each: bool = True,
        print_before_all: bool = False,
        print_after_all: bool = False,
        print_after_change: bool = False,
        print_after_failure: bool = False,
        reproducer: str | Path | None = None,
        out: TextIO | None = None,
        print_generic: bool = False,
    ) -> None:
        self.passes = parse_pipeline(pipeline) if isinstance(pipeline, str) else list(pipeline)
        self.verify_each = verify_each
        self.print_before_all = print_before_all
        self.print_after_all = print_after_all
        self.print_after_change = print_after_change
        self.print_after_failure = print_after_failure
        self.reproducer = Path(reproducer) if reproducer is not None else None
        self.out = out
        self.print_generic = print_generic

    @property
    def pipeline(self) -> str:
        return pipeline_text(self.passes)

    def _dump(self, module: Any, header: str) -> None:
        out = self.out or sys.stderr
        out.write(f"// -----// IR Dump {header} //----- //\n")
        out.write(print_ir(module, generic=self.print_generic))
        out.write("\n")

    def run(self, module: Any) -> PipelineReport:
        report = PipelineReport()
        if self.verify_each:
            try:
                verify(module)
            except VerifyError as e:
                raise PassError(f"the input IR is invalid, before any pass:\n{e}") from e
        for i, p in enumerate(self.passes):
            label = f"{p} (#{i + 1} of {len(self.passes)})"
            if self.print_before_all:
                self._dump(module, f"Before {label}")
            snapshot = print_ir(module) if self.reproducer is not None else None
            before = mutation_count()
            t0 = time.perf_counter()
            try:
                stats = p.run(module) or {}
            except Exception as e:
                if self.print_after_failure:
                    self._dump(module, f"After Failure {label}")
                path = self._write_reproducer(module, snapshot, i)
                detail = str(e) if isinstance(e, TritiumError) else f"{type(e).__name__}: {e}"
                raise PassError(
                    f"pass '{p.name}' (#{i + 1} of pipeline '{self.pipeline}') failed:\n{detail}", path
                ) from e
            seconds = time.perf_counter() - t0
            changed = mutation_count() != before
            report.records.append(PassRecord(str(p), seconds, changed, dict(stats)))
            if self.verify_each and changed:
                try:
                    verify(module)
                except VerifyError as e:
                    if self.print_after_failure:
                        self._dump(module, f"After Failure {label}")
                    path = self._write_reproducer(module, snapshot, i)
                    raise PassError(
                        f"pass '{p.name}' (#{i + 1} of pipeline '{self.pipeline}') left invalid IR:\n{e}",
                        path,
                    ) from e
            if self.print_after_all or (self.print_after_change and changed):
                self._dump(module, f"After {label}")
        return report

    def _write_reproducer(self, module: Any, snapshot: str | None, index: int) -> Path | None:
        """The IR before the failing pass, with the rest of the pipeline in a header comment that
        ``tritium opt`` reads when given no ``-p``; weights go beside it as for any module file."""
        if self.reproducer is None or snapshot is None:
            return None
        rest = pipeline_text(self.passes[index:])
        self.reproducer.write_text(
            f"// configuration: -p '{rest}'\n// Reproducer: the IR before the failing pass.\n" + snapshot
        )
        if getattr(module, "resources", None):
            save_tensors(weights_path(self.reproducer), module.resources)
        return self.reproducer


def run_pipeline(module: Any, pipeline: str | list[Pass], **kwargs: Any) -> PipelineReport:
    return PassManager(pipeline, **kwargs).run(module)
