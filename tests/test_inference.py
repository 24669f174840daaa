"""Full-resolution colorization from a trained generator, in the library and the CLI."""

import numpy as np
import pytest
from PIL import Image

from colorgan.color import colorfulness, rgb_to_lab
from colorgan.data.images import UnusableImage
from colorgan.serving.cli import main
from colorgan.serving.inference import Colorizer, ModelNotFoundError, resolve_generator
from tests.conftest import real_photo


@pytest.fixture(scope="module")
def colorizer(trained_project):
    return Colorizer.load(trained_project / "models")


def test_output_keeps_the_full_size_and_the_original_lightness(colorizer):
    photo = real_photo("coffee.png", side=300)  # 300x200, not the model's square size
    gray = np.repeat(np.asarray(Image.fromarray(photo).convert("L"))[..., None], 3, axis=-1)

    colorized = colorizer.colorize(gray)

    assert colorized.shape == gray.shape
    assert colorized.dtype == np.uint8
    lightness_error = np.abs(rgb_to_lab(colorized)[..., 0] - rgb_to_lab(gray)[..., 0])
    assert np.median(lightness_error) < 2.0  # edges and texture are the input's own
    assert colorfulness(colorized) > colorfulness(gray)


def test_colour_input_is_treated_as_its_gray_version(colorizer):
    photo = real_photo("chelsea.png", side=120)
    gray = np.repeat(np.asarray(Image.fromarray(photo).convert("L"))[..., None], 3, axis=-1)
    difference = np.abs(colorizer.colorize(photo).astype(int) - colorizer.colorize(gray))
    assert np.mean(difference) < 3.0  # only rounding of the gray conversion differs


def test_working_size_keeps_the_aspect_ratio_and_the_generator_its_weights(trained_project):
    squeezed = Colorizer.load(trained_project / "models", working_size=None)
    size = squeezed.size
    # The same size as the training square: the any-size generator computes the same colours.
    same = Colorizer.load(trained_project / "models", working_size=size)
    square = real_photo("astronaut.png", side=size * 2)
    assert np.array_equal(same.colorize(square), squeezed.colorize(square))

    wide = Colorizer.load(trained_project / "models", working_size=size * 2)
    assert size % wide.multiple == 0 and wide.multiple < size  # the U-Net's levels, probed
    height, width = wide.model_shape(200, 300)
    assert height == size * 2 and height % wide.multiple == width % wide.multiple == 0
    assert abs(width / height - 1.5) <= wide.multiple / height  # aspect kept, to a multiple
    photo = real_photo("coffee.png", side=300)  # 300x200
    colorized = wide.colorize(photo)
    assert colorized.shape == photo.shape
    assert not np.array_equal(colorized, squeezed.colorize(photo))


def test_default_working_size_is_one_and_a_half_training_squares(colorizer):
    assert colorizer.working_size == round(1.5 * colorizer.size)
    assert colorizer.model_shape(100, 1000)[0] == colorizer.working_size


@pytest.mark.parametrize("bad", [0, -64, 1.5, "large"])
def test_working_size_must_be_a_positive_number_of_pixels(trained_project, bad):
    with pytest.raises(ValueError, match="working_size must be a positive number of pixels"):
        Colorizer.load(trained_project / "models", working_size=bad)


def test_cli_refuses_a_bad_working_size(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["colorize", "in.jpg", "-o", "out", "--working-size", "huge"])
    assert exit_.value.code == 2
    assert "give a number of pixels, 'auto' or 'squeeze'" in capsys.readouterr().err


def test_oversized_photo_is_refused_with_the_numbers(trained_project):
    small_cap = Colorizer.load(trained_project / "models", max_pixels=10_000)
    with pytest.raises(UnusableImage, match="too many pixels: 200x100 = 20,000 > 10,000"):
        small_cap.colorize(np.zeros((100, 200, 3), dtype=np.uint8))


def test_unknown_model_location_says_what_is_expected(tmp_path):
    with pytest.raises(ModelNotFoundError, match="models:/colorgan@champion"):
        resolve_generator(tmp_path)


def test_cli_colorizes_a_folder_skips_bad_files_and_respects_exif(trained_project, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(real_photo("rocket.jpg", side=160)).save(photos / "rocket.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(real_photo("astronaut.png", side=120)[:, :80]).save(
        photos / "rotated.jpg", exif=exif
    )
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")

    code = main(
        [
            "colorize",
            str(photos),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(trained_project / "models/generator.keras"),
        ]
    )

    assert code == 0
    written = {p.name: Image.open(p).size for p in (tmp_path / "out").iterdir()}
    assert set(written) == {"rocket.png", "rotated.png"}
    assert written["rocket.png"] == Image.open(photos / "rocket.jpg").size
    assert written["rotated.png"] == (120, 80)  # displayed orientation, not stored


def test_cli_fails_when_nothing_could_be_colorized(trained_project, tmp_path, capsys):
    (tmp_path / "junk.jpg").write_text("no image here")
    code = main(
        [
            "colorize",
            str(tmp_path / "junk.jpg"),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(trained_project / "models"),
        ]
    )
    assert code == 1
    assert "skipped" in capsys.readouterr().err
