"""The signed, time-stamped deposit receipt: on each deposit the portal gives the association a
receipt.json (the call, the association, the moment of deposit in Rabat time and the SHA-256 of
every file, signed with the service's Ed25519 key) and the same receipt as a PDF/A in French or
Arabic. Anyone checks it offline, without the service, with the service's public key:

    python -m portal.receipt verify recu.json --dossier <dossier> --cle cle_publique.pem

The signature covers the canonical JSON of the « recu » object (keys sorted, no spaces, UTF-8),
so the file's pretty-printing does not matter but any change to a value (the time, a hash) does.
Verifying needs only cryptography and pydantic: the PDF's imports (WeasyPrint, Babel) are made
when a PDF is built, never by the verifying command."""

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_serializer,
    model_validator,
)

from domain.clock import local

FORMAT = "recu-depot/1"
ALGORITHM = "Ed25519"
SERVICE = "Programme d'appui aux clusters"  # activities.pdf.PROGRAMME, not imported: no WeasyPrint
COMMAND = "python -m portal.receipt verify recu.json --dossier <dossier> --cle cle_publique.pem"


class ReceiptInvalid(ValueError):
    """A receipt that proves nothing, or files it does not describe; the message says why, in
    French, for the person who runs the check."""


def _file_name(name: str) -> str:
    """A bare file name: matched by name in a folder, it must not lead out of it."""
    if name in {".", ".."} or any(c in name for c in "/\\"):
        raise ValueError("un nom de fichier, sans chemin")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError("caractères de contrôle interdits")
    return name


Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_file_name)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Moment = Annotated[AwareDatetime, AfterValidator(local)]  # a naive time is not one moment


class ReceiptFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    kind: Label  # the document's kind, as the call's checklist names it
    size: int = Field(ge=0)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Receipt(BaseModel):
    """What the service attests: this association deposited these files for this call, then."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: Literal["Programme d'appui aux clusters"] = SERVICE
    call_id: Label
    call_title: Label
    deadline: Moment
    association_id: Label
    association_name: Label
    application_id: Label
    deposited_by: Label  # the person who deposited, by name
    deposited_at: Moment
    files: list[ReceiptFile] = Field(min_length=1)
    language: Literal["fr", "ar"] = "fr"

    @field_serializer("deadline", "deposited_at")
    def _rabat(self, value: datetime) -> str:
        # Rabat's wall clock with its offset: what the association reads is the moment itself.
        return local(value).isoformat()

    @model_validator(mode="after")
    def _names_unique(self) -> "Receipt":
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("deux fichiers du reçu portent le même nom")
        return self


# The key -----------------------------------------------------------------------------------


def load_key(path: Path) -> Ed25519PrivateKey:
    """The service's signing key at `path` (PEM, PKCS#8, readable by its owner alone), made on
    first use. Two processes starting at once get the same key: the file appears whole or not at
    all (written aside, then linked in place, which fails if another got there first)."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(aside, path)
            except FileExistsError:
                pass  # another process made it first: theirs is the key
        finally:
            aside.unlink(missing_ok=True)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} n'est pas une clé Ed25519")
    return key


