"""Genre from tagger scores: the fixed tag-to-genre map, disco from dance with its decade, reasons."""

import pytest

from ostinato.datasets.vocab import GENRES as VOCAB_GENRES
from ostinato.theory.genre import GENRES, OTHER
from ostinato.theory.genre_tags import GENRE_TAGS, classify_from_tags, genre_evidence
from ostinato.theory.tags import MODELS


def _tags(msd: dict[str, float] | None = None, mtt: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    return {"MSD_musicnn": {t: 0.01 for t in MODELS["MSD_musicnn"]} | (msd or {}),
            "MTT_musicnn": {t: 0.01 for t in MODELS["MTT_musicnn"]} | (mtt or {})}


def test_every_mapped_tag_exists_and_every_genre_is_in_the_vocabulary():
    for genre, entries in GENRE_TAGS.items():
        assert genre in GENRES and genre in VOCAB_GENRES.tokens
        for model, tag, weight in entries:
            assert tag in MODELS[model] and 0 < weight <= 2
    assert "disco" in GENRES and "disco" in VOCAB_GENRES.tokens


@pytest.mark.parametrize(("msd", "mtt", "genre", "quoted"), [
    ({"heavy metal": 0.6, "hard rock": 0.4, "rock": 0.3}, {}, "metal", "'heavy metal' 0.60"),
    ({"jazz": 0.7, "instrumental": 0.5}, {}, "jazz", "'jazz' 0.70"),
    ({"Hip-Hop": 0.5, "electronic": 0.3}, {}, "hip-hop", "'Hip-Hop' 0.50"),
    ({"instrumental": 0.6}, {"classical": 0.8, "strings": 0.6}, "classical", "'classical' 0.80"),
    ({"dance": 0.5, "70s": 0.4, "pop": 0.3}, {}, "disco", "'dance' 0.50"),
])
def test_the_strongest_genre_tag_wins_and_is_quoted(msd, mtt, genre, quoted):
    estimate = classify_from_tags(_tags(msd, mtt))
    assert estimate.genre == genre and estimate.source == "tags"
    assert quoted in estimate.reasons[0]
    assert estimate.secondary is not None and estimate.confidence > estimate.secondary_confidence


def test_dance_without_a_disco_marker_is_not_disco():
    assert genre_evidence(_tags({"dance": 0.6}))["disco"] == pytest.approx(2.0 * 0.01)
    assert classify_from_tags(_tags({"dance": 0.6, "electronic": 0.5})).genre == "electronic"


def test_a_genre_with_many_tags_is_not_favoured_by_their_number():
    # Five rock tags at 0.3 each against one jazz tag at 0.45: the strongest tag decides, not the count.
    rock = {"rock": 0.3, "classic rock": 0.3, "alternative rock": 0.3, "indie rock": 0.3, "punk": 0.3}
    assert classify_from_tags(_tags(rock | {"jazz": 0.45})).genre == "jazz"


def test_weak_tags_give_other_and_rule_reasons_join_the_tagger():
    assert classify_from_tags(_tags()).genre == OTHER
    estimate = classify_from_tags(_tags({"blues": 0.5}), extra_reasons={"blues": ["swing ratio 1.9"]})
    assert estimate.genre == "blues" and estimate.reasons[1:] == ["swing ratio 1.9"]
