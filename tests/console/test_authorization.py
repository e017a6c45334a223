"""Authorization: every console page and API refuses no session and the wrong role; CSRF on every change;
sessions, cookies and passwords as promised; no phone number ever reaches a page."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest
from sqlalchemy import select

from bot.console import auth
from bot.store.models import User, WebSession
from tests.console.conftest import PASSWORD, ConsoleServer, sign_in, start_console, stop_console

CONV = "c_0000000000000000"
GET_PAGES = [
    "/console/",
    "/console/queue",
    "/console/api/queue",
    f"/console/c/{CONV}",
    f"/console/c/{CONV}/transcript",
    f"/console/c/{CONV}/report",
    "/console/supervisor",
    "/console/supervisor/live",
    "/console/admin/users",
]
POSTS = [
    "/console/take-next",
    f"/console/c/{CONV}/reply",
    f"/console/c/{CONV}/close",
    f"/console/c/{CONV}/assign",
    f"/console/c/{CONV}/take-over",
    "/console/admin/users",
    "/console/admin/users/1/active",
    "/console/logout",
]
SUPERVISOR_ONLY_GET = ["/console/supervisor", "/console/supervisor/live"]
SUPERVISOR_ONLY_POST = [f"/console/c/{CONV}/assign", f"/console/c/{CONV}/take-over"]
ADMIN_ONLY_GET = ["/console/admin/users"]
ADMIN_ONLY_POST = ["/console/admin/users", "/console/admin/users/1/active"]


async def test_no_session_is_refused_everywhere(console: ConsoleServer) -> None:
    client = await console.client()
    for path in GET_PAGES:
        async with client.get(path, allow_redirects=False) as resp:
            if path.startswith("/console/api/"):
                assert resp.status == 401, path
            else:
                assert resp.status == 303, path
                assert resp.headers["Location"].startswith("/console/login?next="), path
        async with client.get(path, headers={"X-Requested-With": "fetch"}, allow_redirects=False) as resp:
            assert resp.status == 401, path
    for path in POSTS:
        async with client.post(path, data={"csrf": "anything"}, allow_redirects=False) as resp:
            assert resp.status == 401, path
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/console/ws")
    assert err.value.status == 401


async def test_a_forged_or_expired_cookie_is_no_session(console: ConsoleServer) -> None:
    client = await console.client()
    client.cookie_jar.update_cookies({"console_session": "not-a-real-token"})
    async with client.get("/console/api/queue") as resp:
        assert resp.status == 401


async def test_counselor_cannot_reach_supervisor_or_admin_pages(console: ConsoleServer) -> None:
    client, csrf = await console.signed_in("ana")
    for path in SUPERVISOR_ONLY_GET + ADMIN_ONLY_GET:
        async with client.get(path, allow_redirects=False) as resp:
            assert resp.status == 403, path
    for path in SUPERVISOR_ONLY_POST + ADMIN_ONLY_POST:
        async with client.post(path, data={"csrf": csrf, "counselor_id": "1", "active": "0"},
                               allow_redirects=False) as resp:
            assert resp.status == 403, path


async def test_supervisor_cannot_reach_admin_pages(console: ConsoleServer) -> None:
    client, csrf = await console.signed_in("sam")
    for path in ADMIN_ONLY_GET:
        async with client.get(path, allow_redirects=False) as resp:
            assert resp.status == 403, path
    for path in ADMIN_ONLY_POST:
        async with client.post(path, data={"csrf": csrf, "active": "0"}, allow_redirects=False) as resp:
            assert resp.status == 403, path
    for path in SUPERVISOR_ONLY_GET:
        async with client.get(path) as resp:
            assert resp.status == 200, path


async def test_admin_reaches_everything(console: ConsoleServer) -> None:
    client, _ = await console.signed_in("ada")
    for path in ["/console/", "/console/supervisor", "/console/admin/users"]:
        async with client.get(path) as resp:
            assert resp.status == 200, path


async def test_counselor_sees_only_own_conversations(console: ConsoleServer) -> None:
    waiting = await console.seed({"topic": "a rough week"})
    theirs = await console.seed({"topic": "lonely tonight"})
    ben, ben_csrf = await console.signed_in("ben")
    async with ben.post("/console/take-next", data={"csrf": ben_csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    async with console.db.session() as s:
        ben_id = await s.scalar(select(User.id).where(User.username == "ben"))
    from bot.store.models import Conversation

    async with console.db.session() as s:
        taken = await s.scalar(select(Conversation.id).where(Conversation.counselor_id == ben_id))
    other = waiting if taken == theirs else theirs

    ana, csrf = await console.signed_in("ana")
    for conv in (taken, other):  # Ben's, and one still waiting
        for path in (f"/console/c/{conv}", f"/console/c/{conv}/transcript", f"/console/c/{conv}/report"):
            async with ana.get(path) as resp:
                assert resp.status == 404, path
        async with ana.post(f"/console/c/{conv}/reply", data={"csrf": csrf, "body": "hello"},
                            headers={"X-Requested-With": "fetch"}) as resp:
            assert resp.status == 403
        async with ana.post(f"/console/c/{conv}/close", data={"csrf": csrf, "risk_level": "low",
                                                              "outcome": "other"},
                            headers={"X-Requested-With": "fetch"}) as resp:
            assert resp.status == 404
    async with ana.get("/console/api/queue") as resp:
        body = await resp.json()
    assert [w["conversation_id"] for w in body["waiting"]] == [other]
    assert body["mine"] == []
    sam, _ = await console.signed_in("sam")
    async with sam.get(f"/console/c/{taken}") as resp:
        assert resp.status == 200  # supervisors see all


async def test_csrf_missing_or_wrong_is_refused(console: ConsoleServer) -> None:
    await console.seed()
    client, csrf = await console.signed_in("ana")
    for data, headers in (({}, {}), ({"csrf": "wrong"}, {}), ({}, {"X-CSRF-Token": "wrong"})):
        async with client.post("/console/take-next", data=data, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 403
    async with client.post("/console/logout", data={}, allow_redirects=False) as resp:
        assert resp.status == 403
    async with client.get("/console/api/queue") as resp:
        assert len((await resp.json())["mine"]) == 0  # nothing happened
    async with client.post("/console/take-next", headers={"X-CSRF-Token": csrf, "X-Requested-With": "fetch"}) as r:
        assert r.status == 200 and (await r.json())["ok"]


async def test_login_form_needs_its_csrf_token(console: ConsoleServer) -> None:
    client = await console.client()
    async with client.post("/console/login", data={"username": "ana", "password": PASSWORD},
                           allow_redirects=False) as resp:
        assert resp.status == 403
        assert "console_session" not in resp.cookies


async def test_websocket_needs_the_csrf_hello(console: ConsoleServer) -> None:
    client, csrf = await console.signed_in("ana")
    ws = await client.ws_connect("/console/ws")
    await ws.send_json({"type": "hello", "csrf": "wrong"})
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4403
    ws = await client.ws_connect("/console/ws")
    await ws.send_json({"type": "hello", "csrf": csrf})
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    await ws.close()


async def test_session_cookie_and_storage(console: ConsoleServer) -> None:
    client = await console.client()
    async with client.get("/console/login") as resp:
        page = await resp.text()
    import re

    login_csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    async with client.post("/console/login", data={"csrf": login_csrf, "username": "ana", "password": PASSWORD},
                           allow_redirects=False) as resp:
        assert resp.status == 303
        cookie = resp.cookies["console_session"]
        raw = resp.headers.getall("Set-Cookie")
    header = next(h for h in raw if h.startswith("console_session="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/console" in header
    assert "Secure" not in header  # http:// base URL in this test
    async with console.db.session() as s:
        rows = list(await s.scalars(select(WebSession)))
        user = await s.scalar(select(User).where(User.username == "ana"))
    assert [r.token_hash for r in rows] == [hashlib.sha256(cookie.value.encode()).hexdigest()]
    assert all(cookie.value not in (r.token_hash, r.csrf_token) for r in rows)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


async def test_secure_cookie_behind_https(tmp_path) -> None:
    server = await start_console(tmp_path, PUBLIC_BASE_URL="https://console.example.org")
    try:
        await auth.create_user(server.db, "ana", PASSWORD, "counselor")
        client = await server.client()
        async with client.get("/console/login") as resp:
            header = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith("console_login_csrf="))
        assert "Secure" in header and "HttpOnly" in header
    finally:
        await stop_console(server)


async def test_logout_and_disable_end_the_session(console: ConsoleServer) -> None:
    client, csrf = await console.signed_in("ana")
    async with client.post("/console/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    async with client.get("/console/api/queue") as resp:
        assert resp.status == 401
    ben, _ = await console.signed_in("ben")
    admin, admin_csrf = await console.signed_in("ada")
    async with console.db.session() as s:
        ben_id = await s.scalar(select(User.id).where(User.username == "ben"))
    async with admin.post(f"/console/admin/users/{ben_id}/active", data={"csrf": admin_csrf, "active": "0"},
                          allow_redirects=False) as resp:
        assert resp.status == 303
    async with ben.get("/console/api/queue") as resp:
        assert resp.status == 401
    fresh = await console.client()
    with pytest.raises(AssertionError):
        await sign_in(fresh, "ben")


async def test_wrong_password_and_throttle(console: ConsoleServer) -> None:
    client = await console.client()
    for _ in range(5):
        with pytest.raises(AssertionError):
            await sign_in(client, "ana", "not the password")
    with pytest.raises(AssertionError):  # the right password is refused while throttled
        await sign_in(client, "ana")


async def test_security_headers(console: ConsoleServer) -> None:
    client, _ = await console.signed_in("ana")
    async with client.get("/console/") as resp:
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"


async def test_pages_never_show_phone_numbers(console: ConsoleServer) -> None:
    phone = "+15557654321"
    conv = await console.seed({"topic": "can't sleep"}, ["hello", "are you there"], phone=phone, waited=400)
    await console.seed({"safe_now": "no"}, ["help"], phone="+15551239876")
    sam, sam_csrf = await console.signed_in("sam")
    async with sam.post(f"/console/c/{conv}/take-over", data={"csrf": sam_csrf}) as resp:
        assert resp.status == 200
    pages = []
    for path in ("/console/", "/console/queue", "/console/api/queue", f"/console/c/{conv}", "/console/supervisor"):
        async with sam.get(path) as resp:
            assert resp.status == 200, path
            pages.append(await resp.text())
    text = "\n".join(pages)
    for number in ("5557654321", "5551239876", "555-765", "765-4321"):
        assert number not in text
    assert conv in text


async def test_login_redirects_only_inside_the_console(console: ConsoleServer) -> None:
    import re

    for target, expected in (("/console/supervisor", "/console/supervisor"), ("//evil.example/x", "/console/"),
                             ("https://evil.example/", "/console/"), ("/console/\\evil", "/console/")):
        client = await console.client()
        async with client.get("/console/login") as resp:
            login_csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)  # type: ignore
        async with client.post("/console/login", data={"csrf": login_csrf, "username": "sam", "password": PASSWORD,
                                                       "next": target}, allow_redirects=False) as resp:
            assert resp.headers["Location"] == expected, target
