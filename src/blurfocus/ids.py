"""Names of models and comparisons: built and parsed here, nowhere else.

- A **model id** is ``<arm>-s<replicate>`` (``naive-s0``, ``expert-s3``): the arm (training
  condition) and the replicate index (the ``training.seeds`` entry; each replicate's training
  randomness is derived from it, see :func:`blurfocus.seeding.training_seeds`).
- A **comparison** of two focus sets has one of these names:

  ================================  ==========================================================
  ``<arm>:clear-vs-<b>``             shift: one model, clear vs blurred image (draw 0 both)
  ``<v>:<arm1>-vs-<arm2>``           between arms: first replicates of two arms on variant v
  ``<arm>:<v>:draw<a>-vs-draw<b>``   SmoothGrad noise floor: one model, two noise draws
  ``<v>:<arm>-s<i>-vs-<arm>-s<j>``   training-seed replicates of one arm on variant v
  ``<v>:<arm>-s<i>@draw<d>-vs-...``  the same pair with the first model's map from draw d
  ================================  ==========================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ARM_PATTERN = r"[A-Za-z][A-Za-z0-9_]*"
_MODEL = re.compile(rf"^({ARM_PATTERN})-s(\d+)$")
_DRAW_MODEL = re.compile(rf"^({ARM_PATTERN})-s(\d+)(?:@draw(\d+))?$")
CLEAR = "clear"
NAIVE, EXPERT = "naive", "expert"
SHUFFLED = "shuffled"  # the permuted-label model of the data-randomization check (not a training arm)


def model_id(arm: str, replicate: int) -> str:
    """``naive``, 0 -> ``naive-s0``."""
    if not re.fullmatch(ARM_PATTERN, arm):
        raise ValueError(f"arm name {arm!r}: use letters, digits and _ (starting with a letter)")
    return f"{arm}-s{int(replicate)}"


def parse_model_id(model: str) -> tuple[str, int]:
    """``naive-s0`` -> (``naive``, 0); ValueError for anything else."""
    m = _MODEL.match(model)
    if not m:
        raise ValueError(f"{model!r} is not a model id (<arm>-s<replicate>, e.g. naive-s0)")
    return m.group(1), int(m.group(2))


def shift_name(arm: str, variant: str) -> str:
    """One model's focus, clear vs ``variant``: ``naive:clear-vs-blur``."""
    return f"{arm}:{CLEAR}-vs-{variant}"


def between_name(variant: str, arm_a: str = NAIVE, arm_b: str = EXPERT) -> str:
    """Two arms' focus on ``variant``: ``blur:naive-vs-expert``."""
    return f"{variant}:{arm_a}-vs-{arm_b}"


def noise_name(arm: str, variant: str, a: int, b: int) -> str:
    """SmoothGrad noise floor: ``naive:blur:draw0-vs-draw1``."""
    return f"{arm}:{variant}:draw{a}-vs-draw{b}"


def seed_name(variant: str, arm: str, s1: int, s2: int) -> str:
    """Two replicates of one arm: ``clear:naive-s0-vs-naive-s1``."""
    return f"{variant}:{model_id(arm, s1)}-vs-{model_id(arm, s2)}"


def seed_draw_name(variant: str, arm: str, s1: int, s2: int, draw: int) -> str:
    """Two replicates, the first one's map from ``draw``: ``clear:naive-s0@draw1-vs-naive-s1``."""
    return f"{variant}:{model_id(arm, s1)}@draw{draw}-vs-{model_id(arm, s2)}"


@dataclass(frozen=True)
class ComparisonName:
    """A parsed comparison name; ``kind`` is shift | between | noise_floor | seed_replicate."""

    kind: str
    variant: str  # the variant both sides share (shift: the blurred side)
    arm_a: str
    arm_b: str
    replicate_a: int | None = None
    replicate_b: int | None = None
    draw_a: int = 0
    draw_b: int = 0


def parse_comparison(name: str) -> ComparisonName:
    """Inverse of the ``*_name`` builders; ValueError for an unknown form."""
    parts = name.split(":")
    if len(parts) == 3:
        arm, variant, draws = parts
        m = re.fullmatch(r"draw(\d+)-vs-draw(\d+)", draws)
        if m:
            return ComparisonName("noise_floor", variant, arm, arm, None, None, int(m.group(1)), int(m.group(2)))
    if len(parts) == 2:
        left, right = parts
        if right.startswith(f"{CLEAR}-vs-") and re.fullmatch(ARM_PATTERN, left):
            return ComparisonName("shift", right[len(CLEAR) + 4 :], left, left)
        sides = right.split("-vs-")
        if len(sides) == 2:
            a, b = (_DRAW_MODEL.match(s) for s in sides)
            if a and b and a.group(1) == b.group(1):
                return ComparisonName("seed_replicate", left, a.group(1), b.group(1), int(a.group(2)),
                                      int(b.group(2)), int(a.group(3) or 0), int(b.group(3) or 0))
            if all(re.fullmatch(ARM_PATTERN, s) for s in sides):
                return ComparisonName("between", left, sides[0], sides[1])
    raise ValueError(f"{name!r} is not a comparison name (see blurfocus.ids)")
