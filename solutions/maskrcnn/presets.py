"""What the Mask R-CNN package declares to the pipeline: plain data, no Keras import.

One solution ``maskrcnn-<backbone>`` per backbone of ``common.backbone_presets`` (the same
names as ``common.backbones.list_backbones()``); its full-profile config is
``configs/<backbone>.yaml`` when there is one, else ``configs/base.yaml`` with the
backbone set. Keys as in ``solutions/unet/presets.py``.
"""

from __future__ import annotations

from pathlib import Path

from common.backbone_presets import backbone_names

CONFIG_CLASS = "solutions.maskrcnn.config:MaskRCNNConfig"

_CONFIGS = Path(__file__).resolve().parent / "configs"
#: backbone -> (profiles whose default list includes it, order in those lists). None is in the
#: demo's: on 2 CPU cores Mask R-CNN needs more steps to learn than the 10-minute first run
#: leaves (``--solutions unet,unet-baseline,maskrcnn-mobilenet`` adds it; configs/demo.yaml).
_DEFAULTS = {"mobilenet": (("full",), 30), "resnet50": (("full",), 40),
             "resnet101": (("full",), 50), "densenet201": (("full",), 60)}

PRESETS: dict[str, dict] = {
    f"maskrcnn-{backbone}": {
        "description": f"Mask R-CNN with an FPN over {backbone}",
        "configs": {"demo": "demo.yaml",
                    "full": f"{backbone}.yaml" if (_CONFIGS / f"{backbone}.yaml").is_file()
                    else "base.yaml"},
        "overrides": (f"model.backbone={backbone}",),
        "tiny": ("train.heads_epochs=1", "train.all_epochs=0", "train.steps_per_epoch=2",
                 "train.val_steps=1", "train.crop_size=64", "train.batch_size=1"),
        "tune_key": None,
        "default_in": _DEFAULTS.get(backbone, ((), 100))[0],
        "order": _DEFAULTS.get(backbone, ((), 100))[1],
    }
    for backbone in backbone_names()
}
