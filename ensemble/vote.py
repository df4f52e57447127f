"""Instance-level voting: match instances across sources, vote, fuse, resolve overlaps.

Every source gives one label image (int [H,W], 0 = background, instances 1..N) and
per-instance scores (float [N], ``scores[i]`` belongs to label ``i + 1``). Voting:

1. **Match** instances of different sources by IoU. Overlaps come from one
   ``np.bincount`` per source pair over ``a * (n_b + 1) + b`` (a sparse contingency
   table), never from dense ``N x M x H x W`` masks.
2. **Cluster** greedily by score: the best unassigned instance seeds a cluster and
   takes, from every other source, its best unassigned match with IoU > ``iou``
   (at most one member per source, so a cluster's votes are distinct sources).
3. **Keep** clusters with at least ``min_votes`` members and a weighted vote fraction
   (members' weight / all sources' weight) of at least ``min_fraction``.
4. **Fuse** each cluster's masks by weighted pixel vote: a pixel is in when the
   members covering it hold at least ``pixel_fraction`` of the members' weight.
   Its score is the weighted mean of the members' scores.
5. **Resolve overlaps**: a pixel claimed by several fused masks goes to the one with
   the higher score; instances left smaller than ``min_size`` pixels are dropped.

All pixel work is vectorised (bincount / unique / lexsort over pixel arrays); the
only Python loops run over sources and instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["VoteParams", "pair_iou", "cluster_instances", "fuse_clusters", "vote_instances",
           "resolve_overlaps"]

# A contingency table with at most this many cells is built densely by bincount.
_DENSE_CELLS = 1 << 22


@dataclass(frozen=True)
class VoteParams:
    """Parameters of :func:`vote_instances` (see the module docstring).

    Attributes:
        iou: Two instances match when their IoU is strictly greater than this.
        min_votes: Members (distinct sources) a cluster needs to be kept.
        min_fraction: Weighted vote fraction a cluster needs, in [0, 1].
        pixel_fraction: Share of the members' weight a pixel needs to enter the fused mask.
        min_size: Instances smaller than this many pixels after overlap resolution are dropped.
        score_threshold: Fused instances scoring below this are dropped before resolution.
        score_mode: ``"members"``: a cluster's score is the weighted mean of its members'
            scores; ``"all"``: the weighted sum divided by all sources' weight (absent
            sources count as 0, so weakly supported clusters lose contested pixels).
    """

    iou: float = 0.5
    min_votes: int = 1
    min_fraction: float = 0.0
    pixel_fraction: float = 0.5
    min_size: int = 0
    score_threshold: float = 0.0
    score_mode: str = "members"


def _as_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer [H,W] array, got {labels.dtype} {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    return labels.astype(np.int64, copy=False)


def pair_iou(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse IoU between the instances of two label images.

    Args:
        a: int [H,W] labels, 0 = background.
        b: int [H,W] labels of the same shape.

    Returns:
        ``(ia, ib, iou)``: int64 [K] label ids (1-based, as in the images) of every
        overlapping pair and float64 [K] their IoU.
    """
    a, b = _as_labels(a).ravel(), _as_labels(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"label images differ in size: {a.shape} vs {b.shape}")
    na, nb = int(a.max(initial=0)), int(b.max(initial=0))
    area_a = np.bincount(a, minlength=na + 1)
    area_b = np.bincount(b, minlength=nb + 1)
    both = (a > 0) & (b > 0)
    keys = a[both] * (nb + 1) + b[both]
    if (na + 1) * (nb + 1) <= _DENSE_CELLS:
        table = np.bincount(keys, minlength=(na + 1) * (nb + 1))
        keys = np.flatnonzero(table)
        inter = table[keys]
    else:
        keys, inter = np.unique(keys, return_counts=True)
    ia, ib = keys // (nb + 1), keys % (nb + 1)
    union = area_a[ia] + area_b[ib] - inter
    return ia, ib, inter / np.maximum(union, 1)


