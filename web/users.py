"""Staff accounts from the command line, against the service's database (DATABASE_URL):

python -m web.users add "Amina Alaoui" admin --email amina@mcinet.gov.ma
python -m web.users token "Amina Alaoui"      # a new API token, shown once
python -m web.users list
python -m web.users deactivate "Amina Alaoui"  # tokens revoked, sessions ended
"""

import argparse
import sys

from sqlmodel import Session

from projection.database import make_engine, migrate
from settings import Settings
from web import identity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.users", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="ajouter une personne")
    add.add_argument("name")
    add.add_argument("role", choices=[str(r) for r in identity.PERSON_ROLES])
    add.add_argument("--email")
    commands.add_parser("list", help="les personnes et leurs jetons actifs")
    for name, text in (("token", "un nouveau jeton d'API"), ("deactivate", "désactiver")):
        commands.add_parser(name, help=text).add_argument("name")
    args = parser.parse_args(argv)

    engine = make_engine(Settings().database_url)
    migrate(engine)
    with Session(engine) as db:
        try:
            if args.command == "add":
                user = identity.add_user(db, args.name, args.role, args.email)
                print(
                    f"{user.name} ({user.role}) ajouté(e). Jeton : {identity.issue_token(db, user.name)}"
                )
            elif args.command == "token":
                print(identity.issue_token(db, args.name))
            elif args.command == "deactivate":
                identity.deactivate(db, args.name)
                print(f"{args.name} désactivé(e) : jetons révoqués, sessions fermées.")
            else:
                for user, tokens in identity.users(db):
                    state = "actif" if user.active else "désactivé"
                    print(
                        f"{user.name}\t{user.role}\t{user.email or '—'}\t{state}\t{tokens} jeton(s)"
                    )
        except identity.IdentityError as error:
            print(error, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
