#!/usr/bin/env python3
"""A real Django database made by the Django + SimpleJWT peer (../shared/peers/django_seed), for
the import and SimpleJWT-refresh tests and for timing a large import.

  python3 Tests/django_fixture.py --sqlite /tmp/django.sqlite3
  python3 Tests/django_fixture.py --postgres postgres://postgres@127.0.0.1:5432/django_test
  python3 Tests/django_fixture.py --sqlite /tmp/big.sqlite3 --bulk 100000

Creates the database (PostgreSQL: the database named in the URL, which must not exist), runs the
peer's migrations, and adds the users below with Django's own code (`set_password`, SimpleJWT's
`RefreshToken.for_user`). Prints one JSON object: the Django ids by name, the password, and
tokens (`refresh` for alice, `refresh_bob`, an `expired` refresh token, a `blacklisted` one as
Django's rotation leaves behind, an `access` token).
With --bulk N it adds N users sharing one password hash instead and prints {"users": N}.
"""

import argparse
import json
import os
import sys
import urllib.parse
from datetime import timedelta

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers", "django_seed")
PASSWORD = "Alice-pass-2024"


def configure(args):
    if args.sqlite:
        os.environ.update(DB_ENGINE="sqlite", SQLITE_PATH=args.sqlite)
        return
    url = urllib.parse.urlparse(args.postgres)
    name = url.path.lstrip("/")
    os.environ.update(
        DB_ENGINE="postgres", PGHOST=url.hostname or "127.0.0.1", PGPORT=str(url.port or 5432),
        PGUSER=url.username or "postgres", PGPASSWORD=url.password or "", PGDATABASE=name,
    )
    import psycopg2

    server = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user=os.environ["PGUSER"],
                              password=os.environ["PGPASSWORD"], dbname="postgres")
    server.autocommit = True
    server.cursor().execute(f'CREATE DATABASE "{name}"')
    server.close()


def main():
    parser = argparse.ArgumentParser()
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sqlite")
    target.add_argument("--postgres")
    parser.add_argument("--bulk", type=int, default=0)
    args = parser.parse_args()
    configure(args)
    sys.path.insert(0, os.path.abspath(PEER))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

    from accounts.models import User

    call_command("migrate", verbosity=0)
    if args.bulk:
        shared = make_password(PASSWORD)
        batch = []
        for i in range(args.bulk):
            batch.append(User(username=f"user{i:06d}", email=f"user{i:06d}@example.com", phone=f"+7701{i:07d}",
                              role="specialist" if i % 2 else "client", password=shared, first_name="Bulk"))
            if len(batch) == 5000:
                User.objects.bulk_create(batch)
                batch = []
        User.objects.bulk_create(batch)
        print(json.dumps({"users": args.bulk}))
        return

    alice = User(username="alice", email="alice@example.com", phone="8 (918) 702-09-87", role="specialist",
                 first_name="Alice", last_name="Liddell")
    alice.set_password(PASSWORD)
    alice.save()
    # One PBKDF2 hash at Django's million iterations is slow; the others share it.
    bob = User.objects.create(username="bob", email="bob@example.com", password=alice.password, is_superuser=True, is_staff=True)
    carol = User.objects.create(username="carol", email="ALICE@example.com", password=alice.password)
    dave = User.objects.create(username="dave", email="dave@example.com", phone="12345", password=alice.password)
    erin = User(username="erin", email="erin@example.com", is_active=False)
    erin.set_unusable_password()
    erin.save()
    frank = User.objects.create(username="frank@site", email="frank@example.com", password=alice.password)

    expired = RefreshToken.for_user(alice)
    expired.set_exp(lifetime=timedelta(seconds=-60))
    # What Django's refresh view does to the token it rotates away from (BLACKLIST_AFTER_ROTATION).
    rotated = RefreshToken.for_user(alice)
    rotated.blacklist()
    print(json.dumps({
        "ids": {u.username: u.id for u in (alice, bob, carol, dave, erin, frank)},
        "password": PASSWORD,
        "refresh": str(RefreshToken.for_user(alice)),
        "refresh_bob": str(RefreshToken.for_user(bob)),
        "expired": str(expired),
        "blacklisted": str(rotated),
        "access": str(AccessToken.for_user(alice)),
    }))


if __name__ == "__main__":
    main()
