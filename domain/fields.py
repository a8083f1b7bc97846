"""The bounded types every message is written in: times, texts a person writes, addresses,
lists of names, ids. A field's bound is chosen by its type, declared once here."""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from domain.clock import local, to_utc

# Aware UTC inside; serialized in Rabat time so people read local clock times.
Moment = Annotated[
    datetime,
    BeforeValidator(to_utc),
    PlainSerializer(lambda v: local(v).isoformat(), return_type=str, when_used="json"),
]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BREAK = re.compile(r"[\r\n\u2028\u2029\x85]")


def _printable(text: str) -> str:
    """No control characters (NUL and the like) in what people write; line breaks are fine."""
    if _CONTROL.search(text):
        raise ValueError("caractères de contrôle interdits")
    return text


def _one_line(text: str) -> str:
    """A name, a title, an address: one line (it may become a mail header or a file name)."""
    if _BREAK.search(text):
        raise ValueError("une seule ligne attendue (pas de retour à la ligne)")
    return _printable(text)


def text(max_length: int, *, lines: bool = False) -> Any:
    """A text a person writes, at most `max_length` characters (« au plus N caractères »),
    on one line unless `lines`. Declare a field's bound by choosing or making such a type:
    a Field(max_length=…) on top of one is refused at import (domain.declarations.check_bounds)."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
        AfterValidator(_printable if lines else _one_line),
    ]


Text = text(200)
LongText = text(2000, lines=True)
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40), AfterValidator(_one_line)
]
# One plain address: no display name, list, group or comment (the relay gets one recipient).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200, pattern=EMAIL_PATTERN)
]


def distinct(items: list[str]) -> list[str]:
    keys = [i.casefold() for i in items]
    if len(set(keys)) != len(keys):
        raise ValueError("les éléments doivent être distincts")
    return items


MAX_ITEMS = 50  # a list of names (sectors, documents, requested items): bounded like the rest
MAX_MEMBERS = 200
MAX_FILES = 200  # files of one case, every version counted
MAX_FILE_BYTES = 20 * 2**20  # a deposited file, unless the call says otherwise
MAX_CASE_BYTES = 200 * 2**20  # all the files of an application (of a cluster's support year)
NOTICE_DAYS = 7  # a notice not sent within so many days flags its case (CallRules.notice_days)
DocumentId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$", max_length=32)]


def text_list(max_items: int) -> Any:
    """Distinct one-line texts (names of sectors, documents, people), at most `max_items`."""
    return Annotated[list[Text], Field(max_length=max_items), AfterValidator(distinct)]


TextList = text_list(MAX_ITEMS)


class Input(BaseModel):
    """Client-supplied payloads: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")
