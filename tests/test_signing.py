"""A PDF/A signed by the president then the secretary (PAdES, incremental updates), checked as an
auditor would: both signatures valid against the programme's root, the text still the PV's, a
byte changed after signing detected, a signer from another authority refused. The certificate
authority is made here, at test time, and thrown away: nothing of it is committed."""

import io
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.generic import NameObject, TextStringObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from activities.pdf import build_pdf
from activities.signing import (
    PRESIDENT,
    SECRETARY,
    Signatory,
    SignatureRefused,
    sign,
    signer_from_pem,
    signer_from_pkcs12,
    verify,
)

NOW = datetime.now(UTC)  # certificates must be valid now: the validator checks them at its time
REASON = "Approbation du procès-verbal"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministère (essai)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(subject, issuer, public_key, issuer_key, *, ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


class Authority:
    """A throw-away root that issues signing certificates."""

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.cert = _certificate(self.name, self.name, self.key.public_key(), self.key, ca=True)

    @property
    def root(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    def issue(self, common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(_name(common_name), self.name, key.public_key(), self.key, ca=False)
        return key, cert

    def pkcs12(self, common_name: str, passphrase: bytes) -> bytes:
        """The way a signer's key usually arrives: one PKCS#12 file with its chain."""
        key, cert = self.issue(common_name)
        return pkcs12.serialize_key_and_certificates(
            common_name.encode(),
            key,
            cert,
            [self.cert],
            serialization.BestAvailableEncryption(passphrase),
        )

    def pem(self, common_name: str) -> tuple[bytes, bytes]:
        """The other way: a PEM key and a PEM bundle, the signer's certificate then the root."""
        key, cert = self.issue(common_name)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, self.cert))
        return key_pem, chain


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority("Autorité de certification du programme (essai)")


@pytest.fixture(scope="module")
def signatories(authority) -> tuple[Signatory, Signatory]:
    president = signer_from_pkcs12(authority.pkcs12("Amina Berrada", b"phrase"), b"phrase")
    key, chain = authority.pem("Youssef Alaoui")
    return (
        Signatory(PRESIDENT, "Amina Berrada", president),
        Signatory(SECRETARY, "Youssef Alaoui", signer_from_pem(key, chain)),
    )


@pytest.fixture(scope="module")
def document() -> bytes:
    return build_pdf(
        "sample.html",
        {
            "paragraphs": [
                "Le comité de pilotage s'est réuni le 2 mars 2026 à Rabat.",
                "Le quorum étant atteint, la séance est ouverte.",
            ],
            "rows": [("Cluster de l'agro-industrie du Souss", "15,75")],
        },
        title="Procès-verbal de la séance du 2 mars 2026",
        created=datetime(2026, 3, 2, 17, 0, tzinfo=UTC),
    ).content


@pytest.fixture(scope="module")
def signed(document, signatories) -> bytes:
    president, secretary = signatories
    once = sign(document, president, reason=REASON)
    return sign(once, secretary, reason=REASON)


def test_both_signatures_are_valid_in_order(signed, document, authority):
    found = verify(signed, [authority.root])
    assert [(s.function, s.signer) for s in found] == [
        ("président", "Amina Berrada"),
        ("secrétaire", "Youssef Alaoui"),
    ]
    assert all(s.signed_at is not None for s in found)
    # Incremental updates: the unsigned PDF/A is still the first bytes of the signed file.
    assert signed.startswith(document)


def test_the_signed_pdf_still_reads_as_the_pv(signed):
    reader = pypdf.PdfReader(io.BytesIO(signed))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Procès-verbal de la séance du 2 mars 2026" in text
    assert "Le quorum étant atteint, la séance est ouverte." in text
    assert "Cluster de l'agro-industrie du Souss" in text
    fields = reader.get_fields()
    assert set(fields) == {"président", "secrétaire"}
    for field in fields.values():  # PAdES, not the older PKCS#7 detached
        assert field["/V"]["/SubFilter"] == "/ETSI.CAdES.detached"
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp  # still the PDF/A it was


@pytest.mark.parametrize("where", ["metadata", "middle"])
def test_a_byte_changed_after_signing_is_detected(signed, document, authority, where):
    # A letter of the producer's name, or whatever byte lies halfway through the PV's own content
    # (its compressed pages): both inside the ranges the two signatures cover.
    at = signed.index(b"/Producer") + 8 if where == "metadata" else len(document) // 2
    tampered = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1 :]
    with pytest.raises(SignatureRefused, match="« président » : le document a été modifié"):
        verify(tampered, [authority.root])


def _appended(signed: bytes, edit) -> bytes:
    """`signed` with one more incremental update, unsigned, made by `edit` on its writer."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    edit(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_edit_appended_after_the_signatures_is_refused(signed, authority):
    def relabel(writer):  # a later, unsigned change of the document's language
        writer.root[NameObject("/Lang")] = TextStringObject("en")
        writer.update_root()

    with pytest.raises(SignatureRefused, match="« président » : document modifié après elle"):
        verify(_appended(signed, relabel), [authority.root])


def test_even_a_harmless_update_after_the_last_signature_is_refused(signed, authority):
    def restate(writer):  # the language it already has: no change the diff analysis objects to
        writer.root[NameObject("/Lang")] = TextStringObject("fr")
        writer.update_root()

    # The file is no longer exactly what was signed last.
    with pytest.raises(SignatureRefused, match="« secrétaire » : ne couvre pas tout"):
        verify(_appended(signed, restate), [authority.root])
    with pytest.raises(SignatureRefused, match="« secrétaire » : ne couvre pas tout"):
        verify(signed + b"% une note\n", [authority.root])


def test_a_signer_from_another_authority_is_refused(document, authority):
    stranger = Authority("Autorité inconnue")
    key, chain = stranger.pem("Imposteur")
    forged = sign(
        document, Signatory(PRESIDENT, "Imposteur", signer_from_pem(key, chain)), reason=REASON
    )
    assert verify(forged, [stranger.root])[0].signer == "Imposteur"
    with pytest.raises(SignatureRefused, match="non reconnu"):
        verify(forged, [authority.root])


def test_an_unsigned_pdf_is_refused(document, authority):
    with pytest.raises(SignatureRefused, match="aucune signature"):
        verify(document, [authority.root])
