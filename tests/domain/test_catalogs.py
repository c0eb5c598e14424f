"""The catalogs: every language says everything English says, in its own CLDR plural forms,
with the same {placeholders}, and nothing left in English by mistake."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from server.http.i18n import I18N_DIR, Catalogs

REFERENCE = "en"
# The languages the hall and the speakers need; each must ship a catalog.
REQUIRED = ("zh-CN", "he")
# CLDR plural categories of each language's integers (what Intl.PluralRules(lang).select(n)
# can return; checked against node's ICU below). Chinese has one form; Hebrew has a dual.
# Older CLDR data (before v42) also gave Hebrew `many`: the script's t() then falls back to
# `key.other`, which reads right for those numbers.
PLURALS = {"en": ("one", "other"), "zh-CN": ("other",), "he": ("one", "two", "other")}
# Every catalog gives each plural key in every form any of them needs, so the catalogs have
# one key set (a key is in every language or in none); a form a language never selects
# repeats its `other`.
FORMS = tuple(
    c for c in ("zero", "one", "two", "few", "many", "other") if any(c in f for f in PLURALS.values())
)
CLDR_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
# Strings that are rightly the same in every language: the brand and units read as written.
SAME_EVERYWHERE = frozenset({"Podium", "QR", "CSV", "{ms} ms", "{kbps} kb/s"})

VAR = re.compile(r"\{(\w+)\}")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def load(path: Path) -> dict[str, str]:
    """A catalog as written: strict JSON, one object of strings, no key twice."""

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [k for k, _ in pairs]
        twice = sorted(k for k, n in Counter(keys).items() if n > 1)
        assert not twice, f"{path.name}: keys given twice: {twice}"
        return dict(pairs)

    data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


EN = load(I18N_DIR / f"{REFERENCE}.json")
OTHERS = sorted(p.stem for p in I18N_DIR.glob("*.json") if p.stem != REFERENCE)


def plural_bases(catalog: dict[str, str]) -> set[str]:
    """Keys English gives in plural forms (`key.one`, `key.other`, ...), without the category."""
    return {k.rpartition(".")[0] for k in catalog if k.rpartition(".")[2] in CLDR_CATEGORIES}


PLURAL_BASES = plural_bases(EN)


def test_every_language_the_event_needs_has_a_catalog():
    assert set(REQUIRED) <= set(OTHERS), f"missing catalogs: {sorted(set(REQUIRED) - set(OTHERS))}"


def test_every_plural_key_comes_in_every_form_any_language_needs():
    for base in PLURAL_BASES:
        forms = [k.rpartition(".")[2] for k in EN if k.rpartition(".")[0] == base]
        assert forms == list(FORMS), f"{base}: {forms}, want {list(FORMS)}"


@pytest.mark.parametrize("lang", [REFERENCE, *OTHERS])
def test_a_catalog_is_utf8_json_of_non_empty_strings_written_two_space_indented(lang: str):
    path = I18N_DIR / f"{lang}.json"
    catalog = load(path)
    blank = [k for k, v in catalog.items() if not isinstance(v, str) or not v.strip()]
    assert not blank, f"{lang}: empty or non-string values: {blank}"
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(catalog, ensure_ascii=False, indent=2) + "\n", (
        f"{lang}.json: write it as UTF-8 JSON, 2-space indented, ending in a newline"
    )


@pytest.mark.parametrize("lang", OTHERS)
def test_a_catalog_has_exactly_the_keys_of_english(lang: str):
    assert lang in PLURALS, f"{lang}: add its CLDR plural categories to PLURALS"
    catalog = load(I18N_DIR / f"{lang}.json")
    missing = [k for k in EN if k not in catalog]
    extra = [k for k in catalog if k not in EN]
    assert not missing, f"{lang} lacks keys English has: {missing}"
    assert not extra, f"{lang} has keys English lacks: {extra}"


@pytest.mark.parametrize("lang", OTHERS)
def test_a_catalog_keeps_the_order_of_english(lang: str):
    catalog = load(I18N_DIR / f"{lang}.json")
    wanted = [k for k in EN if k in catalog]
    assert [k for k in catalog if k in wanted] == wanted, f"{lang}.json: keep en.json's key order"


@pytest.mark.parametrize("lang", OTHERS)
def test_a_catalog_keeps_every_placeholder_and_adds_none(lang: str):
    catalog = load(I18N_DIR / f"{lang}.json")
    broken = {}
    for key, text in catalog.items():
        if key not in EN:
            continue  # reported by the key test
        english = EN[key]
        if sorted(VAR.findall(text)) != sorted(VAR.findall(english)):
            broken[key] = text
        elif set("{}") & set(VAR.sub("", text)) and not set("{}") & set(VAR.sub("", english)):
            broken[key] = text  # a brace left over from a mangled {placeholder}
    assert not broken, f"{lang}: placeholders differ from English in {broken}"


@pytest.mark.parametrize("lang", OTHERS)
def test_a_catalog_leaves_nothing_in_english(lang: str):
    catalog = load(I18N_DIR / f"{lang}.json")
    untranslated = {
        key: text
        for key, text in catalog.items()
        if key in EN
        and text == EN[key]
        and text not in SAME_EVERYWHERE
        and LATIN_WORD.search(VAR.sub("", text))
    }
    assert not untranslated, f"{lang}: still English: {untranslated}"


def test_the_plural_table_matches_the_cldr_data_of_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = (
        "const langs = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify(Object.fromEntries(langs.map((l) =>"
        " [l, new Intl.PluralRules(l).resolvedOptions().pluralCategories]))));"
    )
    out = subprocess.run(
        [node, "-e", script, json.dumps(sorted(PLURALS))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    cldr = {lang: set(categories) for lang, categories in json.loads(out.stdout).items()}
    assert cldr == {lang: set(categories) for lang, categories in PLURALS.items()}


def test_the_server_loads_the_catalogs_and_sets_hebrew_right_to_left():
    catalogs = Catalogs()
    assert {"en", *REQUIRED} <= set(catalogs.by_lang)
    for lang in REQUIRED:
        assert catalogs.by_lang[lang] == load(I18N_DIR / f"{lang}.json")
        merged = catalogs.catalog(lang)
        assert set(EN) - set(merged) == set()
        assert merged["qa.title"] == catalogs.by_lang[lang]["qa.title"] != EN["qa.title"]
    assert Catalogs.direction("he") == "rtl"
    assert Catalogs.direction("zh-CN") == "ltr"
    assert Catalogs.direction("en") == "ltr"
    assert "14:30" in catalogs.translate("he", "audience.starts", time="14:30")
    assert catalogs.translate("zh-CN", "audience.starts", time="14:30") == "14:30开始"