def _public(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public key as the service publishes it (cle_publique.pem, SubjectPublicKeyInfo)."""
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(public: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A short name for the key, to compare by eye: 16 hex digits of the raw key's SHA-256."""
    return hashlib.sha256(_raw(_public(public))).hexdigest()[:16]


# Signing and checking ----------------------------------------------------------------------


def canonical(recu: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers."""
    return json.dumps(recu, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(receipt: Receipt, key: Ed25519PrivateKey) -> bytes:
    """receipt.json: the receipt and its signature, pretty-printed UTF-8 JSON."""
    recu = receipt.model_dump(mode="json")
    document = {
        "format": FORMAT,
        "recu": recu,
        "algorithme": ALGORITHM,
        "cle_publique": base64.b64encode(_raw(key.public_key())).decode(),
        "cle_id": key_id(key),
        "signature": base64.b64encode(key.sign(canonical(recu))).decode(),
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key twice would let a reader see one value and the check another.
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ReceiptInvalid("reçu illisible : une clé JSON y figure deux fois")
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise ReceiptInvalid(f"reçu illisible : valeur JSON non standard ({name})")


def _decode(document: Mapping[str, Any], field: str, length: int) -> bytes:
    value = document.get(field)
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != length:
        raise ReceiptInvalid(f"reçu illisible : le champ « {field} » manque ou est mal formé")
    return raw


def _parse(document: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(
            document.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
        )
    except UnicodeDecodeError:
        raise ReceiptInvalid("reçu illisible : ce n'est pas du texte UTF-8") from None
    except json.JSONDecodeError as error:
        raise ReceiptInvalid(
            f"reçu illisible : JSON invalide (ligne {error.lineno}, colonne {error.colno}) ; "
            "le fichier est tronqué ou a été modifié"
        ) from None
    except RecursionError:
        raise ReceiptInvalid("reçu illisible : JSON trop imbriqué") from None
    if not isinstance(parsed, dict) or parsed.get("format") != FORMAT:
        raise ReceiptInvalid(f"ce n'est pas un reçu de dépôt (format « {FORMAT} » attendu)")
    if parsed.get("algorithme") != ALGORITHM:
        raise ReceiptInvalid(f"algorithme de signature inconnu (« {ALGORITHM} » attendu)")
    if not isinstance(parsed.get("recu"), dict):
        raise ReceiptInvalid("reçu illisible : le champ « recu » manque ou est mal formé")
    return parsed


def _trusted(pem: bytes) -> bytes:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ReceiptInvalid("clé publique illisible : un fichier PEM de clé Ed25519 est attendu")
    return _raw(key)


def _file_problems(receipt: Receipt, files: Mapping[str, Path]) -> list[str]:
    listed = {f.name: f for f in receipt.files}
    problems = []
    for name, path in files.items():
        expected = listed.get(name)
        if expected is None:
            problems.append(f"fichier non mentionné par le reçu : {name}")
            continue
        if not path.is_file():
            problems.append(f"fichier manquant : {name}")
            continue
        try:
            size = path.stat().st_size
            if size != expected.size:
                problems.append(
                    f"fichier modifié : {name} ({size} octets au lieu de {expected.size})"
                )
                continue
            with path.open("rb") as content:
                digest = hashlib.file_digest(content, "sha256").hexdigest()
        except OSError:
            problems.append(f"fichier illisible : {name}")
            continue
        if digest != expected.sha256:
            problems.append(f"fichier modifié : {name} (son SHA-256 n'est plus celui du reçu)")
    return problems


def verify(
    document: bytes,
    files: Mapping[str, Path] | None = None,
    trusted_public_pem: bytes | None = None,
    *,
    folder: Path | None = None,
) -> Receipt:
    """The receipt that `document` (receipt.json's bytes) carries, once its signature holds; with
    `trusted_public_pem`, signed by that key alone. `files` (name in the receipt → path) are
    checked against the receipt's sizes and SHA-256; `folder` checks every file the receipt lists,
    by name, in that folder (a missing one fails). ReceiptInvalid says what does not hold."""
    parsed = _parse(document)
    public_raw = _decode(parsed, "cle_publique", 32)
    signature = _decode(parsed, "signature", 64)
    try:
        public = Ed25519PublicKey.from_public_bytes(public_raw)
    except ValueError:
        raise ReceiptInvalid("reçu illisible : la clé publique n'est pas une clé Ed25519") from None
    if parsed.get("cle_id") != key_id(public):
        raise ReceiptInvalid("l'identifiant de clé (« cle_id ») ne correspond pas à la clé")
    if trusted_public_pem is not None:
        trusted = Ed25519PublicKey.from_public_bytes(_trusted(trusted_public_pem))
        if _raw(trusted) != public_raw:
            raise ReceiptInvalid(
                f"le reçu est signé par la clé {key_id(public)}, "
                f"pas par celle du service ({key_id(trusted)})"
            )
    try:
        public.verify(signature, canonical(parsed["recu"]))
    except (InvalidSignature, RecursionError):
        raise ReceiptInvalid(
            "signature invalide : le reçu a été modifié après sa signature "
            "(date, fichier, nom ou toute autre mention)"
        ) from None
    try:
        receipt = Receipt.model_validate(parsed["recu"])
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "recu"
        raise ReceiptInvalid(f"reçu signé mais mal formé : {where} ({first['msg']})") from None
    wanted = dict(files or {})
    if folder is not None:
        wanted = {f.name: folder / f.name for f in receipt.files} | wanted
    if problems := _file_problems(receipt, wanted):
        raise ReceiptInvalid(" ; ".join(problems))
    return receipt


# The PDF -----------------------------------------------------------------------------------


def _moment(texts: Any, value: datetime) -> dict[str, str]:
    # The offset beside the time: Rabat's changes in Ramadan.
    return {"text": texts.datetime(value, seconds=True), "offset": local(value).isoformat()[-6:]}


def _css_string(text: str) -> str:
    # A CSS string in the template's <style>, where HTML escaping does not apply.
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def receipt_pdf(receipt: Receipt, signed: bytes) -> bytes:
    """The receipt as a PDF/A in its language (Arabic right to left, portal.i18n), with the
    signature of `signed` (the receipt.json that sign() made for it) and how to check it.
    Deterministic: the same receipt gives the same bytes (its date is the deposit's)."""
    from markupsafe import Markup
    from weasyprint import Attachment

    from activities.pdf import build_pdf
    from portal.i18n import N_, Texts

    texts = Texts(receipt.language)
    gettext = texts.gettext

    if verify(signed) != receipt:
        raise ValueError("the signed receipt.json is not this receipt's")
    document = json.loads(signed)
    language = receipt.language
    context = {
        "_": gettext,
        "lang": language,
        "dir": "rtl" if language == "ar" else "ltr",
        "programme": gettext(receipt.service),
        "ministry": gettext(N_("Ministère de l'Industrie et du Commerce — Royaume du Maroc")),
        "page_label": Markup(_css_string(gettext("page"))),
        "receipt": receipt,
        "deadline": _moment(texts, receipt.deadline),
        "deposited_at": _moment(texts, receipt.deposited_at),
        "files": [
            {
                "name": f.name,
                "kind": gettext(f.kind),
                "size": texts.number(f.size),
                "sha256": f.sha256,
            }
            for f in receipt.files
        ],
        "algorithm": document["algorithme"],
        "key_id": document["cle_id"],
        "public_key": document["cle_publique"],
        "signature": document["signature"],
        "command": COMMAND,
    }
    title = f"{gettext('Accusé de réception du dépôt')} — {receipt.application_id}"
    attached = Attachment(  # the PDF alone carries what verifies it; its dates keep it stable
        string=signed,
        name="recu.json",
        description="Reçu signé",
        created=receipt.deposited_at,
        modified=receipt.deposited_at,
        relationship="Data",
    )
    built = build_pdf(
        "receipt.html", context, title=title, created=receipt.deposited_at, attachments=[attached]
    )
    return built.content


# The command line --------------------------------------------------------------------------


def _summary(receipt: Receipt, checked: int, keyed: bool, document: bytes) -> str:
    kid = json.loads(document)["cle_id"]
    lines = [
        f"Reçu valide : dépôt de la candidature {receipt.application_id} "
        f"par « {receipt.association_name} » à l'appel « {receipt.call_title} », "
        f"le {local(receipt.deposited_at).isoformat()} (heure de Rabat) ; "
        f"{len(receipt.files)} fichier(s) au reçu, {checked} vérifié(s) ; clé {kid}."
    ]
    if not keyed:
        lines.append(
            "Attention : la clé n'a pas été comparée à celle du service (--cle "
            "cle_publique.pem) ; comparez au moins son identifiant à celui que publie le service."
        )
    if checked < len(receipt.files):
        lines.append(
            "Attention : des fichiers du reçu n'ont pas été vérifiés "
            "(--dossier DOSSIER ou les fichiers en arguments)."
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m portal.receipt",
        description="Vérifie hors ligne un reçu de dépôt du programme d'appui aux clusters.",
    )
    # One command for now; the files may come before or after the options (intermixed).
    parser.add_argument(
        "commande",
        choices=["verify"],
        help="verify : vérifie la signature d'un reçu et, s'ils sont donnés, ses fichiers",
    )
    parser.add_argument("recu", type=Path, help="le fichier recu.json")
    parser.add_argument(
        "--dossier", type=Path, help="dossier des fichiers déposés : chacun y est vérifié"
    )
    parser.add_argument("--cle", type=Path, help="clé publique du service (PEM)")
    parser.add_argument("fichiers", nargs="*", type=Path, help="fichiers à vérifier, par leur nom")
    args = parser.parse_intermixed_args(argv)
    try:
        try:
            document = args.recu.read_bytes()
            trusted = args.cle.read_bytes() if args.cle else None
        except OSError as error:
            raise ReceiptInvalid(f"fichier illisible : {error.filename}") from None
        files = {path.name: path for path in args.fichiers}
        receipt = verify(document, files, trusted, folder=args.dossier)
    except ReceiptInvalid as error:
        print(f"Reçu invalide : {error}")
        return 1
    checked = len(receipt.files) if args.dossier else len(files)
    print(_summary(receipt, checked, trusted is not None, document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
