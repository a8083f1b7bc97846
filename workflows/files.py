"""A case's files, as its workflow holds them: references (the bytes are in storage), bounded in
number and size, and the checks that a transition names files the case really holds."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.fields import MAX_FILES
    from domain.models import Actor, Deposit, DocumentRef
    from workflows.refusals import invalid


def check_room(files: list[DocumentRef], body: Deposit, max_bytes: int) -> None:
    """A deposit within the case's bounds: so many files, so many bytes in all."""
    if len(files) >= MAX_FILES:
        raise invalid(f"Au plus {MAX_FILES} fichiers par dossier.")
    if sum(f.size for f in files) + body.size > max_bytes:
        raise invalid("Le dossier dépasserait la taille permise.")


def reference(actor: Actor, body: Deposit) -> DocumentRef:
    """What the audit trail keeps of a deposit: who, when, and the file's hash."""
    return DocumentRef(**dict(body), uploaded_by=actor.name, uploaded_at=workflow.now())


def held(files: list[DocumentRef], document_id: str, what: str) -> DocumentRef:
    """The case's file `document_id`, named by a transition as `what`."""
    for ref in files:
        if ref.id == document_id:
            return ref
    raise invalid(f"{what} : fichier {document_id} inconnu dans ce dossier ; déposez-le d'abord.")
