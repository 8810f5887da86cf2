"""URL parsing and rendering: every documented form, and the password never shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL


@pytest.mark.parametrize(
    ("text", "database"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///dir/relative.db", "dir/relative.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_forms(text: str, database: str) -> None:
    url = DatabaseURL.parse(text)
    assert url.scheme == "sqlite"
    assert url.database == database
    assert DatabaseURL.parse(url.render()).database == database


def test_sqlite_memory_is_detected() -> None:
    assert DatabaseURL.parse("sqlite:///:memory:").is_memory
    assert not DatabaseURL.parse("sqlite:///x.db").is_memory


def test_sqlite_url_with_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="SQLite URLs have no host"):
        DatabaseURL.parse("sqlite://host/x.db")


def test_server_url_parts_and_percent_encoded_password() -> None:
    url = DatabaseURL.parse(
        "postgresql+psycopg://app:p%40ss%3Aw%2Frd@db.example.org:6543/app_db?sslmode=require&connect_timeout=5"
    )
    assert (url.scheme, url.driver, url.username, url.password) == ("postgresql", "psycopg", "app", "p@ss:w/rd")
    assert (url.host, url.port, url.database) == ("db.example.org", 6543, "app_db")
    assert url.options == {"sslmode": "require", "connect_timeout": "5"}


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "mysql", "mariadb"])
def test_server_schemes(scheme: str) -> None:
    url = DatabaseURL.parse(f"{scheme}://u@h/d")
    assert url.scheme == scheme and url.database == "d" and url.port is None


def test_ipv6_host_round_trips() -> None:
    url = DatabaseURL.parse("postgresql://u@[::1]:5432/d")
    assert url.host == "::1"
    assert DatabaseURL.parse(url.render()).host == "::1"


def test_repr_str_and_render_mask_the_password() -> None:
    url = DatabaseURL.parse("mysql://root:hunter2%21@localhost/shop")
    for text in (repr(url), str(url), url.render(), repr(url.to_dict())):
        assert "hunter2" not in text
    assert "***" in url.render()
    assert url.render(hide_password=False) == "mysql://root:hunter2%21@localhost/shop"
    assert url.without_password().password is None


@pytest.mark.parametrize("bad", ["", "localhost/db", "://x", "post gres://h/d", "postgresql://h:notaport/d", 42])
def test_malformed_urls_raise_configuration_errors(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        DatabaseURL.parse(bad)  # type: ignore[arg-type]


def test_error_for_a_malformed_url_does_not_show_its_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseURL.parse("postgresql://u:topsecret@h:port/d")
    assert "topsecret" not in str(info.value)


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(
    user=_text, password=_text, database=_text,
    host=st.from_regex(r"[a-z][a-z0-9\-]{0,20}(\.[a-z]{2,5})?", fullmatch=True),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    scheme=st.sampled_from(["postgresql", "mysql", "mariadb", "postgres"]),
)
def test_render_then_parse_is_the_identity(user: str, password: str, database: str, host: str,
                                           port: int | None, scheme: str) -> None:
    url = DatabaseURL(scheme=scheme, username=user, password=password, host=host, port=port, database=database)
    assert DatabaseURL.parse(url.render(hide_password=False)) == url
    masked = DatabaseURL.parse(url.render())
    assert masked.password == "***"
    assert masked.without_password() == url.without_password()


@given(path=st.from_regex(r"(/?[A-Za-z0-9_.\- ]{1,12}){1,4}", fullmatch=True))
def test_sqlite_paths_round_trip(path: str) -> None:
    url = DatabaseURL(scheme="sqlite", database=path)
    assert DatabaseURL.parse(url.render()).database == path
