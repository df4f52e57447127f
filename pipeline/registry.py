"""Solution registry: a lookup over what each solution package declares in its presets.

Every package ``solutions/<pkg>/`` with a ``presets.py`` (plain data, no Keras import; the
keys are in ``docs/CONTRACTS.md``) is a solution family: its ``PRESETS`` name the pipeline
solutions it provides (a family may generate one per backbone of
``common.backbone_presets``), their configs per profile, ``--set`` overrides,
``--tiny`` items and whether they tune on OOF; its ``CONFIG_CLASS`` names the config
dataclass, which keeps ``seed``, ``n_folds`` and ``solution`` at its top level. The package
provides ``train`` and ``predict`` modules with the CLI of ``docs/CONTRACTS.md``.

Adding a solution is one new package plus its presets: nothing in ``pipeline/`` changes.
Packages outside ``solutions/`` (e.g. a user's, or a test's) are added by naming their
presets modules in ``DSB_SOLUTION_PRESETS`` (comma list of importable module names).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

__all__ = ["PROFILES", "DEFAULT_FOLDS", "SolutionSpec", "UnknownSolution", "all_solutions",
           "default_solutions", "get_solution", "parse_solutions"]

PROFILES = ("demo", "full")
DEFAULT_FOLDS = {"demo": 2, "full": 5}
PRESETS_ENV = "DSB_SOLUTION_PRESETS"


class UnknownSolution(ValueError):
    """A solution name the registry does not know, or a malformed presets module."""


@dataclass(frozen=True)
class SolutionSpec:
    """How the pipeline trains and predicts one solution.

    Attributes:
        name: Pipeline name, also the predictions folder name.
        package: Importable package providing ``train`` and ``predict`` (e.g.
            ``solutions.<pkg>``); ``family`` is its last component (``<pkg>``), which
            ``--set family:key=value`` targets.
        configs: profile -> YAML config.
        overrides: ``--set`` items always passed (e.g. the backbone).
        tiny: ``--set`` items for ``--tiny`` runs (1 epoch of 1-2 steps, small inputs).
        tune_key: Config key that makes OOF prediction tune ``thresholds.json`` (or None).
        default_in: Profiles whose default solution list includes it.
        order: Its place in those lists.
        config_class_path: ``"module:Class"`` of its config dataclass (presets' ``CONFIG_CLASS``).
    """

    name: str
    package: str
    configs: dict[str, Path]
    overrides: tuple[str, ...] = ()
    tiny: tuple[str, ...] = field(default=())
    tune_key: str | None = None
    default_in: tuple[str, ...] = ()
    order: int = 100
    config_class_path: str = ""

    @property
    def family(self) -> str:
        return self.package.rsplit(".", 1)[-1]

    def config(self, profile: str) -> Path:
        if profile not in self.configs:
            raise UnknownSolution(f"{self.name}: no config for profile {profile!r}")
        return self.configs[profile]

    def config_class(self) -> type:
        """The config dataclass (presets' ``CONFIG_CLASS``, imported without Keras)."""
        module, _, name = self.config_class_path.partition(":")
        if not module or not name:
            raise UnknownSolution(f"{self.name}: its presets declare no CONFIG_CLASS ('module:Class')")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise UnknownSolution(f"{self.name}: CONFIG_CLASS {self.config_class_path!r} cannot "
                                  f"be imported ({exc})") from exc

    def train_module(self) -> str:
        return f"{self.package}.train"

    def predict_module(self) -> str:
        return f"{self.package}.predict"

    def set_items(self, profile: str, n_folds: int, tiny: bool = False,
                  extra: tuple[str, ...] = ()) -> list[str]:
        """All ``--set`` items for a training run."""
        items = list(self.overrides) + [f"n_folds={n_folds}"]  # every config has it at top level
        if tiny:
            items += list(self.tiny)
        return items + list(extra)

    @staticmethod
    def set_args(items: list[str]) -> list[str]:
        """``--set`` arguments for a solution CLI (``common.cli``: ``--set a=1 b=2``)."""
        return ["--set", *items] if items else []


def _presets_modules() -> list[ModuleType]:
    """The presets module of every package under ``solutions/``, then ``DSB_SOLUTION_PRESETS``."""
    import solutions

    names = [f"solutions.{m.name}.presets" for m in pkgutil.iter_modules(solutions.__path__)
             if m.ispkg and (Path(solutions.__path__[0]) / m.name / "presets.py").is_file()]
    names += [n.strip() for n in os.environ.get(PRESETS_ENV, "").split(",") if n.strip()]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise UnknownSolution(f"cannot import solution presets {name!r}: {exc}") from exc
    return modules


def _specs_of(module: ModuleType) -> list[SolutionSpec]:
    where = module.__file__ or module.__name__
    presets = getattr(module, "PRESETS", None)
    if not isinstance(presets, dict):
        raise UnknownSolution(f"{where}: no PRESETS dict")
    package = module.__name__.rsplit(".", 1)[0]
    configs_dir = Path(where).resolve().parent / "configs"
    specs = []
    for name, p in presets.items():
        try:
            specs.append(SolutionSpec(
                name, package, {k: configs_dir / v for k, v in p["configs"].items()},
                overrides=tuple(p.get("overrides", ())),
                tiny=tuple(p.get("tiny", ())), tune_key=p.get("tune_key"),
                default_in=tuple(p.get("default_in", ())), order=int(p.get("order", 100)),
                config_class_path=getattr(module, "CONFIG_CLASS", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UnknownSolution(f"{where}: preset {name!r} is malformed ({exc!r})") from exc
    return specs


@lru_cache(maxsize=4)
def _registry(extra: str) -> dict[str, SolutionSpec]:
    out: dict[str, SolutionSpec] = {}
    for module in _presets_modules():
        for spec in _specs_of(module):
            if spec.name in out:
                raise UnknownSolution(f"solution {spec.name!r} is declared by both "
                                      f"{out[spec.name].package} and {spec.package}")
            out[spec.name] = spec
    return out


def all_solutions() -> dict[str, SolutionSpec]:
    """name -> spec of every declared solution."""
    return dict(_registry(os.environ.get(PRESETS_ENV, "")))


def default_solutions(profile: str) -> list[str]:
    """The profile's default solution names, in their declared order."""
    specs = [s for s in all_solutions().values() if profile in s.default_in]
    return [s.name for s in sorted(specs, key=lambda s: (s.order, s.name))]


def get_solution(name: str) -> SolutionSpec:
    """The spec of a solution name.

    Raises:
        UnknownSolution: naming the known names.
    """
    known = all_solutions()
    if name not in known:
        raise UnknownSolution(f"unknown solution {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def parse_solutions(text: str | None, profile: str) -> list[SolutionSpec]:
    """Specs for a comma list (default: the profile's solutions), in the given order."""
    names = [s.strip() for s in text.split(",") if s.strip()] if text else default_solutions(profile)
    specs, seen = [], set()
    for name in names:
        if name not in seen:
            specs.append(get_solution(name))
            seen.add(name)
    if not specs:
        raise UnknownSolution("no solutions selected")
    return specs
