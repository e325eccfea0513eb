from pathlib import Path

import pytest

from ostinato.pipelines.inputs import InputError, list_inputs


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ["a/one.mp3", "a/b/two.FLAC", "a/b/three.wav", "a/notes.pdf", "four.ogg", "five.m4a"]:
        (tmp_path / rel).write_bytes(b"x" * 10)
    return tmp_path


def test_directory_is_searched_recursively_for_audio(tree):
    uris = [f.uri for f in list_inputs([str(tree / "a")])]
    assert uris == sorted(str(tree / p) for p in ["a/one.mp3", "a/b/two.FLAC", "a/b/three.wav"])


def test_glob_and_list_file_and_dedup(tree):
    listing = tree / "inputs.txt"
    listing.write_text(f"# corpus\n{tree / 'four.ogg'}\n\n{tree / 'a' / 'b'}\n")
    files = list_inputs([str(tree / "*.m4a"), str(listing), str(tree / "four.ogg")])
    assert [Path(f.uri).name for f in files] == ["three.wav", "two.FLAC", "five.m4a", "four.ogg"]
    assert all(f.size == 10 for f in files)


def test_explicit_file_is_kept_whatever_its_extension(tree):
    assert [Path(f.uri).name for f in list_inputs([str(tree / "a" / "notes.pdf")])] == ["notes.pdf"]


def test_missing_input_and_empty_glob_are_errors(tree):
    with pytest.raises(InputError, match="does not exist"):
        list_inputs([str(tree / "nope")])
    with pytest.raises(InputError, match="matches no audio file"):
        list_inputs([str(tree / "*.aiff")])


def test_file_uri_is_accepted(tree):
    assert [Path(f.uri).name for f in list_inputs([f"file://{tree / 'four.ogg'}"])] == ["four.ogg"]
