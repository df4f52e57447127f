"""``--set [TARGET:]KEY=VALUE`` items of ``run_all``: who gets which, checked before any work.

``key=value`` goes to every selected solution; ``TARGET:key=value`` to the solutions whose
name or family (the last name of their package) is ``TARGET``, or to the ensemble config
when ``TARGET`` is ``ensemble``. :func:`check_sets` loads every selected solution's config
(and the ensemble's) with its items, so a misspelt target, a key a solution does not
have, a wrong type or a YAML syntax error stops the run in well under 2 seconds, naming
the item and the solution, before any data is prepared or any model trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from common.config import ConfigError

__all__ = ["split_sets", "check_sets"]


def _parse(item: str) -> tuple[str | None, str]:
    head, sep, rest = item.partition(":")
    if sep and "=" not in head:
        return head, rest
    return None, item


def split_sets(items: Sequence[str], spec) -> list[str]:
    """The ``key=value`` items meant for ``spec`` (a ``SolutionSpec``; ``None``: the ensemble)."""
    out = []
    for item in items:
        target, kv = _parse(item)
        if spec is None:
            if target == "ensemble":
                out.append(kv)
        elif target is None or target in (spec.name, spec.family):
            out.append(kv)
    return out


def check_sets(items: Sequence[str], solutions: Sequence, profile: str, n_folds: int,
               tiny: bool = False, ensemble_config: Path | None = None) -> None:
    """Check every ``--set`` item against each selected solution's config class.

    Args:
        items: The ``--set`` items.
        solutions: The selected ``SolutionSpec`` list.
        profile: ``demo`` or ``full`` (which config file each solution uses).
        n_folds: Number of folds (passed like the train stage does).
        tiny: Whether ``--tiny`` items are added.
        ensemble_config: The ensemble YAML that ``ensemble:`` items apply to.

    Raises:
        ConfigError: naming the item, and the solution whose config rejects it.
    """
    from common.config import load_config

    targets = {"ensemble"} | {s.name for s in solutions} | {s.family for s in solutions}
    for item in items:
        target, kv = _parse(item)
        if target is not None and target not in targets:
            raise ConfigError(f"--set {item!r}: unknown target {target!r}; the selected targets "
                              f"are {', '.join(sorted(targets))}")
        if "=" not in kv or not kv.partition("=")[0].strip():
            raise ConfigError(f"--set {item!r}: expected [TARGET:]KEY=VALUE")
    for spec in solutions:
        mine = split_sets(items, spec)
        try:
            load_config(spec.config_class(), spec.config(profile),
                        spec.set_items(profile, n_folds, tiny, tuple(mine)))
        except ConfigError as exc:
            raise ConfigError(f"--set for {spec.name} ({spec.config(profile).name}): {exc}") from None
    if ensemble_config is not None and split_sets(items, None):
        from ensemble.config import EnsembleConfig

        try:
            load_config(EnsembleConfig, ensemble_config, split_sets(items, None))
        except ConfigError as exc:
            raise ConfigError(f"--set for the ensemble ({ensemble_config.name}): {exc}") from None
