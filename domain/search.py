"""Name search that forgives case and accents: "ecole" finds "École", "ESSAADI" finds "Essaâdi"."""

import unicodedata


def folded(text: str) -> str:
    """Lower case, without accents, single spaces: stored beside each name and applied to the
    query, so the database compares plain strings the same way on SQLite and PostgreSQL."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


def contains_pattern(query: str) -> str:
    """A LIKE pattern (escape character backslash) matching names that contain `query`."""
    escaped = folded(query).replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    return f"%{escaped}%"
