"""colorgan.realism on real photos, through Lite0 (each network built once per process): the
measures must tell true colours from gray ones, and not tell true colours from true ones.

Every input is fixed (committed photos, fixed crops, a deterministic network): no seed can
flip a result, and each assertion keeps a wide margin over the figure it saw (in comments).
"""

import numpy as np
import pytest

from colorgan.color import lab_to_rgb, rgb_to_lab
from colorgan.data.sample import bundled_photo_paths, package_photo_paths
from colorgan.realism.density_coverage import density_coverage
from colorgan.realism.features import lite0_class_logits, lite0_features
from colorgan.realism.kid import kernel_inception_distance
from colorgan.realism.semantic import photo_semantic_agreement, semantic_agreement
from colorgan.realism.sets import compare_sets
from tests.conftest import REPO, real_photo

BUNDLED_PHOTOS = 48  # density and coverage need tens of photos: with 8 they are noise
SIDE = 128  # the feature network's input size (FEATURE_SIZE): no resizing blur


def _gray(rgb: np.ndarray) -> np.ndarray:
    """The photo with its Lab ab set to 0: the gray baseline every colorizer must beat."""
    lab = rgb_to_lab(rgb)
    lab[..., 1:] = 0.0
    return lab_to_rgb(lab)


def _centre_square(path, side: int = SIDE) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert("RGB")
    image.thumbnail((4 * side, 4 * side))
    rgb = np.asarray(image)
    edge = min(rgb.shape[:2])
    top, left = (rgb.shape[0] - edge) // 2, (rgb.shape[1] - edge) // 2
    square = rgb[top : top + edge, left : left + edge]
    return np.asarray(Image.fromarray(square).resize((side, side), Image.BILINEAR))


@pytest.fixture(scope="module")
def views():
    """Two views of each of the first BUNDLED_PHOTOS bundled photos (its centre square and
    that mirrored: near-duplicates, as evaluate's views are), as Lite0 features of the true
    colours and of the gray versions, with each view's photo."""
    paths = bundled_photo_paths(REPO / "bundled/photos")[:BUNDLED_PHOTOS]
    squares = [_centre_square(path) for path in paths]
    rgb = [view for square in squares for view in (square, square[:, ::-1])]
    return {
        "real": lite0_features(rgb),
        "gray": lite0_features([_gray(view) for view in rgb]),
        "photo": np.repeat(np.arange(len(squares)), 2),
    }


def test_kid_of_photos_is_zero_against_themselves_and_clearly_positive_against_gray(views):
    real, gray = views["real"], views["gray"]
    itself, std = kernel_inception_distance(real, real)
    against_gray, _ = kernel_inception_distance(real, gray)
    print(f"KID true vs true {itself:.3g}, true vs gray {against_gray:.3g}")
    assert abs(itself) < 1e-6 and std == 0.0
    assert against_gray > 0.1  # seen: 0.28 (96 views of 48 photos)
    _, spread = kernel_inception_distance(real, gray, subsets=10, subset_size=48)
    assert spread > 0


def test_two_halves_of_the_photos_score_higher_density_and_coverage_than_gray_against_true(
    views,
):
    """True views of every other photo against those of the rest, and against their gray
    versions; the views of one photo grouped (kept out of each other's balls). k = 3: with 24
    photos a side, k = 5's balls reach a fifth of the other photos and coverage saturates
    (seen: 1.0 against 0.92), while density still separates (1.62 against 0.97)."""
    first = views["photo"] % 2 == 0
    second = ~first
    photo = views["photo"]

    def scores(fake: np.ndarray) -> dict[str, float]:
        return density_coverage(views["real"][first], fake[second], 3, photo[first], photo[second])

    true, gray = scores(views["real"]), scores(views["gray"])
    print(f"true vs true {true}, gray vs true {gray}")
    assert true["density"] > gray["density"] + 0.4  # seen: 1.66 against 0.92
    assert true["coverage"] > gray["coverage"] + 0.12  # seen: 1.0 against 0.75 (of 48 views)


def test_lite0_features_pool_any_size_and_treat_uint8_and_float_alike():
    photos = [real_photo(name, side) for name, side in (("coffee.png", 96), ("chelsea.png", 40))]
    features = lite0_features(photos)
    assert features.shape == (2, 1280)
    as_float = lite0_features([photo / 255.0 for photo in photos])
    np.testing.assert_allclose(as_float, features, rtol=1e-4, atol=1e-4)


def test_semantic_agreement_is_one_for_true_photos_and_lower_for_gray_or_swapped_colours():
    """The eight package photos at 224 px (Lite0's classification size). Seen: gray and
    red-blue swapped each change the top class of 4 photos, two of each by a logit margin
    above 0.8 (float noise is about 1e-4); swapped colours push astronaut.png's class to
    tenth place."""
    photos = [real_photo(path.name, 224) for path in package_photo_paths()]
    true = lite0_class_logits(photos)
    assert true.shape == (len(photos), 1000)
    gray = lite0_class_logits([_gray(photo) for photo in photos])
    swapped = semantic_agreement(true, lite0_class_logits([p[..., ::-1] for p in photos]))
    itself = semantic_agreement(true, true)
    gray_scores = semantic_agreement(true, gray)
    print(f"true {itself}, gray {gray_scores}, swapped {swapped}")
    assert itself == {"top1_agreement": 1.0, "top5_agreement": 1.0}
    assert gray_scores["top1_agreement"] <= 0.75  # seen: 0.5
    assert swapped["top1_agreement"] <= 0.75  # seen: 0.5
    assert swapped["top5_agreement"] < 1.0  # seen: 0.875 (gray: 1.0)
    assert photo_semantic_agreement(photos[:2], photos[:2])["top1_agreement"] == 1.0


# --- the one-call version on photos -------------------------------------------------------


@pytest.fixture(scope="module")
def crops():
    """Two disjoint lists of 48 random square crops (24 to 128 px) of the package photos."""
    rng = np.random.default_rng(0)
    photos = [real_photo(path.name, 128) for path in package_photo_paths()]
    chosen = []
    for _ in range(96):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(24, min(photo.shape[:2]) + 1))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        chosen.append(photo[top : top + side, left : left + side])
    return chosen[:48], chosen[48:]


def test_compare_sets_tells_gray_from_colour_photos(crops):
    train, test = crops
    scores = compare_sets(train, [_gray(c) for c in train], test, [_gray(c) for c in test])
    assert scores["c2st_accuracy"] >= 0.9  # seeded: 0.98
    assert scores["frechet_distance"] > 0 and scores["kid"] > 0


def test_compare_sets_cannot_tell_two_halves_of_one_set_of_photos_apart(crops):
    train, test = crops
    scores = compare_sets(train[::2], train[1::2], test[::2], test[1::2])
    # 48 test crops: chance accuracy has a std of 0.07; the margin is 3.5 of them (seeded:
    # 0.56, and gray against colour above scores 0.98 on the same crops).
    assert scores["c2st_accuracy"] <= 0.75
