"""The fine-tuning settings of one model: one object, built from the config's ``training``
section and the model's stream seed, handed to the training job as one canonical JSON string (no
torch here, so the Snakefile can build it; :mod:`blurfocus.train` runs it).

Fields: ``epochs``; ``batch_size`` (images per optimizer step); ``optimizer`` (adam, adamw,
sgd), ``lr``, ``momentum`` (sgd only), ``weight_decay``; ``seed`` (the model's stream seed: data
order, dropout, flips; :func:`blurfocus.seeding.training_seeds`); ``keep`` (``best``: the epoch
with the highest validation accuracy, or ``last``); ``hflip`` (random horizontal flips).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from .jobsettings import JobSettings


@dataclass
class TrainSettings(JobSettings):
    """Fine-tuning settings of one model (see the module docstring)."""

    LABEL: ClassVar[str] = "training settings"
    BUILD: ClassVar[str] = "TrainSettings.from_config(config['training'], seed).to_json()"

    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    seed: int
    keep: str = "best"
    hflip: bool = False

    def key(self, extra: dict[str, Any] | None = None) -> str:
        """Hash of the settings (plus ``extra``) that a resume file must match."""
        blob = json.dumps({**self.__dict__, **(extra or {})}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_config(cls, section: Mapping[str, Any], seed: int, **overrides: Any) -> TrainSettings:  # type: ignore[override]
        """The settings of one model from the config's ``training`` section (its other keys, e.g.
        ``seeds``, ``design``, are not per-model settings), its stream ``seed``, and
        ``overrides`` (e.g. the data-randomization model's ``epochs``, ``keep``)."""
        if "seed" in overrides:
            raise ValueError(f"{cls.LABEL}: unknown overrides ['seed'] (the stream seed is the seed argument)")
        return super().from_config(section, **overrides, seed=int(seed))
