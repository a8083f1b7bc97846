"""Electronic signatures of the programme's PDFs (pyHanko, PAdES baseline B-B): a document such as
the committee's PV is signed by the president, then by the secretary, each in a field named for
their function, each as an incremental update so that the earlier signature stays valid. And the
check an auditor makes: every signature intact, valid and chained to the given trust root, the
last one covering the whole file, the earlier ones their whole revision with nothing but
signatures added after them.

Called from activities only (pyHanko runs its own event loop). The signers' keys are the
deployment's, never the repository's: a PKCS#12 archive or a PEM key with its certificate chain
per signer (signer_from_pkcs12, signer_from_pem)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

PRESIDENT, SECRETARY = "président", "secrétaire"
FUNCTIONS = (PRESIDENT, SECRETARY)  # the fields of a PV, in the order they sign
LOCATION = "Rabat"
# What may follow a signature in the file: other signatures and their validation data, no edit.
ALLOWED_AFTER = ModificationLevel.FORM_FILLING


class SignatureRefused(ValueError):
    """A PDF whose signatures do not prove it; the message says why, in French."""


@dataclass(frozen=True)
class Signatory:
    function: str  # one of FUNCTIONS: the signature field's name
    name: str  # as the PV names the person
    signer: signers.Signer


@dataclass(frozen=True)
class VerifiedSignature:
    function: str  # the field's name
    signer: str  # the certificate's common name
    signed_at: datetime | None  # as the signer's machine reported it (B-B has no time stamp)


def signer_from_pkcs12(data: bytes, passphrase: bytes | None = None) -> signers.Signer:
    """A signer from a PKCS#12 archive (key, certificate and its chain)."""
    signer = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase)
    if signer is None:
        raise ValueError("PKCS#12 illisible (fichier ou phrase de passe)")
    return signer


def signer_from_pem(key: bytes, certs: bytes, passphrase: bytes | None = None) -> signers.Signer:
    """A signer from a PEM private key and a PEM bundle: the signer's certificate first, then its
    chain (a « fullchain.pem »)."""
    own, *chain = load_certs_from_pemder_data(certs)
    return signers.SimpleSigner(
        signing_cert=own,
        signing_key=load_private_key_from_pemder_data(key, passphrase=passphrase),
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def sign(pdf: bytes, signatory: Signatory, *, reason: str) -> bytes:
    """`pdf` with `signatory`'s signature appended as an incremental update (an invisible field
    named for their function: a visible one would draw in a font the PDF/A does not embed)."""
    if signatory.function not in FUNCTIONS:
        raise ValueError(f"unknown function: {signatory.function}")
    meta = signers.PdfSignatureMetadata(
        field_name=signatory.function,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        name=signatory.name,
        reason=reason,
        location=LOCATION,
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    out = signers.sign_pdf(writer, meta, signer=signatory.signer)
    return out.getvalue()


def verify(pdf: bytes, trust_roots: Iterable[x509.Certificate]) -> list[VerifiedSignature]:
    """Every signature of `pdf`, in signing order, once each is proven: intact, valid, chained to
    one of `trust_roots`; the last covering the whole file, the earlier ones their whole revision
    with only signatures added after. Refuses (SignatureRefused) at the first that is not."""
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except (PdfError, ValueError, KeyError) as error:
        raise SignatureRefused(f"PDF illisible : {error}") from error
    if not embedded:
        raise SignatureRefused("le PDF ne porte aucune signature")
    context = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False)
    verified = []
    for index, sig in enumerate(embedded):
        field = sig.field_name
        status = validate_pdf_signature(sig, context)
        if not status.intact:
            raise SignatureRefused(f"signature « {field} » : le document a été modifié")
        if not status.valid:
            raise SignatureRefused(f"signature « {field} » : signature cryptographique invalide")
        if not status.trusted:
            raise SignatureRefused(
                f"signature « {field} » : certificat non reconnu par l'autorité de confiance"
            )
        last = index == len(embedded) - 1
        whole = (
            SignatureCoverageLevel.ENTIRE_FILE if last else SignatureCoverageLevel.ENTIRE_REVISION
        )
        if status.coverage is None or status.coverage < whole:
            raise SignatureRefused(f"signature « {field} » : ne couvre pas tout le document")
        if not last and (
            status.modification_level is None or status.modification_level > ALLOWED_AFTER
        ):
            raise SignatureRefused(f"signature « {field} » : document modifié après elle")
        if not status.bottom_line:
            raise SignatureRefused(f"signature « {field} » : non conforme")
        verified.append(
            VerifiedSignature(
                function=field,
                signer=status.signing_cert.subject.native.get("common_name", ""),
                signed_at=status.signer_reported_dt,
            )
        )
    return verified
