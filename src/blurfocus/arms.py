"""Training arms: the groups of K replicate models, each fine-tuned on one variant's images.

``blur.train`` in the config names them. Two forms:

- a variant name (the original study): arms ``naive`` (clear images) and ``expert`` (that variant);
- a list whose entries are a variant name, ``clear``, or ``{arm: <name>, variant: <variant>}``.
  ``clear`` is the arm ``naive``; the first blurred entry without a name is ``expert`` (the
  study's expert, whose comparisons with ``naive`` are the original analysis) unless an entry is
  named ``expert``, every further one ``expert_<variant>``. ``naive`` is added first when the list has no clear entry: every
  comparison is made against it.

So ``train: blur`` and ``train: [clear, blur]`` give the same two arms, the same model ids and
the same outputs.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from . import ids


class ArmsError(ValueError):
    """``blur.train`` cannot be read; the message names the entry and what is allowed."""


def training_arms(train: Any, variants: Sequence[str]) -> dict[str, str]:
    """{arm name: training variant} in arm order (``naive`` first), from ``blur.train``.

    ``variants``: the defined blur variant names (``clear`` is always allowed). ``train`` None
    means the first variant. Raises :class:`ArmsError`.
    """
    names = list(variants)
    if train is None:
        if not names:
            raise ArmsError("blur.train: no blur variant is defined")
        train = names[0]
    entries = [train] if isinstance(train, str) else list(train)
    if isinstance(train, str) and train == ids.CLEAR:
        raise ArmsError("blur.train: 'clear' alone gives no expert; name the blurred variant the expert is trained on")
    arms: dict[str, str] = {}
    named_expert = any(isinstance(e, Mapping) and e.get("arm") == ids.EXPERT for e in entries)
    unnamed_blurred = 1 if named_expert else 0  # an entry named expert takes the name from the first unnamed one
    for i, entry in enumerate(entries):
        where = f"blur.train[{i}]" if not isinstance(train, str) else "blur.train"
        if isinstance(entry, str):
            arm, variant = None, entry
        elif isinstance(entry, Mapping) and set(entry) <= {"arm", "variant"} and "variant" in entry:
            arm, variant = entry.get("arm"), entry["variant"]
        else:
            raise ArmsError(f"{where}: {entry!r} is neither a variant name nor {{arm: <name>, variant: <variant>}}")
        if variant != ids.CLEAR and variant not in names:
            raise ArmsError(f"{where}: {variant!r} is not a defined blur variant (or clear); defined: {', '.join(names)}")
        if arm is None:
            if variant == ids.CLEAR:
                arm = ids.NAIVE
            else:
                arm = ids.EXPERT if unnamed_blurred == 0 else f"{ids.EXPERT}_{variant}"
                unnamed_blurred += 1
        if not isinstance(arm, str) or not re.fullmatch(ids.ARM_PATTERN, arm):
            raise ArmsError(f"{where}: arm name {arm!r}: use letters, digits and _ (starting with a letter)")
        if arm == ids.SHUFFLED:
            raise ArmsError(f"{where}: the arm name {arm!r} is taken by the sanity check's permuted-label model")
        if variant in arms.values():
            other = next(a for a, v in arms.items() if v == variant)
            raise ArmsError(f"{where}: {variant!r} already has an arm ({other}); arms differ only in their training "
                            "variant, so add replicates with training.seeds instead")
        if arm in arms:
            raise ArmsError(f"{where}: the arm {arm!r} is named twice; give each entry its own arm name")
        if arm == ids.NAIVE and variant != ids.CLEAR:
            raise ArmsError(f"{where}: 'naive' is the clear arm's name; name the arm trained on {variant!r} otherwise")
        if variant == ids.CLEAR and arm != ids.NAIVE:
            raise ArmsError(f"{where}: the clear arm is called 'naive' (the reference of every comparison)")
        arms[arm] = variant
    if ids.NAIVE not in arms:
        arms = {ids.NAIVE: ids.CLEAR, **arms}
    else:
        arms = {ids.NAIVE: arms.pop(ids.NAIVE), **arms}
    if ids.EXPERT not in arms:
        raise ArmsError("blur.train: no arm is called 'expert' (the study's expert, compared with naive in the original "
                        "analysis); name one blurred entry {arm: expert, variant: ...} or list a blurred variant first")
    if arms[ids.EXPERT] == ids.CLEAR:
        raise ArmsError("blur.train: the expert must be trained on a blurred variant, not clear")
    return arms


def blurred_arms(arms: Mapping[str, str]) -> list[str]:
    """The arms trained on a perturbed variant (every arm but ``naive``), in arm order."""
    return [a for a, v in arms.items() if v != ids.CLEAR]
