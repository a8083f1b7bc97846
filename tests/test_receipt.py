"""The signed deposit receipt (portal.receipt), as the association and anyone after it checks it:
a receipt signed with the service's key verifies offline, from Python and from the command line,
and fails once the deposit's time or one byte of one file is changed, when another key signed it,
or when receipt.json is truncated; its PDF/A in French and in Arabic is deterministic, carries
every hash, and its Arabic is real text in an embedded font, shaped (contextual forms, ligatures).
Real key, real files in tmp_path, real PDFs; nothing mocked."""

import hashlib
import io
import json
import re
import stat
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from activities.pdf import render_html
from domain.clock import RABAT
from portal.receipt import (
    Receipt,
    ReceiptFile,
    ReceiptInvalid,
    key_id,
    load_key,
    public_pem,
    receipt_pdf,
    sign,
    verify,
)

ROOT = Path(__file__).parent.parent
# In Ramadan 2026 Rabat is at UTC+00:00; the deadline, after it, at UTC+01:00.
DEPOSITED = datetime(2026, 3, 2, 13, 35, 12, tzinfo=UTC)
DEADLINE = datetime(2026, 3, 30, 15, 0, tzinfo=RABAT)
FILES = {
    "statuts.pdf": ("statuts de l'association", b"%PDF-1.7\n" + bytes(range(256)) * 40),
    "budget prévisionnel.xlsx": ("budget prévisionnel", b"PK\x03\x04" + b"budget " * 500),
    "رسالة الترشيح.pdf": ("lettre de candidature", b"%PDF-1.7\nlettre"),
}
ARABIC_LETTERS = re.compile(r"[\u0621-\u064a]")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dossier = tmp_path / "dossier"
    dossier.mkdir()
    for name, (_, content) in FILES.items():
        (dossier / name).write_bytes(content)
    return dossier


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_key(tmp_path / "secrets" / "recus" / "cle.pem")


def make_receipt(folder: Path, language: str = "fr") -> Receipt:
    files = []
    for name, (kind, _) in FILES.items():
        content = (folder / name).read_bytes()
        files.append(
            ReceiptFile(
                name=name,
                kind=kind,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
        )
    return Receipt(
        call_id="appel-2026-01",
        call_title="Appel à projets 2026 — clusters industriels",
        deadline=DEADLINE,
        association_id="assoc-0042",
        association_name="Association du cluster agro-industriel du Souss",
        application_id="cand-2026-0007",
        deposited_by="Fatima Zahra El Amrani",
        deposited_at=DEPOSITED,
        files=files,
        language=language,
    )


@pytest.fixture
def signed(folder: Path, key: Ed25519PrivateKey, tmp_path: Path) -> Path:
    path = tmp_path / "recu.json"
    path.write_bytes(sign(make_receipt(folder), key))
    (tmp_path / "cle_publique.pem").write_bytes(public_pem(key))
    return path


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal.receipt", "verify", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        timeout=60,
    )


def assert_refused(run: subprocess.CompletedProcess[str], reason: str) -> None:
    assert run.returncode == 1, run
    assert run.stdout.startswith("Reçu invalide : ")
    assert reason in run.stdout
    assert run.stderr == ""  # a message, never a traceback


# The key ----------------------------------------------------------------------------------


def test_the_key_is_made_once_readable_by_its_owner_alone(tmp_path: Path):
    path = tmp_path / "secrets" / "recus" / "cle.pem"
    first = load_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_key(path)
    assert public_pem(again) == public_pem(first)
    assert public_pem(first).startswith(b"-----BEGIN PUBLIC KEY-----")
    assert re.fullmatch(r"[0-9a-f]{16}", key_id(first.public_key()))
    assert list(path.parent.iterdir()) == [path]  # nothing left aside


# Signing and checking ---------------------------------------------------------------------


