"""Staff accounts from the command line, against the service's database (DATABASE_URL):

python -m web.users add "Amina Alaoui" admin --email amina@mcinet.gov.ma  # invited by e-mail
python -m web.users add "Robot" operator      # no address: its token, shown once
python -m web.users invite "Amina Alaoui"     # a new invitation link, the previous one ended
python -m web.users token "Amina Alaoui"      # a new API token, shown once
python -m web.users list                      # each person's active tokens, by number
python -m web.users revoke 12                 # token n° 12 revoked, the sessions it opened ended
python -m web.users deactivate "Amina Alaoui"  # tokens revoked, sessions ended
"""

import argparse
import sys

from sqlmodel import Session

from activities.mail import Relay
from projection.database import make_engine, migrate
from settings import Settings
from web import identity, invitations

CLI = "l'administrateur du service"  # who invites, as the invitation names them


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.users", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="ajouter une personne")
    add.add_argument("name")
    add.add_argument("role", choices=[str(r) for r in identity.PERSON_ROLES])
    add.add_argument("--email")
    commands.add_parser("list", help="les personnes et leurs jetons actifs (par numéro)")
    revoke = commands.add_parser("revoke", help="révoquer un jeton (et ses sessions)")
    revoke.add_argument("token_id", type=int, metavar="numéro")
    for name, text in (
        ("token", "un nouveau jeton d'API"),
        ("invite", "renvoyer l'invitation par courriel (le lien précédent ne vaut plus)"),
        ("deactivate", "désactiver"),
    ):
        commands.add_parser(name, help=text).add_argument("name")
    args = parser.parse_args(argv)

    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    with Session(engine) as db:
        try:
            if args.command == "add":
                user = identity.add_user(db, args.name, args.role, args.email)
                if user.email:
                    print(f"{user.name} ({user.role}) ajouté(e).")
                    return invite(db, user.name, settings)
                print(
                    f"{user.name} ({user.role}) ajouté(e). Jeton : {identity.issue_token(db, user.name)}"
                )
            elif args.command == "invite":
                return invite(db, args.name, settings)
            elif args.command == "token":
                print(identity.issue_token(db, args.name))
            elif args.command == "deactivate":
                identity.deactivate(db, args.name)
                print(f"{args.name} désactivé(e) : jetons révoqués, sessions fermées.")
            elif args.command == "revoke":
                holder = identity.revoke_token(db, args.token_id)
                print(f"Jeton n° {args.token_id} de {holder} révoqué ; ses sessions sont fermées.")
            else:
                for user, tokens in identity.users(db):
                    state = "actif" if user.active else "désactivé"
                    held = ", ".join(f"n° {t.id} du {t.created_at:%Y-%m-%d}" for t in tokens)
                    print(
                        f"{user.name}\t{user.role}\t{user.email or '—'}\t{state}\t"
                        f"{len(tokens)} jeton(s){' : ' + held if held else ''}"
                    )
        except identity.IdentityError as error:
            print(error, file=sys.stderr)
            return 2
    return 0


def invite(db: Session, name: str, settings: Settings) -> int:
    """Mail the invitation through SMTP_HOST; 1 (and what to do) when it did not leave."""
    relay = Relay.from_settings(settings)
    sending = invitations.invite(db, name, CLI, relay, settings.public_url)
    if sending.error is None:
        print(*sending.report())
        return 0
    print(f"L'invitation de {name} n'a pas pu être envoyée : {sending.error}", file=sys.stderr)
    print(f'Renvoyez-la ensuite avec : python -m web.users invite "{name}"', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
