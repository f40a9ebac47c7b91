"""Where the project's data lives: ``configs/`` beside the package, runs under ``runs/``."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "configs"
FAMILY_DIR = CONFIG_DIR / "families"
VALIDATION_DIR = CONFIG_DIR / "validation"
RUNS_DIR = Path("runs")  # outputs: relative to the working directory, like any output path


def resolve_project_path(path: str | Path) -> Path:
    """A path from a shipped config (``configs/ladder.yaml``): absolute, or relative to the
    project root, so it means the same file from any working directory."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate
