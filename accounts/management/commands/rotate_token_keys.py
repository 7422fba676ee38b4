from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts import crypto
from accounts.models import Character

ENCRYPTED_COLUMNS = ["access_token", "refresh_token"]


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token with the first FIELD_ENCRYPTION_KEYS key, so older keys "
        "can then be removed."
    )

    def handle(self, *args, **options) -> None:
        table = connection.ops.quote_name(Character._meta.db_table)
        rotated = unreadable = 0
        with transaction.atomic():
            # Raw column values: the ciphertext is rotated without ever being decrypted here.
            with connection.cursor() as cursor:
                columns = ", ".join(connection.ops.quote_name(c) for c in ENCRYPTED_COLUMNS)
                cursor.execute(f"SELECT id, {columns} FROM {table}")
                rows = cursor.fetchall()
            for pk, *values in rows:
                updates = {}
                for column, value in zip(ENCRYPTED_COLUMNS, values, strict=True):
                    if not value:
                        continue
                    try:
                        updates[column] = crypto.rotate(value)
                    except crypto.InvalidToken:
                        unreadable += 1
                if updates:
                    assignments = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in updates)
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {table} SET {assignments} WHERE id = %s",
                            [*updates.values(), pk],
                        )
                    rotated += 1
        self.stdout.write(f"re-encrypted the tokens of {rotated} character(s) with the newest key")
        if unreadable:
            self.stderr.write(
                f"{unreadable} token(s) match no configured key: those characters must log in "
                "with EVE again"
            )
