"""Settings objects handed to jobs as one canonical JSON string (a stable Snakemake param, one
per concern): the shared round trip of :class:`blurfocus.smoothgrad_settings.SmoothGradSettings`
and :class:`blurfocus.train_settings.TrainSettings`. No torch here."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, ClassVar, Mapping, TypeVar

T = TypeVar("T", bound="JobSettings")


class JobSettings:
    """Mixin for a settings dataclass: :meth:`from_config`, :meth:`to_json` and its inverse
    :meth:`from_json`.

    ``LABEL`` names the settings in errors; ``BUILD`` says how a Snakefile builds them."""

    LABEL: ClassVar[str] = "settings"
    BUILD: ClassVar[str] = ""

    @classmethod
    def from_config(cls: type[T], section: Mapping[str, Any], **overrides: Any) -> T:
        """The settings from a config section (its keys that are not fields, e.g. ``topk`` of
        ``saliency`` or ``seeds`` of ``training``, are ignored; missing ones take the defaults),
        then ``overrides`` (fields only)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(f"{cls.LABEL}: unknown overrides {sorted(unknown)}")
        return cls(**{**{k: v for k, v in section.items() if k in names}, **overrides})

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): a stable Snakemake param."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Inverse of :meth:`to_json`; a clear error for anything else."""
        try:
            raw = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{cls.LABEL}: not JSON ({exc}): {text!r:.200}") from None
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if not isinstance(raw, dict) or set(raw) != names:
            got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(f"{cls.LABEL}: expected the keys {sorted(names)}, got {got}; build them with {cls.BUILD}")
        return cls(**raw)
