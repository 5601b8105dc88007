"""The PostgreSQL reader's JSON shortcut (orjson where it writes what json writes) against
the definition, canonical_json(json.loads(text)): for every character, and for values of
every shape, floats and long numbers included."""

import json
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from logcenter.engines.postgres.leaves import canonical_json_text
from logcenter.integrity.canonical import canonical_json

# Text as PostgreSQL stores it: any character but NUL and the surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
NUMBERS = st.one_of(st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([1e-05, 1e16, 1e-7, 1e20, 0.1, 100.0, 2 ** 63, -2 ** 63,
                                     2 ** 64 - 1, 2 ** 64, 10 ** 18, -(10 ** 19)]))
JSON = st.recursive(st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


def _as_postgresql_writes(value):
    return json.dumps(value, ensure_ascii=False)  # jsonb's ", " and ": " separators


@settings(max_examples=3000, deadline=None)
@given(JSON)
def test_the_json_shortcut_writes_what_the_definition_writes(value):
    text = _as_postgresql_writes(value)
    assert canonical_json_text(text) == canonical_json(json.loads(text))


def test_every_character_is_written_as_json_writes_it():
    characters = "".join(chr(c) for c in range(1, sys.maxunicode + 1)
                         if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, len(characters), 4096):
        chunk = characters[start:start + 4096]
        text = _as_postgresql_writes({chunk: [chunk, 1]})
        assert canonical_json_text(text) == canonical_json(json.loads(text))


def test_strings_that_look_like_floats_keep_the_shortcut_honest():
    for text in ['{"amount": "0.00600500", "n": 2402}', '[1e5, "1e5"]', '{"a": "x\\"1.5"}',
                 '{"a": 1.0}', '[123456789012345678901234567890]', '{"true": false}']:
        assert canonical_json_text(text) == canonical_json(json.loads(text))
