"""Webhook hardening: addresses that are not public are refused unless allow-listed (also
when a name resolves to one), and secret rotation (a signature per secret held, each
verified by the standardwebhooks library; `subscriptions rotate-secret`)."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("standardwebhooks")

from standardwebhooks.webhooks import Webhook  # noqa: E402

from sitewatch.errors import InputError  # noqa: E402
from sitewatch.watch.webhooks import (  # noqa: E402
    allow_list,
    body_bytes,
    check_address,
    check_url,
    new_secret,
    resolve,
    send,
    signed_headers,
)

EXE = str(Path(sys.executable).with_name("sitewatch"))
REFUSED = ("10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "fe80::1", "fd00::1", "100.64.0.1", "0.0.0.0",
           "::ffff:10.0.0.1", "224.0.0.1", "::")


def test_addresses_that_are_not_public_are_refused_unless_allow_listed(monkeypatch):
    for ip in REFUSED:
        with pytest.raises(InputError):
            check_address(ip, allowed=[])
    for ip in ("8.8.8.8", "2606:4700:4700::1111", "127.0.0.1", "::1"):
        check_address(ip, allowed=[])
    nets = allow_list({"SITEWATCH_WEBHOOK_ALLOW": "10.0.0.0/8, 169.254.10.1"})
    check_address("10.1.2.3", nets)
    check_address("169.254.10.1", nets)
    with pytest.raises(InputError, match="link-local"):
        check_address("169.254.169.254", nets)
    with pytest.raises(InputError):
        allow_list({"SITEWATCH_WEBHOOK_ALLOW": "10.0.0.0/33"})

    monkeypatch.delenv("SITEWATCH_WEBHOOK_ALLOW", raising=False)
    with pytest.raises(InputError):
        check_url("https://10.0.0.5/hook")
    with pytest.raises(InputError):
        check_url("https://[fe80::1]/hook")
    monkeypatch.setenv("SITEWATCH_WEBHOOK_ALLOW", "10.0.0.0/8")
    assert check_url("https://10.0.0.5/hook") == "https://10.0.0.5/hook"


def test_a_name_that_resolves_to_a_private_address_is_refused_when_sent(monkeypatch):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "hooks.example.org":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]  # one bad one is enough
        return real(host, port, *args, **kwargs)

    monkeypatch.delenv("SITEWATCH_WEBHOOK_ALLOW", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert check_url("https://hooks.example.org/in")  # a name: checked when sent
    with pytest.raises(InputError, match="resolves to 10.0.0.7"):
        resolve("hooks.example.org", 443)
    with pytest.raises(InputError):
        send("https://hooks.example.org/in", new_secret(), "alert_x", {"a": 1}, datetime.now(UTC), timeout_s=2)
    assert resolve("localhost", 80) in ("127.0.0.1", "::1")


def test_while_a_secret_is_rotated_each_delivery_verifies_under_either(tmp_path):
    old, new = new_secret(), new_secret()
    when = datetime.now(UTC)
    body = body_bytes({"type": "sitewatch.event", "data": {"n": 1}})
    headers = signed_headers(f"{new} {old}", "alert_rot", when, body)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) is not None
    with pytest.raises(Exception):
        Webhook(new_secret()).verify(body, headers)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def test_subscriptions_rotate_secret_keeps_the_previous_beside_the_new_until_dropped(tmp_path):
    from test_change_pixel import SITE

    from sitewatch.store import add_site, list_subscriptions, open_catalog, webhook_secret

    db = tmp_path / "catalog.db"
    with open_catalog(db) as cat:
        add_site(cat, SITE)
    first, second = tmp_path / "first.secret", tmp_path / "second.secret"
    r = _cli("subscriptions", "add", "--site", SITE.name, "--folder", str(tmp_path / "inbox"), "--webhook",
             "http://127.0.0.1:9/hook", "--secret-file", str(first), "--db", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    with open_catalog(db) as cat:
        (sub,) = list_subscriptions(cat)
    r = _cli("subscriptions", "rotate-secret", sub.id, "--secret-file", str(second), "--db", str(db))
    assert r.returncode == 0 and "2 secret(s)" in r.stdout, r.stdout + r.stderr
    old, new = first.read_text().strip(), second.read_text().strip()
    assert old not in r.stdout + r.stderr and new not in r.stdout + r.stderr  # never printed
    with open_catalog(db) as cat:
        assert webhook_secret(cat, sub.id) == f"{new} {old}"
    r = _cli("subscriptions", "rotate-secret", sub.id, "--drop-previous", "--db", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    with open_catalog(db) as cat:
        assert webhook_secret(cat, sub.id) == new
    r = _cli("subscriptions", "list", "--json", "--db", str(db))
    assert new not in r.stdout and old not in r.stdout
