"""The portal's messages: extract them and update its French and Arabic catalogues.

`.venv/bin/python scripts/portal_messages.py` reads every French source string of the portal
(portal/**/*.py: `_`, `gettext`, `ngettext`, `N_`; portal/templates: `_`, `gettext`,
`ngettext`, `{% trans %}`; the receipt's PDF template) and rewrites
portal/locale/{fr,ar}/LC_MESSAGES/portal.po: new strings come in untranslated, gone ones leave,
translations stay. The files are sorted and carry no line numbers, so a diff shows only what
changed. Then translate the new Arabic entries (an edited French string keeps its old Arabic
marked fuzzy: check it, then remove the `#, fuzzy` line).

`--check` changes nothing and exits 1 listing each string the code uses that a catalogue lacks,
that has no Arabic translation (empty or fuzzy), or whose Arabic breaks its %(name)s
placeholders; tests/test_portal_i18n.py runs the same check."""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po
from jinja2.ext import babel_extract

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import i18n  # noqa: E402

# `gettext` and `ngettext` are both portal.i18n's (the language first) and Texts' methods (without
# it): the arguments' count tells which.
PYTHON_KEYWORDS = {
    "_": None,
    "N_": None,
    "gettext": {1: (1,), 2: (2,)},
    "ngettext": {3: (1, 2), 4: (2, 3)},
}
TEMPLATE_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
# As portal.i18n.jinja_environment compiles them, so a {% trans %} block's msgid is the same.
TEMPLATE_OPTIONS = {"newstyle_gettext": "true", "trimmed": "true"}
COMMENT_TAGS = ("Traducteurs :",)
TEMPLATE_SUFFIXES = (".html", ".txt")
EXTRA_TEMPLATES = ("activities/pdf_templates/receipt.html",)


def sources() -> Iterator[tuple[Path, bool]]:
    """Each file to read, and whether it is a template."""
    portal = ROOT / "portal"
    for path in sorted(portal.rglob("*.py")):
        yield path, False
    templates = portal / "templates"
    if templates.is_dir():  # absent until the portal has pages
        for path in sorted(templates.rglob("*")):
            if path.suffix in TEMPLATE_SUFFIXES:
                yield path, True
    for name in EXTRA_TEMPLATES:
        if (ROOT / name).is_file():
            yield ROOT / name, True


def extract_messages() -> Catalog:
    """Every message of the code and templates, as a catalogue template (where each was found)."""
    found = Catalog(domain=i18n.DOMAIN, charset="utf-8")
    for path, template in sources():
        with path.open("rb") as file:
            if template:
                extracted = extract(
                    babel_extract, file, TEMPLATE_KEYWORDS, COMMENT_TAGS, TEMPLATE_OPTIONS
                )
            else:
                extracted = extract("python", file, PYTHON_KEYWORDS, COMMENT_TAGS)
            for line, message, comments, context in extracted:
                found.add(
                    message,
                    None,
                    [(path.relative_to(ROOT).as_posix(), line)],
                    auto_comments=comments,
                    context=context,
                )
    return found


def read_catalogue(language: str) -> Catalog | None:
    path = i18n.catalogue_path(language)
    if not path.is_file():
        return None
    with path.open("rb") as file:
        return read_po(file, locale=language, domain=i18n.DOMAIN)


def update(found: Catalog | None = None) -> None:
    """Rewrites both catalogues with the messages `found` (else extracted now)."""
    found = extract_messages() if found is None else found
    for language in i18n.LANGUAGES:
        catalogue = read_catalogue(language)
        if catalogue is None:
            catalogue = Catalog(locale=language, domain=i18n.DOMAIN, charset="utf-8")
            catalogue.project, catalogue.version = "Portail des candidats", "1"
            catalogue.fuzzy = False
            catalogue.header_comment = (
                f"# Portail des candidats, catalogue {language}: French msgids are the source.\n"
                "# Kept up to date by scripts/portal_messages.py; translate here (msgstr)."
            )
        found.creation_date = catalogue.creation_date  # the header changes only with the content
        # French msgids are the French text: no guesses there; in Arabic an edited string keeps
        # its old translation, marked fuzzy (unused until someone checks it).
        catalogue.update(found, no_fuzzy_matching=language == i18n.DEFAULT)
        path = i18n.catalogue_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            write_po(
                file,
                catalogue,
                width=100,
                no_location=True,
                omit_header=False,
                sort_output=True,
                ignore_obsolete=True,
                include_previous=False,
            )


def _shown(message: Message) -> str:
    return " | ".join(message.id) if isinstance(message.id, tuple) else message.id


def problems(
    found: Catalog | None = None, catalogues: dict[str, Catalog | None] | None = None
) -> list[str]:
    """What keeps a string from being shown in both languages, one line each (empty: none):
    the messages `found` (else extracted now) against the `catalogues` (else the .po files)."""
    found = extract_messages() if found is None else found
    lines: list[str] = []
    if catalogues is None:
        catalogues = {language: read_catalogue(language) for language in i18n.LANGUAGES}
    for language, catalogue in catalogues.items():
        if catalogue is None:
            lines.append(f"{i18n.catalogue_path(language).relative_to(ROOT)} : absent")
    arabic = catalogues.get("ar")
    for message in found:
        if not message.id:
            continue  # the header
        where = ", ".join(f"{file}:{line}" for file, line in message.locations)
        missing = [
            language
            for language, catalogue in catalogues.items()
            if catalogue is not None and catalogue.get(message.id, message.context) is None
        ]
        if missing:
            lines.append(f"absent du catalogue {'/'.join(missing)} : {_shown(message)!r} ({where})")
            continue
        translated = arabic.get(message.id, message.context) if arabic is not None else None
        if translated is None:
            continue
        forms = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        if translated.fuzzy or not all(forms):
            lines.append(f"sans traduction arabe : {_shown(message)!r} ({where})")
    if arabic is not None:
        for message, errors in arabic.check():
            if message.fuzzy:
                continue  # already listed, and unused
            for error in errors:
                lines.append(f"traduction arabe invalide : {_shown(message)!r} : {error}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list what is missing")
    arguments = parser.parse_args(argv)
    found = extract_messages()
    if not arguments.check:
        update(found)
    listed = problems(found)
    for line in listed:
        print(line)
    if arguments.check and listed:
        print(
            f"{len(listed)} problème(s) : scripts/portal_messages.py, puis traduire",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
