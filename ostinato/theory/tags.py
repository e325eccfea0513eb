"""The tag vocabularies of the music taggers, in their output order, and their rows in the ``tracks`` table.

musicnn 0.1.0 (Pons & Serra, MTG-UPF, ISC licence) ships two taggers: the 50 most frequent tags of
MagnaTagATune (``MTT_musicnn``) and of the Million Song Dataset's last.fm tags (``MSD_musicnn``). The names
are copied from its ``configuration.py`` (MTT_LABELS, MSD_LABELS); ``analysis.musicnn_tagger`` runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Tag names in output order, from musicnn 0.1.0's ``configuration.py`` (MTT_LABELS, MSD_LABELS).
MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)
MODELS = {"MTT_musicnn": MTT_LABELS, "MSD_musicnn": MSD_LABELS}

#: Tagger -> tag -> probability (the mean over the tagged patches).
TagScores = Mapping[str, Mapping[str, float]]


def tag_rows(tags: TagScores | None) -> list[dict[str, Any]] | None:
    """``music_tags`` column entries (``tagger``, ``tag``, ``probability``) in the taggers' output order."""
    if tags is None:
        return None
    return [{"tagger": model, "tag": tag, "probability": float(tags[model][tag])}
            for model, labels in MODELS.items() if model in tags for tag in labels if tag in tags[model]]


def tags_from_rows(entries: Iterable[Mapping[str, Any]] | None) -> dict[str, dict[str, float]] | None:
    """The tag scores of a row's ``music_tags`` column; None when the row has none."""
    tags: dict[str, dict[str, float]] = {}
    for entry in entries or []:
        if entry and entry.get("probability") is not None:
            tags.setdefault(entry["tagger"], {})[entry["tag"]] = float(entry["probability"])
    return tags or None
