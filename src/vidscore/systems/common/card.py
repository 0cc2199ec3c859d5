"""The weight card written beside every set of trained weights, from the facts of the run.

Nothing on it is typed by hand: the model's real config and size come from the model objects,
the data from the loader, the metrics from the held-out evaluation, the command from the
command line (paths made relative, so no machine's layout leaks into a shipped card).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn


@dataclass(frozen=True)
class ModelFacts:
    """One trained model as the card states it."""

    file: str
    kind: str
    config: dict
    parameters: int
    sha256: str

    @classmethod
    def of(cls, file: str, kind: str, model: nn.Module, config: dict, sha256: str) -> ModelFacts:
        return cls(file, kind, config, sum(p.numel() for p in model.parameters()), sha256)


@dataclass
class WeightCard:
    """Everything a user of the weights should know (see the module docstring)."""

    title: str
    system: str
    data: str
    data_licence: str
    command: str
    models: list[ModelFacts]
    training: dict
    metrics_markdown: str
    intended_use: str
    limitations: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"# {self.title}",
            "",
            f"**System.** `{self.system}` (`vidscore compose --system {self.system}`).",
            "",
            f"**Data.** {self.data}",
            "",
            f"**Licence of the data.** {self.data_licence}",
            "",
            f"**Command.** `{self.command}`",
            "",
            "**Models.**",
            "",
            "| file | model | parameters | config |",
            "|---|---|---|---|",
        ]
        for m in self.models:
            cfg = ", ".join(f"{k} {v}" for k, v in m.config.items())
            lines.append(f"| `{m.file}` | {m.kind} | {m.parameters:,} | {cfg} |")
        train = ", ".join(f"{k} {v}" for k, v in self.training.items())
        lines += [
            "",
            f"**Training.** {train}.",
            "",
            "**Held-out metrics.**",
            "",
            self.metrics_markdown.rstrip(),
            "",
            f"**Intended use.** {self.intended_use}",
            "",
            "**Limitations.**",
            "",
            *[f"- {item}" for item in self.limitations],
            "",
            "**sha256** (checked on every load against `manifest.json`)",
            "",
            *[f"- `{m.file}`: `{m.sha256}`" for m in self.models],
            "",
        ]
        return "\n".join(lines)


def command_line(argv: list[str], cwd: str | os.PathLike | None = None) -> str:
    """``vidscore ARGS`` as typed, with every absolute path made relative to ``cwd``."""
    base = Path(cwd or os.getcwd())
    words = []
    for arg in argv:
        option, eq, value = arg.partition("=")
        if eq and option.startswith("--") and os.path.isabs(value):
            arg = f"{option}={os.path.relpath(value, base)}"
        elif os.path.isabs(arg):
            arg = os.path.relpath(arg, base)
        words.append(shlex.quote(arg))
    return " ".join(["vidscore", *words])
