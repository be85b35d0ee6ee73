import numpy as np
import pytest

from deepface_gen.attributes import (
    ATTRIBUTE_INDEX,
    CELEBA_ATTRIBUTES,
    aliases_of,
    as_spec,
    attribute_table,
    parse_description,
)
from deepface_gen.errors import DescriptionError


def test_vocabulary_is_celeba_order():
    assert len(CELEBA_ATTRIBUTES) == 40
    assert CELEBA_ATTRIBUTES[0] == "5_o_Clock_Shadow" and CELEBA_ATTRIBUTES[-1] == "Young"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("youth,black hair,male", {"Young": 1, "Black_Hair": 1, "Male": 1}),
        ("old woman", {"Young": -1, "Male": -1}),
        (
            "smiling blonde girl with no glasses",
            {"Smiling": 1, "Blond_Hair": 1, "Male": -1, "Eyeglasses": -1},
        ),
        (
            "smiling blonde girl, no glasses",
            {"Smiling": 1, "Blond_Hair": 1, "Male": -1, "Eyeglasses": -1},
        ),
        ("old zebra", None),
        ("Old, Woman", {"Young": -1, "Male": -1}),
        ("men, glasses", {"Male": 1, "Eyeglasses": 1}),
        ("no glasses, not smiling", {"Eyeglasses": -1, "Smiling": -1}),
        ("-smiling,+eyeglasses", {"Smiling": -1, "Eyeglasses": 1}),
        ("smiling=0.5", {"Smiling": 0.5}),
        ("-smiling=2", {"Smiling": -2}),
        ("BLACK_HAIR", {"Black_Hair": 1}),
        ("black-hair", {"Black_Hair": 1}),
        ("  blonde  ", {"Blond_Hair": 1}),
        ("beard", {"No_Beard": -1}),
        ("no beard", {"No_Beard": 1}),
        ("smiles and hats", {"Smiling": 1, "Wearing_Hat": 1}),
        ("young with earrings", {"Young": 1, "Wearing_Earrings": 1}),
        ("without hat", {"Wearing_Hat": -1}),
        ("5 o'clock shadow", {"5_o_Clock_Shadow": 1}),
    ],
)
def test_parse(text, expected):
    if expected is None:
        with pytest.raises(DescriptionError):
            parse_description(text)
        return
    assert dict(parse_description(text).values) == expected


def test_vector_and_mask():
    spec = parse_description("smiling=0.5, not male")
    vec, mask = spec.vector(), spec.mask()
    assert vec.shape == (40,) and mask.dtype == bool
    assert vec[ATTRIBUTE_INDEX["Smiling"]] == 0.5 and vec[ATTRIBUTE_INDEX["Male"]] == -1
    assert mask.sum() == 2 and vec[~mask].tolist() == [0.0] * 38


def test_unknown_word_suggests_nearest():
    with pytest.raises(DescriptionError, match=r"unknown attribute 'blnd hair'.*Blond_Hair"):
        parse_description("blnd hair")
    with pytest.raises(DescriptionError, match=r"did you mean.*Eyeglasses"):
        parse_description("eyeglases")


def test_multiword_contradiction_inside_one_token():
    with pytest.raises(DescriptionError, match="contradictory"):
        parse_description("man woman")


def test_hopeless_word_points_to_listing():
    with pytest.raises(DescriptionError, match="deepface-gen attributes"):
        parse_description("xqzzy")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("male,female", "Male"),
        ("smiling, not smiling", "Smiling"),
        ("bald,bangs", "bald head has no bangs"),
        ("black hair, blond", "one hair colour"),
        ("gray hair, brown hair", "one hair colour"),
        ("wavy, straight hair", "wavy or straight"),
        ("woman, beard", "beards only on men"),
    ],
)
def test_contradictions_refused_with_reason(text, reason):
    with pytest.raises(DescriptionError, match="contradictory") as info:
        parse_description(text)
    assert reason in str(info.value)


@pytest.mark.parametrize("text", ["", "  ", ",,", " ; "])
def test_empty_refused(text):
    with pytest.raises(DescriptionError, match="empty description"):
        parse_description(text)


def test_bad_strength():
    with pytest.raises(DescriptionError, match="must be a number"):
        parse_description("smiling=lots")


def test_as_spec_accepts_mapping_vector_and_string():
    assert dict(as_spec({"smile": 1, "Male": -1}).values) == {"Smiling": 1, "Male": -1}
    vec = np.zeros(40, np.float32)
    vec[ATTRIBUTE_INDEX["Bald"]] = 1
    assert dict(as_spec(vec).values) == {"Bald": 1}
    with pytest.raises(DescriptionError, match="shape"):
        as_spec(np.zeros(3))
    with pytest.raises(DescriptionError, match="contradictory"):
        as_spec({"bald": 1, "bangs": 1})
    spec = parse_description("young")
    assert as_spec(spec) is spec


def test_aliases_and_table():
    assert "glasses" in aliases_of("Eyeglasses")
    assert aliases_of("Eyeglasses")[0] == "eyeglasses"
    table = attribute_table(known=["Young"])
    assert "Young" in table and "- Male" in table
