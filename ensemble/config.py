"""Ensemble config: which prediction folders to merge, their weights, how to vote.

Example (``ensemble/configs/demo.yaml``)::

    name: demo
    sources:
      - {solution: unet, weight: 1.0}
      - {solution: maskrcnn-mobilenet, weight: 1.0}
    vote: {iou: 0.5, min_votes: 2, pixel_fraction: 0.5, min_size: 10}
    folds: {mode: auto, min_fraction: 0.5}

A source is one solution (or an explicit folder). For ``split: oof`` it is the folder
``WORK/predictions/<solution>/oof``; for ``split: test`` it is every
``WORK/predictions/<solution>/test_fold*`` folder (folds x TTA), which are first
combined into one prediction per image (``folds.mode``: ``pixel`` = average the
``prob`` maps and run the U-Net watershed; ``vote`` = instance vote needing
``folds.min_fraction`` of the folders; ``auto`` = pixel when every folder has
``prob`` maps and the U-Net post-processing is importable). Sources sharing a
``pixel_group`` have their (weighted) prob maps averaged together before voting.
The sources are then merged by instance voting (``vote``, see ``ensemble.vote``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from common.config import ConfigError

__all__ = ["SourceConfig", "VoteConfig", "FoldMergeConfig", "FilterConfig", "EnsembleConfig"]


@dataclass
class SourceConfig:
    """One source.

    Attributes:
        solution: Solution name (``predictions/<solution>/...``); or leave empty and give ``path``.
        path: Explicit predictions folder or glob (relative to WORK or absolute);
            ``{split}`` is replaced by the split (``oof`` / ``test``).
        weight: Voting weight (>= 0).
        pixel_group: Sources with the same non-empty group have their prob maps averaged.
        name: Display name (default the solution or the path).
    """

    solution: str = ""
    path: str = ""
    weight: float = 1.0
    pixel_group: str = ""
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.solution or self.path

    def validate(self) -> None:
        if bool(self.solution) == bool(self.path):
            raise ConfigError(f"source {self.label!r}: give exactly one of 'solution' or 'path'")
        if self.weight < 0:
            raise ConfigError(f"source {self.label!r}: weight must be >= 0, got {self.weight}")


@dataclass
class VoteConfig:
    """Instance voting across sources (see :class:`ensemble.vote.VoteParams`)."""

    iou: float = 0.5
    min_votes: int = 2
    min_fraction: float = 0.0
    pixel_fraction: float = 0.5
    min_size: int = 10
    score_threshold: float = 0.0
    score_mode: Literal["members", "all"] = "members"

    def validate(self) -> None:
        if not 0.0 <= self.iou < 1.0:
            raise ConfigError(f"vote.iou must be in [0, 1), got {self.iou}")
        if self.min_votes < 1:
            raise ConfigError(f"vote.min_votes must be >= 1, got {self.min_votes}")
        for key in ("min_fraction", "pixel_fraction"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"vote.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.min_size < 0:
            raise ConfigError(f"vote.min_size must be >= 0, got {self.min_size}")


@dataclass
class FoldMergeConfig:
    """How the folders of one source (folds x TTA) become one prediction per image."""

    mode: Literal["auto", "pixel", "vote"] = "auto"
    min_fraction: float = 0.5
    iou: float = 0.5
    min_size: int = 10

    def validate(self) -> None:
        if not 0.0 <= self.min_fraction <= 1.0:
            raise ConfigError(f"folds.min_fraction must be in [0, 1], got {self.min_fraction}")


@dataclass
class FilterConfig:
    """The second-level instance filter (``ensemble.instance_filter``), off by default.

    Attributes:
        path: A filter folder from ``python -m ensemble.filter_cli fit`` (relative to WORK or
            absolute); empty = no filter.
        sources: Source labels whose instances are filtered before voting (empty = every
            source; the filter was fitted on one model's instances, so name that model).
        threshold: Drop instances with ``p`` below this (``None``: the threshold saved with
            the filter, tuned on out-of-fold instances).
        mode: ``drop`` (only drop) or ``score`` (drop, and the kept instances' scores become
            ``p``, which ranks them in the vote and decides overlaps).
        fit: Fit the filter before merging (``ensemble.filter_cli.fit_if_stale``) on the OOF
            predictions of the one source in ``sources``, into ``WORK/filters/<source>/``,
            again only when those predictions or the folds change; ``path`` must be empty.
        features: With ``fit``: the feature set (``common.instance_features.FEATURE_SETS``).
    """

    path: str = ""
    sources: list[str] = field(default_factory=list)
    threshold: float | None = None
    mode: Literal["drop", "score"] = "drop"
    fit: bool = False
    features: str = "no_image"

    def validate(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"filter.threshold must be in [0, 1], got {self.threshold}")
        if self.fit and (self.path or len(self.sources) != 1):
            raise ConfigError("filter.fit fits one filter on one source's OOF predictions: give "
                              f"exactly one filter.sources (got {self.sources}) and no filter.path "
                              f"(got {self.path!r})")


@dataclass
class EnsembleConfig:
    """The ensemble.

    Attributes:
        name: Used for the submission file name (``submissions/<name>.csv``).
        output: Predictions go to ``WORK/predictions/<output>/<split>/``.
        sources: The sources to merge.
        vote: Cross-source instance voting.
        folds: Within-source merging of folds / TTA folders.
        clamp_min_votes: With fewer sources than ``vote.min_votes``, require all of them
            instead of failing.
        filter: Optional second-level instance filter applied to sources before voting.
        by_type: Per image type (``common.folds.IMAGE_TYPES``, as ``image_type`` classifies
            each input image), voting weights that replace the sources' own on images of
            that type: ``{histology: {maskrcnn-resnet101: 1.0, unet: 0.0}}``. A source not
            named keeps its weight; weight 0 leaves it out there. A source in a
            ``pixel_group`` is named by its group, ``group:<name>``. ``python -m
            ensemble.by_type`` measures on the OOF predictions where a single source beats
            the ensemble. Empty (the default): one set of weights for every image.
    """

    name: str = "ensemble"
    output: str = "ensemble"
    sources: list[SourceConfig] = field(default_factory=list)
    vote: VoteConfig = field(default_factory=VoteConfig)
    folds: FoldMergeConfig = field(default_factory=FoldMergeConfig)
    clamp_min_votes: bool = True
    filter: FilterConfig = field(default_factory=FilterConfig)
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)

    def unit_weights(self) -> dict[str, float]:
        """The voting weight of each merge unit: a source, or ``group:<name>`` for the
        sources of a ``pixel_group`` (their summed weight)."""
        out: dict[str, float] = {}
        for s in self.sources:
            key = f"group:{s.pixel_group}" if s.pixel_group else s.label
            out[key] = out.get(key, 0.0) + s.weight
        return out

    def takes_part(self, src: SourceConfig) -> bool:
        """Whether a source votes on some image: a weight > 0, in ``sources`` or in ``by_type``
        (a source of weight 0 that ``by_type`` gives weight on one type votes only there)."""
        key = f"group:{src.pixel_group}" if src.pixel_group else src.label
        return src.weight > 0 or any(w.get(key, 0) > 0 for w in self.by_type.values())

    def type_weights(self, kind: str) -> dict[str, float]:
        """Each unit's voting weight on images of type ``kind`` (``by_type`` over the plain)."""
        override = self.by_type.get(kind, {})
        return {k: float(override.get(k, w)) for k, w in self.unit_weights().items()}

    def _validate_by_type(self) -> None:
        from common.folds import IMAGE_TYPES

        units = self.unit_weights()
        checked: dict[str, dict[str, float]] = {}
        for kind, weights in self.by_type.items():
            if kind not in IMAGE_TYPES:
                raise ConfigError(f"by_type: {kind!r} is not an image type; known: {list(IMAGE_TYPES)}")
            if not isinstance(weights, dict) or not weights:
                raise ConfigError(f"by_type.{kind}: expected a mapping source -> weight, got {weights!r}")
            for name, w in weights.items():
                if name not in units:
                    raise ConfigError(f"by_type.{kind}: {name!r} is no source of this ensemble "
                                      f"(sources, pixel groups as group:<name>: {sorted(units)})")
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise ConfigError(f"by_type.{kind}.{name}: a weight is a finite number >= 0, got {w!r}")
            checked[kind] = {k: float(w) for k, w in weights.items()}
        self.by_type = checked  # a new mapping: the caller's is left as it was
        for kind in self.by_type:
            voters = [k for k, w in self.type_weights(kind).items() if w > 0]
            if not voters:
                raise ConfigError(f"by_type.{kind}: the weights must have a positive sum")
            if not self.clamp_min_votes and self.vote.min_votes > len(voters):
                raise ConfigError(f"by_type.{kind}: {len(voters)} source(s) vote on this type but "
                                  f"vote.min_votes={self.vote.min_votes} (clamp_min_votes is off)")

    def validate(self) -> None:
        labels = [s.label for s in self.sources]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"sources listed twice: {dup}")
        self._validate_by_type()
        if self.sources and sum(s.weight for s in self.sources) <= 0:
            raise ConfigError("the source weights must have a positive sum")
        if not self.clamp_min_votes and self.sources and self.vote.min_votes > len(self.sources):
            raise ConfigError(f"vote.min_votes={self.vote.min_votes} but only "
                              f"{len(self.sources)} sources")
        if not self.output or "/" in self.output:
            raise ConfigError(f"output must be a plain folder name, got {self.output!r}")

    def with_solutions(self, solutions: list[str]) -> "EnsembleConfig":
        """A copy restricted to (and extended by) ``solutions``, keeping configured weights.

        Solutions not in the config get weight 1; path sources are dropped.
        """
        by_name = {s.solution: s for s in self.sources if s.solution}
        sources = [by_name.get(name, SourceConfig(solution=name)) for name in solutions]
        out = EnsembleConfig(name=self.name, output=self.output, sources=sources,
                             vote=self.vote, folds=self.folds,
                             clamp_min_votes=self.clamp_min_votes, filter=self.filter)
        units = out.unit_weights()  # by_type keeps the sources selected; a type left empty goes
        for kind, weights in self.by_type.items():
            kept = {k: w for k, w in weights.items() if k in units}
            if kept and sum(kept.get(k, w) for k, w in units.items()) > 0:
                out.by_type[kind] = kept
        return out
