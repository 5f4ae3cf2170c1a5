"""The SmoothGrad settings: one object, built and checked from the config's ``saliency`` section,
handed to jobs as one canonical JSON string (no torch here, so the Snakefile and the analysis
environment can use it).

Meaning of the fields (see :mod:`blurfocus.smoothgrad` for the engine):

- ``n_samples`` noisy copies per map; ``sigma`` the noise std as a fraction of a range:
  ``sigma_range: image`` = max − min of the **clear** version of the image (so every map of one
  image, blurred or not, of any model and draw, gets the same absolute σ), ``space`` = the
  [0, 1] pixel range (σ = ``sigma`` for every image).
- ``target``, ``mode``, ``reduce``, ``seed``, ``batch_size`` (noisy samples per forward/backward),
  ``precision`` (fp32 or bf16 autocast).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .jobsettings import JobSettings

MODES = ("smoothgrad", "smoothgrad_sq", "vargrad")
REDUCTIONS = ("abs_sum", "sum", "abs_max", "l2")
TARGETS = ("both", "predicted", "label")
SIGMA_RANGES = ("image", "space")
PRECISIONS = ("fp32", "bf16")
NOISE_SPACE = "pixel space [0, 1], added before mean/std normalization"
SIGMA_REFERENCES = {
    "image": "clear image range: sigma * (max - min) of the clear version of each image, for every model, variant and draw",
    "space": "[0, 1] pixel range: sigma for every image",
}


@dataclass(frozen=True)
class SmoothGradSettings(JobSettings):
    """SmoothGrad parameters (see the module docstring for their meaning)."""

    LABEL: ClassVar[str] = "SmoothGrad settings"
    BUILD: ClassVar[str] = "SmoothGradSettings.from_config(config['saliency']).to_json()"

    n_samples: int = 25
    sigma: float = 0.15
    sigma_range: str = "image"
    target: str = "both"
    mode: str = "smoothgrad"
    reduce: str = "abs_sum"
    seed: int = 0
    batch_size: int = 64
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name, kind in (("n_samples", int), ("seed", int), ("batch_size", int), ("sigma", (int, float))):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"saliency.{name}: {value!r} is not a number")
        if self.n_samples < 1:
            raise ValueError(f"saliency.n_samples: {self.n_samples} must be >= 1")
        if self.batch_size < 1:
            raise ValueError(f"saliency.batch_size: {self.batch_size} must be >= 1")
        if not self.sigma > 0:
            raise ValueError(f"saliency.sigma: {self.sigma} must be > 0")
        for name, value, allowed in (
            ("mode", self.mode, MODES),
            ("reduce", self.reduce, REDUCTIONS),
            ("target", self.target, TARGETS),
            ("sigma_range", self.sigma_range, SIGMA_RANGES),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in allowed:
                raise ValueError(f"saliency.{name}: {value!r} not one of {', '.join(allowed)}")

    @property
    def sigma_reference(self) -> str:
        """What ``sigma`` is a fraction of, in words (recorded in the map files' metadata)."""
        return SIGMA_REFERENCES[self.sigma_range]

    def metadata(self) -> dict[str, Any]:
        """The settings plus where the noise lives and what σ refers to (for file metadata)."""
        return {**asdict(self), "noise_space": NOISE_SPACE, "sigma_reference": self.sigma_reference}
