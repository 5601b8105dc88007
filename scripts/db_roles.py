"""Create Logcenter's two PostgreSQL roles and its database, as a superuser. Idempotent.

    python scripts/db_roles.py [SUPERUSER_URL]

DATABASE_URL names the app role and the database; MIGRATION_DATABASE_URL the owner role
(same host and database). SUPERUSER_URL (or PG_SUPERUSER_URL; default
postgres://postgres@127.0.0.1:5432/postgres) is used only here. The owner may create
databases (the test runner's); the app role may not create anything. A database or test
database that another role owned before is handed to the owner, with every table,
sequence and function in it (an install that ran as one role until now).
"""

import os
import sys
from urllib.parse import unquote, urlparse

import psycopg
from psycopg import sql


def role_of(url):
    parsed = urlparse(url)
    return unquote(parsed.username or ""), unquote(parsed.password or ""), parsed.path.lstrip("/")


def ensure_role(cursor, name, password, *, createdb):
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    verb = "ALTER" if cursor.fetchone() else "CREATE"
    options = sql.SQL("LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS {}").format(
        sql.SQL("CREATEDB" if createdb else "NOCREATEDB"))
    statement = sql.SQL("{} ROLE {} {}").format(sql.SQL(verb), sql.Identifier(name), options)
    if password:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    cursor.execute(statement)


def adopt(superuser_url, database, owner):
    """Make `owner` the owner of `database` and of everything in its public schema."""
    target = urlparse(superuser_url)._replace(path=f"/{database}").geturl()
    with psycopg.connect(target, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT 'TABLE', c.oid::regclass::text FROM pg_class c "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') "
            "AND NOT c.relispartition AND pg_get_userbyid(c.relowner) <> %s "
            "UNION ALL SELECT 'SEQUENCE', c.oid::regclass::text FROM pg_class c "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' "
            "AND pg_get_userbyid(c.relowner) <> %s AND NOT EXISTS (SELECT 1 FROM pg_depend d "
            "WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) "
            "UNION ALL SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> %s",
            [owner, owner, owner])
        for kind, name in cursor.fetchall():
            cursor.execute(f"ALTER {kind} {name} OWNER TO {sql.Identifier(owner).as_string(conn)}")
        # Partitions follow their parent's owner only when made by it: hand them over too.
        cursor.execute("SELECT c.oid::regclass::text FROM pg_class c WHERE c.relispartition "
                       "AND c.relnamespace = 'public'::regnamespace "
                       "AND pg_get_userbyid(c.relowner) <> %s", [owner])
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {name} OWNER TO "
                           f"{sql.Identifier(owner).as_string(conn)}")


def main(argv):
    superuser_url = (argv[1] if len(argv) > 1 else os.environ.get("PG_SUPERUSER_URL")
                     or "postgres://postgres@127.0.0.1:5432/postgres")
    app, app_password, database = role_of(os.environ["DATABASE_URL"])
    owner, owner_password, _ = role_of(os.environ["MIGRATION_DATABASE_URL"])
    if not app or not owner or app == owner:
        sys.exit("DATABASE_URL and MIGRATION_DATABASE_URL must name two different roles.")
    with psycopg.connect(superuser_url, autocommit=True) as conn, conn.cursor() as cursor:
        ensure_role(cursor, owner, owner_password, createdb=True)
        ensure_role(cursor, app, app_password, createdb=False)
        cursor.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                       "WHERE datname = %s OR datname LIKE %s", [database, f"test\\_{database}%"])
        existing = dict(cursor.fetchall())
        if database not in existing:
            cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)))
        for name, current in existing.items():
            if current != owner:
                cursor.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(name), sql.Identifier(owner)))
    for name in {database, *existing}:
        adopt(superuser_url, name, owner)
    print(f"PostgreSQL roles ready: {owner} (owner, migrates) and {app} (the app) "
          f"on database {database}")


if __name__ == "__main__":
    main(sys.argv)
