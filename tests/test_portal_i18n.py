"""The portal in French and Arabic: every string translated, the language chosen, pages right to
left in Arabic, dates and amounts in each language's conventions."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from portal import i18n
from scripts import portal_messages

ARABIC_INDIC_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
SPACE = "[\u202f\u00a0 ]"  # Babel's group and currency separators: (narrow) no-break spaces


def test_every_string_of_the_portal_has_an_arabic_translation() -> None:
    found = portal_messages.extract_messages()
    assert len(found) > 2  # at least portal.i18n's own language names
    listed = portal_messages.problems(found)
    assert not listed, (
        "Strings the portal shows that its catalogues lack (run "
        "`.venv/bin/python scripts/portal_messages.py`, then translate in "
        "portal/locale/ar/LC_MESSAGES/portal.po):\n" + "\n".join(listed)
    )


def test_the_check_lists_what_arabic_lacks() -> None:
    found = Catalog(locale=None, domain=i18n.DOMAIN)
    for message in ("Nouveau", "Flou", "Vide", "Bonjour %(name)s", "Absent"):
        found.add(message, locations=[("portal/x.py", 1)])
    french, arabic = Catalog(locale="fr"), Catalog(locale="ar")
    for message in ("Flou", "Vide", "Bonjour %(name)s", "Absent"):
        french.add(message)
    arabic.add("Flou", "ضبابي", flags=["fuzzy"])
    arabic.add("Vide", "")
    arabic.add("Bonjour %(name)s", "مرحبًا %(nom)s")  # a placeholder renamed: a KeyError to come
    listed = portal_messages.problems(found, {"fr": french, "ar": arabic})
    assert listed == [
        "absent du catalogue fr/ar : 'Nouveau' (portal/x.py:1)",
        "sans traduction arabe : 'Flou' (portal/x.py:1)",
        "sans traduction arabe : 'Vide' (portal/x.py:1)",
        "absent du catalogue ar : 'Absent' (portal/x.py:1)",
        "traduction arabe invalide : 'Bonjour %(name)s' : unknown named placeholder 'nom'",
    ]
    assert portal_messages.main(["--check"]) == 0  # the real catalogues are complete


def test_extraction_reads_python_markers_and_templates() -> None:
    found = portal_messages.extract_messages()
    assert found.get("arabe") is not None and found.get("français") is not None  # N_ here
    sources = {file for message in found for file, _ in message.locations}
    assert "portal/i18n.py" in sources
    templates = Path(portal_messages.ROOT, "portal", "templates")
    if templates.is_dir() and any(templates.glob("*.html")):
        assert any(source.startswith("portal/templates/") for source in sources)


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        ("ar", "fr-FR,fr;q=0.9", "ar"),  # the person's choice first
        ("fr", "ar", "fr"),
        (None, "ar-MA,ar;q=0.9,fr;q=0.8", "ar"),
        (None, "fr-MA,fr;q=0.9,ar;q=0.8", "fr"),
        (None, "en-US,en;q=0.9,ar;q=0.8,fr;q=0.7", "ar"),  # the first the portal speaks
        (None, "fr;q=0.5, ar;q=0.8", "ar"),  # by quality, not by order
        (None, "ar;q=0, fr", "fr"),  # q=0: not wanted
        ("en", "AR_ma", "ar"),
        ("", "en-GB,de", "fr"),
        (None, None, "fr"),
        (None, "ar;q=abc,;;,=,", "fr"),
    ],
)
def test_negotiate(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, header) == expected


def test_the_language_names_and_an_unknown_language() -> None:
    assert i18n.Texts("ar").gettext(i18n.NAMES["ar"]) == "العربية"
    assert i18n.Texts("ar")._(i18n.NAMES["fr"]) == "الفرنسية"
    assert i18n.gettext("fr", i18n.NAMES["ar"]) == "arabe"
    assert i18n.gettext("ar", "Une phrase que personne n'a traduite") == (
        "Une phrase que personne n'a traduite"
    )
    with pytest.raises(ValueError, match="unknown portal language"):
        i18n.Texts("en")  # type: ignore[arg-type]


def test_fuzzy_and_half_translated_entries_are_not_used_and_plurals_follow_each_language() -> None:
    arabic = Catalog(locale="ar")
    arabic.add("Fichier", "ملف")
    arabic.add("Flou", "ضبابي", flags=["fuzzy"])
    forms = ("لا ملف", "ملف واحد", "ملفان", "%(num)s ملفات", "%(num)s ملفًا", "%(num)s ملف")
    arabic.add(("%(num)s fichier", "%(num)s fichiers"), forms)
    arabic.add(("un lien", "%(num)s liens"), ("", "رابط", "", "", "", ""))
    translated = i18n.compiled(arabic)
    assert translated.gettext("Fichier") == "ملف"
    assert translated.gettext("Flou") == "Flou"
    shown = [translated.ngettext("%(num)s fichier", "%(num)s fichiers", n) for n in range(3)]
    assert shown == ["لا ملف", "ملف واحد", "ملفان"]
    assert translated.ngettext("%(num)s fichier", "%(num)s fichiers", 5) == "%(num)s ملفات"
    assert translated.ngettext("%(num)s fichier", "%(num)s fichiers", 11) == "%(num)s ملفًا"
    assert translated.ngettext("%(num)s fichier", "%(num)s fichiers", 100) == "%(num)s ملف"
    assert translated.ngettext("un lien", "%(num)s liens", 1) == "un lien"  # French, not half

    french = Catalog(locale="fr")
    french.add(("%(num)s fichier", "%(num)s fichiers"))
    french.add("Déposé", "Déposé ?", flags=["fuzzy"])
    source = i18n.compiled(french)
    # French: 0 and 1 are singular (gettext alone would say « 0 fichiers »), in the catalogue
    # or not yet.
    for singular, plural in (("%(num)s fichier", "%(num)s fichiers"), ("un lien", "des liens")):
        shown = [source.ngettext(singular, plural, n) for n in (0, 1, 2, 1_000_000)]
        assert shown == [singular, singular, plural, plural]
    assert source.gettext("Déposé") == "Déposé"


def test_amounts_numbers_and_dates_in_each_language() -> None:
    french, arabic = i18n.Texts("fr"), i18n.Texts("ar")
    assert (french.lang, french.dir, arabic.lang, arabic.dir) == ("fr", "ltr", "ar", "rtl")

    assert re.fullmatch(f"1{SPACE}500{SPACE}000,00{SPACE}MAD", french.amount(1_500_000))
    assert re.fullmatch(f"12{SPACE}345,5", french.number(Decimal("12345.5")))
    # ar_MA: Latin digits grouped by dots, a decimal comma, the dirham's Arabic symbol (and the
    # right-to-left marks Babel puts around it).
    shown = arabic.amount(Decimal("1500000"))
    assert "1.500.000,00" in shown and "د.م." in shown
    assert not ARABIC_INDIC_DIGITS.search(shown)
    assert arabic.number(12345.5) == "12.345,5"

    assert french.date(date(2026, 3, 2)) == "2 mars 2026"
    assert arabic.date(date(2026, 3, 2)) == "2 مارس 2026"
    # Shown in Rabat time: 23:30 UTC on 2 June is 00:30 on the 3rd in Rabat (UTC+1).
    late = datetime(2026, 6, 2, 23, 30, tzinfo=UTC)
    assert french.date(late) == "3 juin 2026"
    assert re.fullmatch(r"3 juin 2026\W+00:30", french.datetime(late))
    assert re.fullmatch(r"3 يونيو 2026\W+00:30:00", arabic.datetime(late, seconds=True))
    assert not ARABIC_INDIC_DIGITS.search(arabic.datetime(late))
    # In Ramadan Rabat is on UTC: 13:35 UTC is 13:35 there.
    assert french.datetime(datetime(2026, 3, 2, 13, 35, tzinfo=UTC)).endswith("13:35")


TEMPLATES = {
    "base.html": '<html lang="{{ lang }}" dir="{{ dir }}"><title>{{ _("Langue") }}</title>'
    "{% block content %}{% endblock %}</html>",
    "page.html": '{% extends "base.html" %}{% import "macros.html" as m with context %}'
    "{% block content %}<p>{{ _(name) }}</p>{% include 'aside.html' %}"
    "<p>{% trans count=files %}{{ count }} fichier{% pluralize %}{{ count }} fichiers"
    "{% endtrans %}</p><p>{{ ngettext('%(num)s lien', '%(num)s liens', files) }}</p>"
    "<p>{{ m.label() }}</p><p>{{ texts.amount(amount) }}</p>"
    '<p>{{ _("Invitation envoyée à %(email)s.", email=email) }}</p>{% endblock %}',
    "aside.html": "<aside>{{ gettext('Se déconnecter') }}</aside>",
    "macros.html": "{% macro label() %}{{ _('Accueil') }}{% endmacro %}",
    "lost.html": '{% import "macros.html" as m %}{{ m.label() }}',
    "mail.txt": '{{ _("Invitation envoyée à %(email)s.", email=email) }}',
}


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("templates")
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return i18n.jinja_environment(folder)


def _page(environment, language: str, **values) -> str:
    context = {"name": i18n.NAMES["ar"], "files": 1, "amount": 250000, "email": "a@b.ma"}
    return i18n.render(environment, "page.html", language, **{**context, **values})


def test_a_page_in_arabic_is_right_to_left_and_in_french_left_to_right(environment) -> None:
    arabic = _page(environment, "ar", email="<b>@exemple.ma")
    assert arabic.startswith('<html lang="ar" dir="rtl"><title>اللغة</title>')
    for text in ("<p>العربية</p>", "<aside>تسجيل الخروج</aside>", "<p>الرئيسية</p>"):
        assert text in arabic
    assert "أُرسلت الدعوة إلى &lt;b&gt;@exemple.ma." in arabic  # the value escaped, not the text
    assert "1.250.000,00" not in arabic and "250.000,00" in arabic

    french = _page(environment, "fr", files=0)
    assert french.startswith('<html lang="fr" dir="ltr"><title>Langue</title>')
    for text in ("<p>arabe</p>", "<aside>Se déconnecter</aside>", "<p>Accueil</p>"):
        assert text in french
    assert "<p>0 fichier</p>" in french and "<p>0 lien</p>" in french  # French: 0 is singular
    assert re.search(f"250{SPACE}000,00{SPACE}MAD", french)
    assert "<p>2 fichiers</p>" in _page(environment, "fr", files=2)

    # An e-mail's text part is not HTML: nothing escaped.
    text = i18n.render(environment, "mail.txt", "fr", email="<b>@exemple.ma")
    assert text == "Invitation envoyée à <b>@exemple.ma."


def test_renders_in_both_languages_at_once_never_mix(environment) -> None:
    expected = {language: _page(environment, language) for language in i18n.LANGUAGES}
    assert expected["fr"] != expected["ar"]
    start = threading.Barrier(8)

    def render(turn: int) -> tuple[str, str]:
        if turn < 8:
            start.wait()  # the first ones together
        language = i18n.LANGUAGES[turn % 2]
        return language, _page(environment, language)

    with ThreadPoolExecutor(8) as pool:
        for language, page in pool.map(render, range(400)):
            assert page == expected[language]


def test_a_template_rendered_without_its_language_fails_loudly(environment) -> None:
    with pytest.raises(RuntimeError, match="portal.i18n.render"):
        i18n.render(environment, "lost.html", "ar")  # a macro imported without context
    with pytest.raises(RuntimeError, match="portal.i18n.render"):
        environment.get_template("page.html").render(name="x", files=1)
