from pathlib import Path

import pytest

from colorgan.config import Params, ParamsError, flatten, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def test_repository_params_are_valid_and_match_schema_defaults_keys():
    params = load_params(REPO / "params.yaml")
    assert set(flatten(params)) == set(flatten(Params()))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"train": {"epochs": -1}}, "train.epochs: Input should be greater than 0 (got -1)"),
        ({"train": {"epohcs": 3}}, "train.epohcs: unknown key"),
        ({"train": {"batch_size": "16"}}, "train.batch_size: Input should be a valid integer"),
        ({"train": {"adversarial_loss": "wgan"}}, "train.adversarial_loss: Input should be"),
        (
            {
                "preprocess": {"image_size": 40},
                "model": {"generator": {"encoder": "unet", "depth": 4}},
            },
            "not divisible by 2**model.generator.depth=16",
        ),
        ({"train": {"epochs": 3, "pretrain_epochs": 4}}, "pretrain_epochs=4 exceeds epochs=3"),
        (
            {"preprocess": {"image_size": 48}},
            "image_size=48 is not divisible by 32, which model.generator.encoder=",
        ),
        ({"data": {"split": {"train": 0.9, "val": 0.2, "test": 0.1}}}, "must sum to 1"),
        ({"preprocess": {"crop_scale": [0.8, 0.5]}}, "0 < low <= high"),
        (
            {"preprocess": {"crops_per_image": 32}},
            (
                "preprocess: crops_per_image was removed: random crops are now drawn afresh "
                "every epoch by the input pipeline; delete the key, and set the number of "
                "batches per epoch with train.steps_per_epoch"
            ),
        ),
    ],
)
def test_bad_params_name_the_key_and_what_is_allowed(raw, expected):
    with pytest.raises(ParamsError) as error:
        parse_params(raw, "params.yaml")
    assert expected in str(error.value)
    assert str(error.value).startswith("params.yaml:")


def test_missing_and_malformed_files_give_clear_errors(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(listed)


def test_flatten_gives_dotted_names():
    flat = flatten(parse_params({"train": {"epochs": 3, "pretrain_epochs": 1}}))
    assert flat["train.epochs"] == 3
    assert flat["model.generator.depth"] == Params().model.generator.depth


def test_params_yaml_holds_the_schema_defaults():
    # The MLflow run name lists what differs from the defaults: both must say the same.
    from colorgan.config import Params, flatten, load_params
    from tests.conftest import REPO

    assert flatten(load_params(REPO / "params.yaml")) == flatten(Params())