def test_a_signed_receipt_verifies_with_its_files_and_the_services_key(
    signed: Path, folder: Path, key: Ed25519PrivateKey
):
    document = json.loads(signed.read_bytes())
    assert document["format"] == "recu-depot/1" and document["algorithme"] == "Ed25519"
    assert document["cle_id"] == key_id(key.public_key())
    recu = document["recu"]
    # Rabat's wall clock with its offset: UTC+00:00 in Ramadan, UTC+01:00 after it.
    assert recu["deposited_at"] == "2026-03-02T13:35:12+00:00"
    assert recu["deadline"] == "2026-03-30T15:00:00+01:00"
    assert recu["service"] == "Programme d'appui aux clusters"
    assert [f["sha256"] for f in recu["files"]] == [
        hashlib.sha256(content).hexdigest() for _, content in FILES.values()
    ]

    receipt = verify(signed.read_bytes(), trusted_public_pem=public_pem(key), folder=folder)
    assert receipt == make_receipt(folder)
    assert receipt.deposited_at.tzinfo == RABAT
    one = {"statuts.pdf": folder / "statuts.pdf"}
    assert verify(signed.read_bytes(), one).application_id == "cand-2026-0007"


def test_the_command_line_verifies_it_offline(signed: Path, folder: Path):
    run = cli(signed, "--dossier", folder, "--cle", signed.parent / "cle_publique.pem")
    assert run.returncode == 0, run
    assert run.stdout.startswith("Reçu valide : dépôt de la candidature cand-2026-0007")
    assert "2026-03-02T13:35:12+00:00 (heure de Rabat)" in run.stdout
    assert "3 fichier(s) au reçu, 3 vérifié(s)" in run.stdout
    assert "Attention" not in run.stdout

    # The files one by one, without the service's key: valid, but the command says what it
    # did not check.
    run = cli(signed, folder / "statuts.pdf")
    assert run.returncode == 0, run
    assert "1 vérifié(s)" in run.stdout
    assert "la clé n'a pas été comparée" in run.stdout
    assert "des fichiers du reçu n'ont pas été vérifiés" in run.stdout


def test_verifying_needs_neither_weasyprint_nor_babel():
    script = "import sys, portal.receipt; print(sorted({'weasyprint', 'babel'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out


def test_changing_the_time_of_deposit_fails_it(signed: Path, folder: Path):
    text = signed.read_text(encoding="utf-8")
    earlier = text.replace("2026-03-02T13:35:12+00:00", "2026-03-02T13:34:12+00:00")
    assert earlier != text
    signed.write_text(earlier, encoding="utf-8")
    with pytest.raises(ReceiptInvalid, match="signature invalide"):
        verify(signed.read_bytes())
    assert_refused(cli(signed, "--dossier", folder), "signature invalide")


def test_pretty_printing_does_not_matter_but_any_value_does(signed: Path):
    document = json.loads(signed.read_bytes())
    compact = json.dumps(document, separators=(",", ":")).encode()  # \u escapes, no spaces
    assert verify(compact).deposited_by == "Fatima Zahra El Amrani"
    document["recu"]["files"][1]["size"] += 1
    with pytest.raises(ReceiptInvalid, match="signature invalide"):
        verify(json.dumps(document).encode())


def test_one_byte_changed_in_one_file_fails_it_naming_the_file(signed: Path, folder: Path):
    path = folder / "budget prévisionnel.xlsx"
    content = bytearray(path.read_bytes())
    content[100] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(ReceiptInvalid) as refused:
        verify(signed.read_bytes(), folder=folder)
    assert str(refused.value) == (
        "fichier modifié : budget prévisionnel.xlsx (son SHA-256 n'est plus celui du reçu)"
    )
    assert_refused(cli(signed, "--dossier", folder), "fichier modifié : budget prévisionnel.xlsx")
    assert_refused(cli(signed, path), "fichier modifié : budget prévisionnel.xlsx")
    # The other files still match their receipt.
    assert cli(signed, folder / "statuts.pdf").returncode == 0


