"""Unparsable and ambiguous URLs never show what sits between ``://`` and the last ``@`` (issue 24).

A password with an unencoded ``/ : @ ? # %`` makes a URL that either does
not parse or parses into the wrong host; both must be refused with a
message, ``str`` and ``repr`` that hide the whole user-info, in the library
and through the real ``dbkeeper`` CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL, mask_userinfo

#: Password characters no other part of a test URL or of any dbkeeper message uses, so a leak of
#: even one of them is visible.
SECRET_LETTERS = "αβγδεζηθ"
SPECIALS = "/:@?#%"


@pytest.mark.parametrize("url", [
    "postgresql://u:ab/topsecret@127.0.0.1/db",
    "postgresql://u:12/topsecret@127.0.0.1/db",
    "postgresql://u:12?topsecret@127.0.0.1/db",
    "postgresql://u:12#topsecret@127.0.0.1/db",
    "postgresql://u:top@secret@127.0.0.1:99999/db",
    "postgresql://u:top:secret@127.0.0.1:x/db",
    "mysql://u:ab%/top?secret#x@127.0.0.1:3306/db",
    "sqlite://u:ab/topsecret@127.0.0.1/db",
])
def test_an_unparsable_or_ambiguous_url_hides_the_whole_userinfo(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseURL.parse(url)
    for text in (str(info.value), repr(info.value)):
        assert "secret" not in text and "top" not in text and "u:" not in text, text
        assert "://***@127.0.0.1" in text, text


def test_a_correctly_encoded_password_still_parses() -> None:
    url = DatabaseURL.parse("postgresql://u:ab%2Ftop%40s%3Ac%3Fr%23e%25t@127.0.0.1:5432/db")
    assert (url.host, url.port, url.database, url.password) == ("127.0.0.1", 5432, "db", "ab/top@s:c?r#e%t")
    assert "top" not in repr(url)


def test_mask_userinfo_hides_up_to_the_last_at() -> None:
    assert mask_userinfo("x 'postgresql://u:a@b/c@h/db' y") == "x 'postgresql://***@h/db' y"
    assert mask_userinfo("postgresql//u:a/b@h/db") == "***@h/db"
    assert mask_userinfo("postgresql://h/db") == "postgresql://h/db"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=SECRET_LETTERS + SPECIALS, min_size=1, max_size=24).filter(
    lambda s: any(c in SECRET_LETTERS for c in s)))
def test_no_password_character_ever_reaches_an_error_or_a_rendering(password: str) -> None:
    raw = f"postgresql://user:{password}@127.0.0.1:5432/db"
    try:
        url = DatabaseURL.parse(raw)
    except ConfigurationError as exc:
        shown = f"{exc} {exc!r}"
    else:
        assert url.host == "127.0.0.1" and url.port == 5432 and url.database == "db", (raw, url.to_dict())
        shown = f"{url} {url!r} {url.render()} {url.to_dict()}"
    assert not any(c in shown for c in SECRET_LETTERS), shown


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DBKEEPER_URL"}
    env["DBKEEPER_WORKSPACE"] = str(cwd / "ws")
    return subprocess.run([sys.executable, "-m", "dbkeeper.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120, check=False)


@pytest.mark.parametrize("command", [["backup", "create"], ["migrate", "status"], ["tables"]])
def test_the_real_cli_never_prints_an_unencoded_password(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    done = _cli(*command, "--db", "postgresql://postgres:ab/topsecret@127.0.0.1:5432/test", cwd=tmp_path)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "topsecret" not in output and ":ab" not in output, output
    assert "***@127.0.0.1" in output, output
