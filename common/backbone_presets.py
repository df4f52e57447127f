"""The registered backbones as plain data (no Keras import): keras-hub's ``*_presets.py``.

Each entry names a ``keras.applications`` class, the layers that give the pyramid
``{"P2".."P5"}`` (strides 4, 8, 16, 32), their channels and the family's ImageNet
preprocessing mode (``common.preprocess.MODES``). ``common.backbones`` registers every
entry at import; the pipeline lists Mask R-CNN backbones from here without Keras.

Adding a backbone: add an entry (check each level's stride by building at 128x128 and
printing ``model.get_layer(name).output.shape``; ``tests/test_backbones.py`` checks it
for every entry), or register a constructor with ``common.backbones.register_backbone``.
"""

from __future__ import annotations

__all__ = ["BACKBONE_PRESETS", "backbone_names"]

# ResNet: the last block output of each stage (conv1+pool1 give stride 4).
_RESNET_CHANNELS = {"P2": 256, "P3": 512, "P4": 1024, "P5": 2048}


def _resnet_levels(conv4_blocks: int) -> dict[str, str]:
    return {"P2": "conv2_block3_out", "P3": "conv3_block4_out",
            "P4": f"conv4_block{conv4_blocks}_out", "P5": "conv5_block3_out"}


# DenseNet: the BN+ReLU of each dense block's output inside the transition layer, before
# its 1x1 conv and 2x2 average pooling ("poolN_pool" is already at the next stride), and
# the final BN+ReLU ("relu").
_DENSENET_LEVELS = {"P2": "pool2_relu", "P3": "pool3_relu", "P4": "pool4_relu", "P5": "relu"}

BACKBONE_PRESETS: dict[str, dict] = {
    "resnet50": {"application": "ResNet50", "levels": _resnet_levels(6),
                 "channels": _RESNET_CHANNELS, "preprocess": "caffe"},
    "resnet101": {"application": "ResNet101", "levels": _resnet_levels(23),
                  "channels": _RESNET_CHANNELS, "preprocess": "caffe"},
    # MobileNet v1: the pointwise ReLU right before each stride-2 depthwise block (the
    # next layer, "conv_pad_N", already feeds the downsampling conv).
    "mobilenet": {"application": "MobileNet", "kwargs": {"alpha": 1.0},
                  "levels": {"P2": "conv_pw_3_relu", "P3": "conv_pw_5_relu",
                             "P4": "conv_pw_11_relu", "P5": "conv_pw_13_relu"},
                  "channels": {"P2": 128, "P3": 256, "P4": 512, "P5": 1024}, "preprocess": "tf"},
    # MobileNetV2: the expansion ReLU of the first (stride-2) block of the next stage, i.e.
    # the widest activation still at the finer stride, then the final 1x1 conv ("out_relu").
    "mobilenet_v2": {"application": "MobileNetV2", "kwargs": {"alpha": 1.0},
                     "levels": {"P2": "block_3_expand_relu", "P3": "block_6_expand_relu",
                                "P4": "block_13_expand_relu", "P5": "out_relu"},
                     "channels": {"P2": 144, "P3": 192, "P4": 576, "P5": 1280},
                     "preprocess": "tf"},
    "densenet121": {"application": "DenseNet121", "levels": _DENSENET_LEVELS,
                    "channels": {"P2": 256, "P3": 512, "P4": 1024, "P5": 1024},
                    "preprocess": "torch"},
    "densenet169": {"application": "DenseNet169", "levels": _DENSENET_LEVELS,
                    "channels": {"P2": 256, "P3": 512, "P4": 1280, "P5": 1664},
                    "preprocess": "torch"},
    "densenet201": {"application": "DenseNet201", "levels": _DENSENET_LEVELS,
                    "channels": {"P2": 256, "P3": 512, "P4": 1792, "P5": 1920},
                    "preprocess": "torch"},
}


def backbone_names() -> list[str]:
    """The preset backbone names, sorted (the same as ``common.backbones.list_backbones()``
    unless code registered more)."""
    return sorted(BACKBONE_PRESETS)