def test_a_file_of_another_size_missing_or_unlisted_fails_it(signed: Path, folder: Path):
    with (folder / "statuts.pdf").open("ab") as out:
        out.write(b"\n")
    (folder / "رسالة الترشيح.pdf").unlink()
    extra = folder / "autre.pdf"
    extra.write_bytes(b"%PDF-1.7\n")
    run = cli(signed, "--dossier", folder, extra)
    assert_refused(run, "fichier modifié : statuts.pdf (10250 octets au lieu de 10249)")
    assert "fichier manquant : رسالة الترشيح.pdf" in run.stdout
    assert "fichier non mentionné par le reçu : autre.pdf" in run.stdout


def test_a_receipt_signed_by_another_key_fails_against_the_services(
    signed: Path, folder: Path, tmp_path: Path
):
    other = load_key(tmp_path / "autre" / "cle.pem")
    (tmp_path / "autre.pem").write_bytes(public_pem(other))
    assert_refused(cli(signed, "--cle", tmp_path / "autre.pem"), "pas par celle du service")

    # A forger who moves the deposit before the deadline and signs again with a key of their
    # own: the receipt holds together, but not against the service's key.
    forged = make_receipt(folder).model_copy(update={"deposited_at": DEPOSITED - timedelta(days=9)})
    signed.write_bytes(sign(forged, other))
    assert cli(signed, "--dossier", folder).returncode == 0
    run = cli(signed, "--dossier", folder, "--cle", tmp_path / "cle_publique.pem")
    assert_refused(run, f"le reçu est signé par la clé {key_id(other.public_key())}")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "JSON invalide (ligne"),  # the signed file, truncated
        (b"\x89PNG\r\n\x1a\n\x00\xff", "ce n'est pas du texte UTF-8"),
        (b"[1, 2, 3]", "ce n'est pas un reçu de dépôt"),
        (b'{"format": "recu-depot/1", "format": "x"}', "une clé JSON y figure deux fois"),
        (b'{"format": "recu-depot/1", "algorithme": "RSA"}', "algorithme de signature inconnu"),
        (b"[" * 100_000, "JSON"),
    ],
)
def test_a_truncated_or_garbage_receipt_fails_with_a_clear_message(
    signed: Path, content: bytes | None, reason: str
):
    data = signed.read_bytes()
    signed.write_bytes(data[: len(data) // 2] if content is None else content)
    assert_refused(cli(signed), reason)


def test_a_receipt_with_a_broken_key_or_signature_field_fails(signed: Path):
    document = json.loads(signed.read_bytes())
    for field, value in [("signature", "pas du base64!"), ("cle_publique", "AAAA"), ("cle_id", 1)]:
        broken = {**document, field: value}
        with pytest.raises(ReceiptInvalid):
            verify(json.dumps(broken).encode())


def test_missing_files_and_keys_are_told_not_traced(signed: Path, tmp_path: Path):
    assert_refused(cli(tmp_path / "absent.json"), "fichier illisible")
    (tmp_path / "pas-une-cle.pem").write_text("bonjour")
    assert_refused(cli(signed, "--cle", tmp_path / "pas-une-cle.pem"), "clé publique illisible")


def test_a_receipt_refuses_naive_times_paths_and_twin_names(folder: Path):
    receipt = make_receipt(folder)
    with pytest.raises(ValidationError):
        Receipt.model_validate({**receipt.model_dump(), "deposited_at": datetime(2026, 3, 2)})
    with pytest.raises(ValidationError):
        ReceiptFile(name="../../etc/passwd", kind="statuts", size=1, sha256="0" * 64)
    with pytest.raises(ValidationError):
        Receipt.model_validate(
            {**receipt.model_dump(), "files": [receipt.files[0], receipt.files[0]]}
        )


# The PDF ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, bytes, Receipt]]:
    """Each language's PDF built twice, from the same key."""
    base = tmp_path_factory.mktemp("pdf")
    dossier = base / "dossier"
    dossier.mkdir()
    for name, (_, content) in FILES.items():
        (dossier / name).write_bytes(content)
    key = load_key(base / "cle.pem")
    built = {}
    for language in ("fr", "ar"):
        receipt = make_receipt(dossier, language)
        signed = sign(receipt, key)
        built[language] = (
            receipt_pdf(receipt, signed),
            receipt_pdf(receipt, sign(receipt, key)),
            receipt,
        )
    return built


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def _glyphs(pdf: bytes) -> dict[str, set[str]]:
    """Text each embedded glyph stands for (the fonts' ToUnicode maps) → the glyphs."""
    glyphs: dict[str, set[str]] = defaultdict(set)
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            cmap = font.get_object()["/ToUnicode"].get_object().get_data().decode()
            for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
                for glyph, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                    glyphs[bytes.fromhex(text).decode("utf-16-be")].add(glyph)
    return glyphs


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_pdf_is_deterministic_and_shows_every_hash(pdfs, language: str):
    first, second, receipt = pdfs[language]
    assert first == second
    assert first.startswith(b"%PDF-1.7")
    reader = pypdf.PdfReader(io.BytesIO(first))
    assert reader.trailer["/Root"]["/Lang"] == language
    assert reader.metadata["/CreationDate"] == "D:20260302133512Z"  # the deposit, not now
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(font.get_object()["/BaseFont"].split("+")[1])
    assert fonts <= {"Document-Sans", "Document-Sans-Bold"}  # DejaVu only, no fallback font
    text = _text(first)
    flat = re.sub(r"\s", "", text)
    for file in receipt.files:
        assert file.sha256 in flat
    # Names as written (an Arabic name among French comes out in the order it is drawn).
    assert "statuts.pdf" in text and "budget prévisionnel.xlsx" in text
    assert "رسالة الترشيح" in text
    assert "cand-2026-0007" in text
    assert "Fatima Zahra El Amrani" in text
    assert "python -m portal.receipt verify recu.json --dossier <dossier>" in text


def test_the_french_pdf_reads_in_french(pdfs):
    text = re.sub(r"[^\S\n]", " ", _text(pdfs["fr"][0]))  # Babel's narrow spaces too
    assert "Accusé de réception du dépôt" in text
    assert "2 mars 2026, 13:35:12, heure de Rabat (UTC+00:00)" in text
    assert "30 mars 2026, 15:00:00, heure de Rabat (UTC+01:00)" in text
    assert "10 249" in text  # the size as French writes it
    assert not ARABIC_LETTERS.search(text.replace("رسالة الترشيح", ""))


def test_the_arabic_pdf_is_arabic_text_shaped_in_the_embedded_font(pdfs):
    pdf = pdfs["ar"][0]
    text = _text(pdf)
    assert "إشعار باستلام الإيداع" in text  # the title, in logical order
    assert "الملفات المودعة" in text
    assert "مارس" in text  # the month, as Babel writes it in ar_MA
    assert "صفحة" in text  # the page numbers, in Arabic too
    glyphs = _glyphs(pdf)
    # HarfBuzz shaped it: a letter in several contextual forms, lam-alef as one ligature.
    assert len(glyphs["ع"]) >= 2
    assert "لا" in glyphs
    assert pdf != pdfs["fr"][0]


def test_the_layout_takes_the_language_and_leaves_other_documents_as_they_were():
    created = datetime(2026, 3, 2, 18, 0, tzinfo=RABAT)
    context = {"paragraphs": ["x"], "rows": []}
    french = render_html("sample.html", context, title="t", created=created)
    assert '<html lang="fr">\n' in french
    arabic = render_html(
        "sample.html", {**context, "lang": "ar", "dir": "rtl"}, title="t", created=created
    )
    assert '<html lang="ar" dir="rtl">\n' in arabic


def test_the_pdf_refuses_a_signature_of_another_receipt(folder: Path, key: Ed25519PrivateKey):
    receipt = make_receipt(folder)
    other = receipt.model_copy(update={"deposited_by": "Quelqu'un d'autre"})
    with pytest.raises(ValueError, match="not this receipt's"):
        receipt_pdf(receipt, sign(other, key))
