"""Imports follow the data flow: no module imports a later stage (ast over the whole package,
function-level imports included), and metrics never import the pipeline or a system."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vidscore"
#: stages in data-flow order; a module may import its own stage and earlier ones only
STAGES = [
    ("errors", "outputs", "types", "hub", "tables", "version"),
    ("video", "audio"),  # decoding and the sound that streams beside it
    ("features",),
    ("music",),
    ("data",),
    ("curves",),  # control curves from music and from video: after both, below every model
    ("modules",),  # network parts and checkpoint I/O
    ("metrics",),  # pure functions over scores, audio and features: below every system
    ("soundtrack",),
    ("systems",),
    ("render",),
    ("cues",),
    ("pipeline",),
    ("batch", "evaluation", "serve"),  # above the pipeline: its batch, measures and web app
    ("cli", "__main__"),
]
RANK = {name: i for i, names in enumerate(STAGES) for name in names}


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file()


def imports() -> list[tuple[str, str]]:
    """(importing module, imported vidscore module) for every import in the package."""
    arrows = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "vidscore":
                # a submodule by the facade's syntax, or a name of the facade itself
                names = [
                    f"vidscore.{a.name}" if is_module(a.name) else "vidscore.__init__"
                    for a in node.names
                ]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            arrows += [(module, n) for n in names if n.startswith("vidscore.")]
    return arrows


def test_every_stage_is_known():
    stages = {stage_of(m) for m, _ in imports()} | {stage_of(n) for _, n in imports()}
    assert stages - {"__init__"} <= set(RANK), sorted(stages - set(RANK))


def test_no_module_imports_a_later_stage():
    backwards = [
        (m, n)
        for m, n in imports()
        if "__init__" not in (stage_of(m), stage_of(n)) and RANK[stage_of(n)] > RANK[stage_of(m)]
    ]
    assert not backwards, backwards


def test_nothing_inside_imports_the_public_facade():
    # vidscore/__init__.py is the API for users; it imports the pipeline, so a stage that read
    # it would reach forward
    assert not [(m, n) for m, n in imports() if n == "vidscore.__init__" and m != "vidscore"]
