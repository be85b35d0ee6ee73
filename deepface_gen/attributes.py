"""The attribute language: CelebA's 40 attributes and what people type for them.

A *description* is a sparse, signed set of attributes: ``"youth,black hair,male"``
means Young=+1, Black_Hair=+1, Male=+1 and says nothing about the other 37.
This module turns text (or a mapping, or a vector) into an :class:`AttributeSpec`
and refuses, with a reason, what cannot be meant: unknown words (naming the
nearest valid ones), contradictions, and empty descriptions.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Mapping

import numpy as np

from deepface_gen.checks import MAX_STRENGTH, shorten
from deepface_gen.errors import DescriptionError

# CelebA's attributes in the order of list_attr_celeba.txt.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald",
    "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip
NUM_ATTRIBUTES = len(CELEBA_ATTRIBUTES)
ATTRIBUTE_INDEX: dict[str, int] = {name: i for i, name in enumerate(CELEBA_ATTRIBUTES)}
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

# Everyday words -> (attribute, sign). Canonical names are added automatically.
ALIASES: dict[str, tuple[str, float]] = {
    # age
    "young": ("Young", 1), "youth": ("Young", 1), "youthful": ("Young", 1),
    "child": ("Young", 1), "teen": ("Young", 1), "teenager": ("Young", 1),
    "old": ("Young", -1), "older": ("Young", -1), "elderly": ("Young", -1),
    "aged": ("Young", -1), "senior": ("Young", -1), "adult": ("Young", -1),
    # sex
    "male": ("Male", 1), "man": ("Male", 1), "men": ("Male", 1), "boy": ("Male", 1),
    "guy": ("Male", 1), "masculine": ("Male", 1),
    "female": ("Male", -1), "woman": ("Male", -1), "women": ("Male", -1),
    "girl": ("Male", -1), "lady": ("Male", -1), "feminine": ("Male", -1),
    # hair
    "black": ("Black_Hair", 1), "dark hair": ("Black_Hair", 1),
    "blond": ("Blond_Hair", 1), "blonde": ("Blond_Hair", 1), "blonde hair": ("Blond_Hair", 1),
    "golden hair": ("Blond_Hair", 1), "fair hair": ("Blond_Hair", 1),
    "brown": ("Brown_Hair", 1), "brunette": ("Brown_Hair", 1),
    "gray": ("Gray_Hair", 1), "grey": ("Gray_Hair", 1), "grey hair": ("Gray_Hair", 1),
    "white hair": ("Gray_Hair", 1), "silver hair": ("Gray_Hair", 1),
    "bald": ("Bald", 1), "bald head": ("Bald", 1),
    "bangs": ("Bangs", 1), "fringe": ("Bangs", 1),
    "receding": ("Receding_Hairline", 1),
    "wavy": ("Wavy_Hair", 1), "curly": ("Wavy_Hair", 1), "curly hair": ("Wavy_Hair", 1),
    "straight": ("Straight_Hair", 1),
    # facial hair
    "beard": ("No_Beard", -1), "bearded": ("No_Beard", -1), "full beard": ("No_Beard", -1),
    "clean shaven": ("No_Beard", 1), "shaven": ("No_Beard", 1), "beardless": ("No_Beard", 1),
    "moustache": ("Mustache", 1), "stubble": ("5_o_Clock_Shadow", 1),
    "five o clock shadow": ("5_o_Clock_Shadow", 1), "5 oclock shadow": ("5_o_Clock_Shadow", 1),
    # face
    "glasses": ("Eyeglasses", 1), "spectacles": ("Eyeglasses", 1), "specs": ("Eyeglasses", 1),
    "smile": ("Smiling", 1), "smiley": ("Smiling", 1), "happy": ("Smiling", 1),
    "open mouth": ("Mouth_Slightly_Open", 1), "mouth open": ("Mouth_Slightly_Open", 1),
    "lipstick": ("Wearing_Lipstick", 1), "makeup": ("Heavy_Makeup", 1),
    "make up": ("Heavy_Makeup", 1), "rosy": ("Rosy_Cheeks", 1), "blush": ("Rosy_Cheeks", 1),
    "pale": ("Pale_Skin", 1), "chubby face": ("Chubby", 1), "plump": ("Chubby", 1),
    "oval": ("Oval_Face", 1), "cheekbones": ("High_Cheekbones", 1),
    "eye bags": ("Bags_Under_Eyes", 1), "narrow eye": ("Narrow_Eyes", 1),
    "bushy brows": ("Bushy_Eyebrows", 1), "arched brows": ("Arched_Eyebrows", 1),
    "blurred": ("Blurry", 1), "blur": ("Blurry", 1), "pretty": ("Attractive", 1),
    "handsome": ("Attractive", 1), "beautiful": ("Attractive", 1),
    # accessories
    "hat": ("Wearing_Hat", 1), "cap": ("Wearing_Hat", 1), "earring": ("Wearing_Earrings", 1),
    "earrings": ("Wearing_Earrings", 1), "necklace": ("Wearing_Necklace", 1),
    "necktie": ("Wearing_Necktie", 1), "tie": ("Wearing_Necktie", 1),
}  # fmt: skip

# Pairs that cannot hold together, each (attr, sign), (attr, sign), reason.
CONFLICTS: tuple[tuple[tuple[str, int], tuple[str, int], str], ...] = tuple(
    ((a, 1), (b, 1), "a face has one hair colour")
    for i, a in enumerate(HAIR_COLOURS)
    for b in HAIR_COLOURS[i + 1 :]
) + (
    (("Bald", 1), ("Bangs", 1), "a bald head has no bangs"),
    (("Bald", 1), ("Wavy_Hair", 1), "a bald head has no wavy hair"),
    (("Bald", 1), ("Straight_Hair", 1), "a bald head has no straight hair"),
    (("Wavy_Hair", 1), ("Straight_Hair", 1), "hair is either wavy or straight"),
    (("No_Beard", 1), ("Goatee", 1), "a goatee is a beard"),
    (("Male", -1), ("No_Beard", -1), "the models learned beards only on men"),
    (("Male", -1), ("Goatee", 1), "the models learned goatees only on men"),
    (("Male", -1), ("Mustache", 1), "the models learned moustaches only on men"),
)

_NEGATIONS = ("no", "not", "without", "non", "un")
_TOKEN_SPLIT = re.compile(r"[,;]|\band\b|\bwith\b")


def normalize_phrase(text: str) -> str:
    """Lower-case a phrase and treat '_', '-', apostrophes and runs of spaces alike."""
    text = text.lower().replace("'", "").replace("’", "")
    text = re.sub(r"[_\-\s]+", " ", text)
    return text.strip()


def _build_vocabulary() -> dict[str, tuple[str, float]]:
    vocab = {normalize_phrase(name): (name, 1.0) for name in CELEBA_ATTRIBUTES}
    for phrase, (name, sign) in ALIASES.items():
        vocab[normalize_phrase(phrase)] = (name, float(sign))
    return vocab


VOCABULARY: dict[str, tuple[str, float]] = _build_vocabulary()


def aliases_of(name: str) -> list[str]:
    """All phrases that mean attribute ``name`` (either sign), canonical phrase first."""
    phrases = [p for p, (n, _) in VOCABULARY.items() if n == name]
    canonical = normalize_phrase(name)
    return [canonical] + sorted(p for p in phrases if p != canonical)


def _lookup(phrase: str) -> tuple[str, float] | None:
    if phrase in VOCABULARY:
        return VOCABULARY[phrase]
    # Plurals: "smiles", "glasses" -> "glasse" is no word, so only try safe stems.
    for stem in (
        phrase[:-1] if phrase.endswith("s") else None,
        phrase[:-2] if phrase.endswith("es") else None,
    ):
        if stem and stem in VOCABULARY:
            return VOCABULARY[stem]
    return None


def suggest(phrase: str, n: int = 3) -> list[str]:
    """Canonical attribute names whose phrases are nearest to ``phrase``."""
    matches = difflib.get_close_matches(phrase, list(VOCABULARY), n=12, cutoff=0.55)
    names: list[str] = []
    for match in matches:
        name = VOCABULARY[match][0]
        if name not in names:
            names.append(name)
    return names[:n]


@dataclasses.dataclass(frozen=True)
class AttributeSpec:
    """A sparse, signed attribute description.

    ``values`` maps canonical CelebA names to strengths: +1 present, -1 absent,
    any other magnitude a stronger or weaker request. Attributes not in
    ``values`` are unspecified, which is not the same as absent.
    """

    values: Mapping[str, float]

    def __post_init__(self) -> None:
        """Every strength is a finite number of sensible size (NaN would draw a black face)."""
        for name, value in self.values.items():
            if not math.isfinite(value) or abs(value) > MAX_STRENGTH:
                raise DescriptionError(
                    f"{name}={value:g}: a strength must be a finite number from "
                    f"-{MAX_STRENGTH:g} to {MAX_STRENGTH:g}"
                )

    def vector(self) -> np.ndarray:
        """(40,) float32 strengths, 0 where unspecified."""
        out = np.zeros(NUM_ATTRIBUTES, np.float32)
        for name, value in self.values.items():
            out[ATTRIBUTE_INDEX[name]] = value
        return out

    def mask(self) -> np.ndarray:
        """(40,) bool, True where the description names the attribute."""
        out = np.zeros(NUM_ATTRIBUTES, bool)
        for name in self.values:
            out[ATTRIBUTE_INDEX[name]] = True
        return out

    def __str__(self) -> str:
        return ",".join(
            f"{'+' if v > 0 else '-'}{n}" + ("" if abs(v) == 1 else f"={abs(v):g}")
            for n, v in self.values.items()
        )


def _lookup_negated(phrase: str) -> tuple[str, float] | None:
    """A phrase, or a negated one: "no glasses", "not smiling" ("no beard" is itself a name)."""
    found = _lookup(phrase)
    if found is None:
        words = phrase.split(" ", 1)
        if len(words) == 2 and words[0] in _NEGATIONS:
            inner = _lookup(words[1])
            if inner is not None:
                found = (inner[0], -inner[1])
    return found


def _segment_phrase(phrase: str) -> list[tuple[str, float]] | None:
    """Split "old woman" or "smiling blonde girl" into known phrases, longest first."""
    words = phrase.split()
    found: list[tuple[str, float]] = []
    i = 0
    while i < len(words):
        for j in range(len(words), i, -1):
            match = _lookup_negated(" ".join(words[i:j]))
            if match is not None:
                found.append(match)
                i = j
                break
        else:
            return None
    return found


def _parse_token(token: str) -> list[tuple[str, float]]:
    """One comma-separated token to (name, value) pairs; sign and strength apply to each."""
    raw = token.strip()
    sign = 1.0
    strength = 1.0
    if "=" in raw:
        raw, _, amount = raw.partition("=")
        try:
            strength = float(amount)
        except ValueError:
            raise DescriptionError(
                f"strength in {shorten(token.strip())!r} must be a number, e.g. 'smiling=0.5'"
            ) from None
    raw = raw.strip()
    while raw[:1] in ("+", "-"):
        sign *= -1.0 if raw[0] == "-" else 1.0
        raw = raw[1:].lstrip()
    phrase = normalize_phrase(raw)
    single = _lookup_negated(phrase)
    found = [single] if single is not None else _segment_phrase(phrase)
    if not found:
        hint = suggest(phrase[:200])
        near = f"; did you mean {', '.join(hint)}?" if hint else ""
        raise DescriptionError(
            f"unknown attribute {shorten(token.strip())!r}{near} "
            "(`deepface-gen attributes` lists them all)"
        )
    return [(name, sign * alias_sign * strength) for name, alias_sign in found]


def check_consistency(values: Mapping[str, float]) -> None:
    """Refuse descriptions that contradict themselves, saying why."""
    for (a, sa), (b, sb), reason in CONFLICTS:
        va, vb = values.get(a, 0.0), values.get(b, 0.0)
        if va * sa > 0 and vb * sb > 0:
            raise DescriptionError(
                f"contradictory description: {_signed(a, va)} and {_signed(b, vb)} ({reason})"
            )


def _signed(name: str, value: float) -> str:
    return f"{'' if value > 0 else 'not '}{name}"


def parse_description(text: str) -> AttributeSpec:
    """Parse what a person typed into an :class:`AttributeSpec`.

    Tokens are separated by commas, semicolons, 'and' or 'with'; each may carry
    a sign (``+smiling``, ``-eyeglasses``), a negation (``no glasses``, ``not
    smiling``) and a strength (``smiling=0.5``). Case, spaces, underscores and
    hyphens do not matter. Raises :class:`DescriptionError` for unknown words,
    contradictions (including the same attribute asked both ways) and empty text.
    """
    tokens = [t for t in _TOKEN_SPLIT.split(text or "") if t.strip()]
    if not tokens:
        raise DescriptionError(
            "empty description: name at least one attribute, e.g. 'young, smiling, female'"
        )
    values: dict[str, float] = {}
    for token in tokens:
        for name, value in _parse_token(token):
            _add(values, name, value, token)
    check_consistency(values)
    return AttributeSpec(values)


def _add(values: dict[str, float], name: str, value: float, token: str) -> None:
    """Record one attribute, refusing one already asked for the other way."""
    if name in values and np.sign(values[name]) != np.sign(value):
        raise DescriptionError(
            f"contradictory description: {token.strip()!r} asks for {_signed(name, value)} "
            f"but an earlier word asked for {_signed(name, values[name])}"
        )
    values[name] = value


def as_spec(description: str | Mapping[str, float] | AttributeSpec | np.ndarray) -> AttributeSpec:
    """Accept a string, a {name: strength} mapping, a spec, or a (40,) vector (0 = unspecified)."""
    if isinstance(description, AttributeSpec):
        return description
    if isinstance(description, str):
        return parse_description(description)
    if isinstance(description, Mapping):
        values: dict[str, float] = {}
        for key, value in description.items():
            try:
                amount = float(value)
            except (TypeError, ValueError):
                shown = shorten(repr(value))
                raise DescriptionError(
                    f"strength of {shorten(str(key))!r} must be a number, not {shown}"
                ) from None
            for name, sign in _parse_token(str(key)):
                _add(values, name, sign * amount, str(key))
        if not values:
            raise DescriptionError("empty description: the mapping names no attribute")
        check_consistency(values)
        return AttributeSpec(values)
    try:
        vector = np.asarray(description, dtype=np.float32)
    except (TypeError, ValueError):
        raise DescriptionError(
            f"a description is text, a {{name: strength}} mapping or a ({NUM_ATTRIBUTES},) "
            f"vector, not {type(description).__name__}"
        ) from None
    if vector.shape != (NUM_ATTRIBUTES,):
        raise DescriptionError(
            f"an attribute vector must have shape ({NUM_ATTRIBUTES},), got {vector.shape}"
        )
    values = {CELEBA_ATTRIBUTES[i]: float(v) for i, v in enumerate(vector) if v != 0}
    if not values:
        raise DescriptionError("empty description: the vector is all zeros")
    check_consistency(values)
    return AttributeSpec(values)


def attribute_table(known: Iterable[str] | None = None) -> str:
    """A printable table of the vocabulary; ``known`` marks what a model has learned."""
    known_set = set(known) if known is not None else None
    lines = []
    for name in CELEBA_ATTRIBUTES:
        mark = ""
        if known_set is not None:
            mark = "  " if name in known_set else "- "
        lines.append(f"{mark}{name:<20} {', '.join(aliases_of(name))}")
    if known_set is not None:
        lines.append("('-' marks attributes the model has not learned)")
    return "\n".join(lines)
