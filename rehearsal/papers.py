"""Small generated PDFs for the rehearsal's and the demo's dossiers (fpdf2): one page naming the
document, its cluster and its year, so a reader sees at once which file they opened."""

from fpdf import FPDF


def pdf(title: str, *lines: str) -> bytes:
    document = FPDF(format="A4")
    document.set_title(title)
    document.set_creator("Programme d'appui aux clusters (démonstration)")
    document.add_page()
    document.set_font("Helvetica", "B", 18)
    document.multi_cell(0, 10, _latin(title.capitalize()), new_x="LMARGIN", new_y="NEXT")
    document.set_font("Helvetica", size=12)
    for line in lines:
        document.multi_cell(0, 8, _latin(line), new_x="LMARGIN", new_y="NEXT")
    document.set_y(-40)
    document.set_font("Helvetica", "I", 9)
    document.multi_cell(
        0,
        5,
        "Document généré pour la démonstration : sans valeur officielle.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(document.output())


def _latin(text: str) -> str:
    """The core fonts speak Latin-1: French letters pass, typographic quotes are plain."""
    plain = text.replace("’", "'").replace("œ", "oe").replace("«", '"').replace("»", '"')
    return plain.encode("latin-1", "replace").decode("latin-1")
