"""The portal in French and Arabic: gettext catalogues, the person's language, dates and amounts.

French strings are the source (the msgids), in the code (`_`, `gettext`, `ngettext`, `N_` for
constants translated later) and in the templates (`{{ _("Bonjour %(name)s", name=person) }}`).
The catalogues are the committed .po files (portal/locale/*/LC_MESSAGES/portal.po), kept up to
date by scripts/portal_messages.py and compiled in memory at first use: no .mo to forget."""

import functools
import gettext as _gettext
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime as DateTime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, cast

import jinja2
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from markupsafe import Markup

from domain.clock import RABAT

Language = Literal["fr", "ar"]
LANGUAGES: tuple[Language, ...] = ("fr", "ar")
DEFAULT: Language = "fr"
DIRECTION: dict[Language, str] = {"fr": "ltr", "ar": "rtl"}
# Babel's Moroccan locales: ar_MA writes Latin digits, as the Moroccan administration does.
LOCALES: dict[Language, str] = {"fr": "fr_MA", "ar": "ar_MA"}
CURRENCY = "MAD"
DOMAIN = "portal"
LOCALE_FOLDER = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Marks a constant for extraction; translated where it is shown (`gettext(language, …)`)."""
    return message


# The switcher shows each language in itself; a language named in a sentence is translated.
ENDONYMS: dict[Language, str] = {"fr": "Français", "ar": "العربية"}
NAMES: dict[Language, str] = {"fr": N_("français"), "ar": N_("arabe")}


def checked(language: str) -> Language:
    if language not in LANGUAGES:
        raise ValueError(f"unknown portal language: {language!r}")
    return cast(Language, language)


def catalogue_path(language: str) -> Path:
    return LOCALE_FOLDER / checked(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> _gettext.GNUTranslations:
    """The language's catalogue, read from its .po at first use and compiled in memory."""
    with catalogue_path(language).open("rb") as file:
        return compiled(read_po(file, locale=language, domain=DOMAIN))


class _French(_gettext.NullTranslations):
    """What has no translation: the French source, whose plural has its own rule (0 and 1 are
    singular; gettext's fallback would make only 1 singular)."""

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return msgid1 if abs(n) < 2 else msgid2


def compiled(catalogue: Catalog) -> _gettext.GNUTranslations:
    """`catalogue` as gettext reads it, less its fuzzy and untranslated (or half translated)
    entries, which show the French source instead."""
    for message in list(catalogue)[1:]:
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(forms):
            catalogue.delete(message.id, message.context)
    mo = BytesIO()
    write_mo(mo, catalogue, use_fuzzy=False)
    mo.seek(0)
    translated = _gettext.GNUTranslations(mo)
    translated.add_fallback(_French())
    return translated


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


@dataclass(frozen=True)
class Texts:
    """Everything a page or an e-mail writes in one language (Python side: no %-formatting)."""

    lang: Language

    def __post_init__(self) -> None:
        checked(self.lang)

    @property
    def dir(self) -> str:
        return DIRECTION[self.lang]

    @property
    def locale(self) -> str:
        return LOCALES[self.lang]

    def gettext(self, message: str) -> str:
        return gettext(self.lang, message)

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return ngettext(self.lang, singular, plural, n)

    def date(self, value: Date) -> str:
        """« 2 mars 2026 » / « 2 مارس 2026 »; a moment's day in Rabat."""
        if isinstance(value, DateTime):
            value = _in_rabat(value).date()
        return format_date(value, "long", locale=self.locale)

    def datetime(self, value: DateTime, seconds: bool = False) -> str:
        """« 2 mars 2026, 14:35 » in Rabat time (the language's own long pattern)."""
        moment = _in_rabat(value)
        time = format_time(moment, "medium" if seconds else "short", locale=self.locale)
        pattern = str(get_datetime_format("long", locale=self.locale)).replace("'", "")
        return pattern.replace("{0}", time).replace("{1}", format_date(moment, "long", self.locale))

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def amount(self, value: int | float | Decimal) -> str:
        """Dirhams: « 1 500 000,00 MAD » (narrow no-break spaces) / ar_MA's « 1.500.000,00 د.م. »."""
        return format_currency(value, CURRENCY, locale=self.locale)


def _in_rabat(value: DateTime) -> DateTime:
    # Stored times are aware (UTC); a naive one is already Rabat time (domain.clock.to_utc).
    return value.astimezone(RABAT) if value.tzinfo else value.replace(tzinfo=RABAT)


def negotiate(cookie: str | None, accept_language: str | None) -> Language:
    """The `langue` cookie if valid, else the browser's most preferred of fr/ar, else French."""
    if cookie in LANGUAGES:
        return cast(Language, cookie)
    ranked: list[tuple[float, int, Language]] = []
    for order, item in enumerate((accept_language or "").split(",")[:50]):
        tag, *parameters = item.split(";")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().replace("_", "-").split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, order, cast(Language, primary)))
    return min(ranked)[2] if ranked else DEFAULT


# Templates ---------------------------------------------------------------------------------
# The language travels in each render's context, never in the shared environment: compiled
# templates resolve `_`, `gettext`, `ngettext` (the {% trans %} blocks' calls too) from the
# render's variables before the globals, so two renders in two languages on two threads never
# mix. The globals fail loudly: a template rendered another way, or a macro imported without
# `with context`, would otherwise fall back to one language silently.


@functools.cache
def _template_callables(language: Language) -> dict[str, Any]:
    catalogue = translations(language)

    @jinja2.pass_context
    def gettext_(context: jinja2.runtime.Context, message: str, **variables: Any) -> str:
        text = catalogue.gettext(message)
        # Newstyle gettext, as Jinja's own: always a format string (a literal % is written %%),
        # whose values are escaped where the template is.
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables

    @jinja2.pass_context
    def ngettext_(
        context: jinja2.runtime.Context, singular: str, plural: str, n: int, **variables: Any
    ) -> str:
        variables.setdefault("num", n)
        text = catalogue.ngettext(singular, plural, n)
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables

    return {"_": gettext_, "gettext": gettext_, "ngettext": ngettext_}


def _outside_render(*args: object, **kwargs: object) -> str:
    raise RuntimeError(
        "portal templates are rendered by portal.i18n.render (the language comes with each "
        "render); import macros `with context`"
    )


def jinja_environment(folder: Path) -> jinja2.Environment:
    """The portal's templates: HTML escaped (not the e-mails' .txt), gettext newstyle, trimmed."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(("html", "htm", "xml")),
        extensions=["jinja2.ext.i18n"],
    )
    environment.newstyle_gettext = True  # type: ignore[attr-defined]
    environment.policies["ext.i18n.trimmed"] = True
    environment.globals.update(gettext=_outside_render, ngettext=_outside_render)
    return environment


def render(environment: jinja2.Environment, template: str, language: str, **context: Any) -> str:
    """`template` in `language`; the context also gets `lang`, `dir`, `texts` and the gettexts."""
    texts = Texts(checked(language))
    values = {**context, **_template_callables(texts.lang)}
    values.update(lang=texts.lang, dir=texts.dir, texts=texts)
    return environment.get_template(template).render(values)
