"""Genre from music-tagger scores: the tags of musicnn's two taggers mapped onto the vocabulary's genres.

musicnn (Pons & Serra 2019) tags 3 s patches with the 50 most frequent tags of two human-tagged collections:
the Million Song Dataset's last.fm tags ("MSD_musicnn": rock, jazz, Hip-Hop, blues, country, soul, dance,
70s, ...) and MagnaTagATune's ("MTT_musicnn": classical, techno, strings, opera, ...). Neither list names
every genre, so each genre is read from the tags that name it, or a style inside it, in either list
(:data:`GENRE_TAGS`): a fixed map written from what the tags mean, not fitted to any labelled clips. The
tag scores are the mean probabilities over the patches tagged.

Evidence for genre ``g`` is the largest ``weight x probability`` of its tags (the largest, not the sum, so a
genre with many synonyms in a tag list is not favoured for them); the track's genre is the best
genre's evidence against the others (a softmax at :data:`TEMPERATURE`) and against :data:`OTHER_EVIDENCE`.
Two genres have no tag of their own: disco is read from "dance" together with a decade of disco's
(70s, 80s) or "funk"; reggae has no tag at all and is never named (the rules of ``theory.genre`` that hold
for the named genre join its reasons). Latin has no tag either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ostinato.theory.genre import OTHER, GenreEstimate
from ostinato.theory.tags import TagScores

MSD, MTT = "MSD_musicnn", "MTT_musicnn"
#: (model, tag, weight) per genre: 1 for a tag naming the genre, less for one that also covers its neighbours.
GENRE_TAGS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "rock": ((MSD, "rock", 1.0), (MSD, "classic rock", 1.0), (MSD, "alternative rock", 0.8), (MSD, "indie rock", 0.8),
             (MSD, "punk", 0.8), (MSD, "Progressive rock", 0.8), (MTT, "rock", 0.5)),
    "metal": ((MSD, "metal", 1.0), (MSD, "heavy metal", 1.0), (MSD, "hard rock", 0.5), (MTT, "metal", 1.0)),
    "pop": ((MSD, "pop", 1.0), (MSD, "indie pop", 0.8), (MTT, "pop", 0.5)),
    "electronic": ((MSD, "electronic", 1.0), (MSD, "electronica", 0.8), (MSD, "electro", 0.8), (MSD, "House", 1.0),
                   (MTT, "techno", 0.5)),
    "hip-hop": ((MSD, "Hip-Hop", 1.0),),
    "r&b": ((MSD, "rnb", 1.0), (MSD, "soul", 0.8)),
    "jazz": ((MSD, "jazz", 1.0),),
    "blues": ((MSD, "blues", 1.0),),
    "country": ((MSD, "country", 1.0), (MTT, "country", 0.5)),
    "folk": ((MSD, "folk", 1.0),),
    "classical": ((MTT, "classical", 1.0), (MTT, "opera", 0.5), (MTT, "choral", 0.5), (MTT, "harpsichord", 0.5)),
    "ambient": ((MSD, "ambient", 1.0), (MTT, "ambient", 0.5), (MTT, "new age", 0.5)),
}
#: Disco: "dance" counts only as much as the strongest of these disco markers.
DISCO_DANCE = (MSD, "dance")
DISCO_MARKERS = ((MSD, "70s"), (MSD, "80s"), (MSD, "funk"))
DISCO_WEIGHT = 2.0
#: Evidence of "<other>": a genre must beat it to be named.
OTHER_EVIDENCE = 0.15
#: Softmax temperature over evidence (tag probabilities are 0..1, so differences of 0.1 matter).
TEMPERATURE = 0.1
#: Tags quoted in a genre's reasons: the strongest few, at least this probable.
REASON_TAGS, REASON_MIN = 3, 0.05



def genre_evidence(tags: TagScores) -> dict[str, float]:
    """Evidence per genre (>= 0) from the taggers' mean probabilities ``tags[model][tag]``."""

    def p(model: str, tag: str) -> float:
        return float(tags.get(model, {}).get(tag, 0.0))

    evidence = {genre: max(w * p(m, t) for m, t, w in entries) for genre, entries in GENRE_TAGS.items()}
    evidence["disco"] = DISCO_WEIGHT * min(p(*DISCO_DANCE), max(p(*marker) for marker in DISCO_MARKERS))
    return evidence


def tag_reasons(genre: str, tags: TagScores) -> list[str]:
    """Human-readable evidence for ``genre``: its strongest tags and their probabilities."""
    entries = [(m, t) for m, t, _ in GENRE_TAGS.get(genre, ())]
    if genre == "disco":
        entries = [DISCO_DANCE, *DISCO_MARKERS]
    found = sorted(((float(tags.get(m, {}).get(t, 0.0)), m, t) for m, t in entries), reverse=True)
    quoted = [f"'{t}' {p:.2f}" for p, _, t in found[:REASON_TAGS] if p >= REASON_MIN]
    return [f"music tagger (musicnn): {', '.join(quoted)}"] if quoted else []


def classify_from_tags(tags: TagScores, *, extra: Mapping[str, float] | None = None,
                       extra_reasons: Mapping[str, list[str]] | None = None) -> GenreEstimate:
    """Primary and secondary genre from tag scores, plus ``extra`` evidence per genre (e.g. rule scores for
    genres without tags) with its reasons; ``"<other>"`` when no genre's evidence reaches OTHER_EVIDENCE."""
    evidence = genre_evidence(tags)
    for genre, value in (extra or {}).items():
        evidence[genre] = evidence.get(genre, 0.0) + value
    evidence[OTHER] = OTHER_EVIDENCE
    top = max(evidence.values())
    weights = {g: math.exp((e - top) / TEMPERATURE) for g, e in evidence.items()}
    total = sum(weights.values())
    ranked = sorted(((g, w / total) for g, w in weights.items()), key=lambda gw: -gw[1])
    (first, p1), (second, p2) = ranked[0], ranked[1]
    if first == OTHER:
        reasons = [f"no genre's tags reach {OTHER_EVIDENCE:.2f} (best: {second}, {evidence[second]:.2f})"]
    else:
        reasons = tag_reasons(first, tags) + list((extra_reasons or {}).get(first, []))
    return GenreEstimate(first, p1, second, p2, reasons, "tags")