def cluster_instances(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                      iou: float = 0.5) -> np.ndarray:
    """Greedy clustering of instances across sources, best score first.

    Args:
        labels: S label images int [H,W] of the same shape.
        scores: S float arrays [N_s]; ``scores[s][i]`` is the score of label ``i + 1``.
        iou: Match threshold (strictly greater).

    Returns:
        int64 [C,S] member table: ``members[c, s]`` is the label id of source ``s``
        in cluster ``c`` (0 = none). Clusters are in seed order (descending seed score).
    """
    labels = [_as_labels(lab) for lab in labels]
    n_src = len(labels)
    present = [np.flatnonzero(np.bincount(lab.ravel(), minlength=1)[1:]) + 1 for lab in labels]
    src = np.concatenate([np.full(p.size, s, np.int64) for s, p in enumerate(present)]
                         or [np.zeros(0, np.int64)])
    lab_id = np.concatenate(present or [np.zeros(0, np.int64)]).astype(np.int64)
    score = np.concatenate([np.asarray(sc, np.float64).reshape(-1)[p - 1]
                            for sc, p in zip(scores, present)] or [np.zeros(0)])
    n = src.size
    # global index of (source, label): offset[s] + position in present[s]
    lut = []
    offset = 0
    for lab, p in zip(labels, present):
        table = np.full(int(lab.max(initial=0)) + 1, -1, np.int64)
        table[p] = offset + np.arange(p.size)
        lut.append(table)
        offset += p.size
    rows, cols, vals = [], [], []
    for s in range(n_src):
        for t in range(s + 1, n_src):
            ia, ib, v = pair_iou(labels[s], labels[t])
            keep = v > iou
            gi, gj = lut[s][ia[keep]], lut[t][ib[keep]]
            rows += [gi, gj]
            cols += [gj, gi]
            vals += [v[keep], v[keep]]
    if rows:
        graph = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                  shape=(n, n))
    else:
        graph = sparse.csr_matrix((n, n))
    assigned = np.zeros(n, bool)
    members = []
    for seed in np.argsort(-score, kind="stable"):
        if assigned[seed]:
            continue
        row = np.zeros(n_src, np.int64)
        row[src[seed]] = lab_id[seed]
        assigned[seed] = True
        start, end = graph.indptr[seed], graph.indptr[seed + 1]
        nbr, nbr_iou = graph.indices[start:end], graph.data[start:end]
        free = ~assigned[nbr]
        nbr, nbr_iou = nbr[free], nbr_iou[free]
        # best IoU per source: sort by (source, -iou) and take the first of each source
        order = np.lexsort((-nbr_iou, src[nbr]))
        nbr = nbr[order]
        first = np.ones(nbr.size, bool)
        first[1:] = src[nbr][1:] != src[nbr][:-1]
        best = nbr[first]
        row[src[best]] = lab_id[best]
        assigned[best] = True
        members.append(row)
    return np.array(members, np.int64).reshape(-1, n_src)


