import ast
import re
from pathlib import Path

import pytest

import forms.messages
from forms.messages import FA, t

ARABIC_LETTERS = "يىك"


def test_catalogue_has_no_duplicate_keys_in_source():
    # A dict literal silently keeps the last of two equal keys; several packages edit this file.
    tree = ast.parse(Path(forms.messages.__file__).read_text(encoding="utf-8"))
    (literal,) = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "FA"
    ]
    keys = [key.value for key in literal.keys]
    duplicates = {key for key in keys if keys.count(key) > 1}
    assert duplicates == set()
    assert len(keys) == len(FA)


def test_keys_are_dotted_lowercase_names():
    for key in FA:
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key), key


def test_texts_use_persian_letters_not_arabic():
    for key, text in FA.items():
        assert not set(text) & set(ARABIC_LETTERS), key
        assert re.search("[\u0600-\u06ff]", text), key


def test_t_formats_placeholders():
    assert t("errors.text_too_long", max="۸۰") == "حداکثر ۸۰ نویسه مجاز است."
    assert t("errors.required") == "این فیلد الزامی است."


def test_t_unknown_key_raises():
    with pytest.raises(KeyError):
        t("errors.no_such_key")
