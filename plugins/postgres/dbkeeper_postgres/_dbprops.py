"""The replaced target's own properties, carried over to the database that takes its name.

A ``pg_dump`` of one database (without ``--create``) holds what is IN the
database, not the database itself: its owner, its grants (``CONNECT``,
``TEMPORARY``, ``CREATE``), its settings (``ALTER DATABASE ... SET``, also per
role) and its comment. A replacing restore creates a new database, so
without this step those would silently become the restoring user's
defaults. They are copied from the old target to the scratch copy before
the swap; they name roles of this very server, so they apply in portable
mode too.
"""

from __future__ import annotations

from dbkeeper.engine.connection import DatabaseConnection

#: Settings whose value is a list of separately quoted items (what ``pg_dump`` calls GUC_LIST_QUOTE).
_LIST_SETTINGS = {"local_preload_libraries", "search_path", "session_preload_libraries", "shared_preload_libraries",
                  "temp_tablespaces", "unix_socket_directories"}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list_items(value: str) -> list[str]:
    """Split a stored list setting (``"$user", public``) into its items, unquoted."""
    items, current, quoted, i = [], "", False, 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == '"' and value[i + 1:i + 2] == '"':
                current += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = True
        elif ch == ",":
            items.append(current.strip())
            current = ""
        else:
            current += ch
        i += 1
    items.append(current.strip())
    return [item for item in items if item]


def setting_clause(entry: str) -> str:
    """``"name" TO value`` for ``ALTER DATABASE ... SET`` from a stored ``name=value`` entry (as pg_dump does)."""
    name, _, value = entry.partition("=")
    quoted = '"' + name.replace('"', '""') + '"'
    if name.lower() in _LIST_SETTINGS:
        items = _list_items(value)
        return f"{quoted} TO " + (", ".join(_literal(item) for item in items) if items else "''")
    return f"{quoted} TO {_literal(value)}"


def copy_properties(admin: DatabaseConnection, source: str, dest: str) -> None:
    """Give ``dest`` the owner, grants, settings and comment of ``source`` (both on ``admin``'s server)."""
    quote = admin.dialect.quote_identifier
    row = admin.execute(
        "SELECT d.oid, pg_catalog.pg_get_userbyid(d.datdba) AS owner, d.datacl IS NULL AS default_acl, "
        "pg_catalog.shobj_description(d.oid, 'pg_database') AS comment "
        "FROM pg_catalog.pg_database d WHERE d.datname = %s", (source,)).rows[0]
    admin.execute(f"ALTER DATABASE {quote(dest)} OWNER TO {quote(str(row['owner']))}")
    if not row["default_acl"]:
        admin.execute(f"REVOKE ALL ON DATABASE {quote(dest)} FROM PUBLIC")
        admin.execute(f"REVOKE ALL ON DATABASE {quote(dest)} FROM {quote(str(row['owner']))}")
        grants = admin.execute(
            "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS grantee, "
            "a.privilege_type AS privilege, a.is_grantable AS grantable "
            "FROM pg_catalog.pg_database d, LATERAL pg_catalog.aclexplode(d.datacl) a WHERE d.datname = %s",
            (source,)).rows
        for grant in grants:
            grantee = "PUBLIC" if grant["grantee"] is None else quote(str(grant["grantee"]))
            admin.execute(f"GRANT {grant['privilege']} ON DATABASE {quote(dest)} TO {grantee}"
                          + (" WITH GRANT OPTION" if grant["grantable"] else ""))
    settings = admin.execute(
        "SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(s.setrole) END AS role, "
        "pg_catalog.unnest(s.setconfig) AS entry FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = %s",
        (row["oid"],)).rows
    for setting in settings:
        clause = setting_clause(str(setting["entry"]))
        if setting["role"] is None:
            admin.execute(f"ALTER DATABASE {quote(dest)} SET {clause}")
        else:
            admin.execute(f"ALTER ROLE {quote(str(setting['role']))} IN DATABASE {quote(dest)} SET {clause}")
    if row["comment"] is not None:
        admin.execute(f"COMMENT ON DATABASE {quote(dest)} IS {_literal(str(row['comment']))}")