def resolve_overlaps(pix: np.ndarray, inst: np.ndarray, inst_scores: np.ndarray,
                     shape: tuple[int, int], min_size: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Turn possibly overlapping instance pixels into a non-overlapping label image.

    Args:
        pix: int64 [P] flat pixel indices.
        inst: int64 [P] instance index (0..K-1) of each pixel entry.
        inst_scores: float [K] instance scores; a contested pixel goes to the higher score
            (ties: the lower instance index).
        shape: (H, W) of the output.
        min_size: Instances left with fewer pixels are dropped.

    Returns:
        ``(labels, scores)``: int32 [H,W] with labels 1..N in descending score order,
        float32 [N].
    """
    inst_scores = np.asarray(inst_scores, np.float64)
    size = int(np.prod(shape))
    flat = np.zeros(size, np.int64)
    if pix.size:
        order = np.lexsort((inst, -inst_scores[inst], pix))
        pix_s, inst_s = pix[order], inst[order]
        first = np.ones(pix_s.size, bool)
        first[1:] = pix_s[1:] != pix_s[:-1]
        flat[pix_s[first]] = inst_s[first] + 1
    k = inst_scores.size
    area = np.bincount(flat, minlength=k + 1)[1:]
    keep = (area > 0) & (area >= min_size)
    kept = np.flatnonzero(keep)
    kept = kept[np.argsort(-inst_scores[kept], kind="stable")]
    lut = np.zeros(k + 1, np.int32)
    lut[kept + 1] = np.arange(1, kept.size + 1, dtype=np.int32)
    return lut[flat].reshape(shape), inst_scores[kept].astype(np.float32)


def fuse_clusters(labels: Sequence[np.ndarray], members: np.ndarray, weights: np.ndarray,
                  cluster_scores: np.ndarray, pixel_fraction: float = 0.5, min_size: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Fuse each cluster's member masks by weighted pixel vote and resolve overlaps.

    Args:
        labels: S label images int [H,W].
        members: int [C,S] member label ids (0 = none), as from :func:`cluster_instances`.
        weights: float [S] source weights.
        cluster_scores: float [C] score of each cluster.
        pixel_fraction: A pixel enters cluster c's mask when the members covering it
            hold at least this share of c's members' weight.
        min_size: Drop instances smaller than this after overlap resolution.

    Returns:
        ``(labels, scores)``: int32 [H,W] (1..N, descending score), float32 [N].
    """
    labels = [_as_labels(lab) for lab in labels]
    shape = labels[0].shape if labels else (0, 0)
    weights = np.asarray(weights, np.float64)
    members = np.asarray(members, np.int64).reshape(-1, len(labels))
    n_cl = members.shape[0]
    pix_parts, cl_parts, w_parts = [], [], []
    for s, lab in enumerate(labels):
        cl_of = np.full(int(lab.max(initial=0)) + 1, -1, np.int64)
        has = members[:, s] > 0
        cl_of[members[has, s]] = np.flatnonzero(has)
        cl_map = cl_of[lab.ravel()]
        pix = np.flatnonzero(cl_map >= 0)
        pix_parts.append(pix)
        cl_parts.append(cl_map[pix])
        w_parts.append(np.full(pix.size, weights[s]))
    if n_cl == 0 or not pix_parts:
        return np.zeros(shape, np.int32), np.zeros(0, np.float32)
    pix, cl, w = np.concatenate(pix_parts), np.concatenate(cl_parts), np.concatenate(w_parts)
    size = int(np.prod(shape))
    keys, inverse = np.unique(cl * size + pix, return_inverse=True)
    vote = np.bincount(inverse.ravel(), weights=w, minlength=keys.size)
    cl_u, pix_u = keys // size, keys % size
    member_weight = ((members > 0) * weights[None, :]).sum(axis=1)
    inside = vote >= pixel_fraction * member_weight[cl_u] - 1e-9
    return resolve_overlaps(pix_u[inside], cl_u[inside], cluster_scores, shape, min_size)


def vote_instances(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                   weights: Sequence[float] | None = None, params: VoteParams = VoteParams()
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Merge the instance predictions of several sources for one image.

    Args:
        labels: S label images int [H,W] (same shape), 0 = background.
        scores: S float arrays [N_s], ``scores[s][i]`` for label ``i + 1``.
        weights: float [S] source weights (default all 1).
        params: Voting parameters.

    Returns:
        ``(labels, scores)``: int32 [H,W] non-overlapping instances 1..N in descending
        score order and their float32 [N] scores.
    """
    if not labels:
        raise ValueError("vote_instances needs at least one source")
    shapes = {np.shape(lab) for lab in labels}
    if len(shapes) != 1:
        raise ValueError(f"sources disagree on the image size: {sorted(shapes)}")
    n_src = len(labels)
    w = np.ones(n_src) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (n_src,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {n_src} non-negative numbers with a positive sum, got {w}")
    members = cluster_instances(labels, scores, params.iou)
    has = members > 0
    votes = has.sum(axis=1)
    member_w = (has * w[None, :]).sum(axis=1)
    keep = (votes >= params.min_votes) & (member_w / w.sum() >= params.min_fraction - 1e-9)
    keep &= member_w > 0
    members, has, member_w = members[keep], has[keep], member_w[keep]
    member_scores = np.zeros(members.shape, np.float64)
    for s in range(n_src):
        sc = np.concatenate([[0.0], np.asarray(scores[s], np.float64).reshape(-1)])
        member_scores[:, s] = sc[members[:, s]]
    denom = member_w if params.score_mode == "members" else np.full(member_w.shape, w.sum())
    fused = (member_scores * has * w[None, :]).sum(axis=1) / np.maximum(denom, 1e-12)
    good = fused >= params.score_threshold
    return fuse_clusters(labels, members[good], w, fused[good], params.pixel_fraction,
                         params.min_size)
