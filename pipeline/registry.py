"""Solution registry: pipeline names → package, config per profile and ``--set`` overrides.

Names: ``unet`` (watershed U-Net), ``unet-baseline`` (the study's U-Net) and
``maskrcnn-<backbone>`` for any backbone of ``common.backbones`` (resnet50, resnet101,
mobilenet, mobilenet_v2, densenet121, densenet169, densenet201).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common.paths import CONFIGS

__all__ = ["PROFILES", "DEFAULT_SOLUTIONS", "DEFAULT_FOLDS", "SolutionSpec", "get_solution",
           "parse_solutions", "UnknownSolution"]

PROFILES = ("demo", "full")
DEFAULT_SOLUTIONS = {
    "demo": ("unet", "unet-baseline", "maskrcnn-mobilenet"),
    "full": ("unet", "unet-baseline", "maskrcnn-mobilenet", "maskrcnn-resnet50",
             "maskrcnn-resnet101", "maskrcnn-densenet201"),
}
DEFAULT_FOLDS = {"demo": 2, "full": 5}
MASKRCNN_BACKBONES = ("resnet50", "resnet101", "mobilenet", "mobilenet_v2", "densenet121",
                      "densenet169", "densenet201")


class UnknownSolution(ValueError):
    """A solution name the registry does not know."""


@dataclass(frozen=True)
class SolutionSpec:
    """How the pipeline trains and predicts one solution.

    Attributes:
        name: Pipeline name, also the predictions folder name.
        package: ``solutions.<package>`` provides ``train`` and ``predict``.
        configs: profile -> YAML config.
        overrides: ``--set`` items always passed (e.g. the backbone).
        n_folds_key: Config key of the number of folds (must match ``folds.csv``).
        tiny: ``--set`` items for ``--tiny`` runs (1 epoch of 1-2 steps, small inputs).
    """

    name: str
    package: str
    configs: dict[str, Path]
    overrides: tuple[str, ...] = ()
    n_folds_key: str = "n_folds"
    tiny: tuple[str, ...] = field(default=())

    def config(self, profile: str) -> Path:
        if profile not in self.configs:
            raise UnknownSolution(f"{self.name}: no config for profile {profile!r}")
        return self.configs[profile]

    def train_module(self) -> str:
        return f"solutions.{self.package}.train"

    def predict_module(self) -> str:
        return f"solutions.{self.package}.predict"

    def set_items(self, profile: str, n_folds: int, tiny: bool = False,
                  extra: tuple[str, ...] = ()) -> list[str]:
        """All ``--set`` items for a training run."""
        items = list(self.overrides) + [f"{self.n_folds_key}={n_folds}"]
        if tiny:
            items += list(self.tiny)
        return items + list(extra)

    @staticmethod
    def set_args(items: list[str]) -> list[str]:
        """``--set`` arguments for a solution CLI (``common.cli``: ``--set a=1 b=2``)."""
        return ["--set", *items] if items else []


_UNET = CONFIGS["unet"]
_MRCNN = CONFIGS["maskrcnn"]


def get_solution(name: str) -> SolutionSpec:
    """The spec of a solution name.

    Raises:
        UnknownSolution: naming the known names.
    """
    if name == "unet":
        return SolutionSpec(
            "unet", "unet", {"demo": _UNET / "demo.yaml", "full": _UNET / "watershed.yaml"},
            overrides=("solution=unet",),
            tiny=("train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=2",
                  "data.crop_size=64", "model.depth=3"))
    if name == "unet-baseline":
        return SolutionSpec(
            "unet-baseline", "unet",
            {"demo": _UNET / "demo_baseline.yaml", "full": _UNET / "baseline.yaml"},
            overrides=("solution=unet-baseline",),
            tiny=("train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=2",
                  "data.input_size=64"))
    if name.startswith("maskrcnn-"):
        backbone = name[len("maskrcnn-"):]
        if backbone not in MASKRCNN_BACKBONES:
            raise UnknownSolution(f"unknown Mask R-CNN backbone {backbone!r} in {name!r}; "
                                  f"known: {', '.join(MASKRCNN_BACKBONES)}")
        return SolutionSpec(
            name, "maskrcnn",
            {"demo": _MRCNN / "demo.yaml", "full": _MRCNN / f"{backbone}.yaml"},
            overrides=(f"model.backbone={backbone}",),
            n_folds_key="train.n_folds",
            tiny=("train.heads_epochs=1", "train.all_epochs=0", "train.steps_per_epoch=2",
                  "train.val_steps=1", "train.crop_size=64", "train.batch_size=1"))
    raise UnknownSolution(f"unknown solution {name!r}; known: unet, unet-baseline, "
                          f"maskrcnn-<backbone> with backbone in {', '.join(MASKRCNN_BACKBONES)}")


def parse_solutions(text: str | None, profile: str) -> list[SolutionSpec]:
    """Specs for a comma list (default: the profile's solutions), in the given order."""
    names = [s.strip() for s in text.split(",") if s.strip()] if text else DEFAULT_SOLUTIONS[profile]
    specs, seen = [], set()
    for name in names:
        if name not in seen:
            specs.append(get_solution(name))
            seen.add(name)
    if not specs:
        raise UnknownSolution("no solutions selected")
    return specs
