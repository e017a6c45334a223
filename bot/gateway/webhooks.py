"""Twilio's webhooks (thin handlers): inbound texts and delivery status callbacks, both signature-checked."""

from __future__ import annotations

import logging

from aiohttp import web

from bot import metrics
from bot.gateway.service import GATEWAY
from bot.sms.inbox import InboundText

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def _signed_form(request: web.Request) -> dict[str, str]:
    """The POSTed form, or 403 when ``X-Twilio-Signature`` does not match (nothing is stored then)."""
    gw = request.app[GATEWAY]
    try:
        form = {k: str(v) for k, v in (await request.post()).items()}
    except ValueError:
        raise web.HTTPBadRequest(text="malformed form body") from None
    if not gw.signatures.valid(request.path_qs, form, request.headers.get("X-Twilio-Signature")):
        log.warning("rejected %s: bad or missing Twilio signature", request.path)
        raise web.HTTPForbidden(text="invalid signature")
    return form


@metrics.timed_webhook("sms")
async def inbound_sms(request: web.Request) -> web.Response:
    """Store the text, answer Twilio at once with empty TwiML; the text is handled after the answer."""
    form = await _signed_form(request)
    try:
        text = InboundText.from_form(form)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    received = await request.app[GATEWAY].receive(text)
    if received.duplicate:
        request["webhook_outcome"] = "duplicate"
        log.info("duplicate MessageSid for message %s: acknowledged, not processed again", received.message_id)
    return _twiml()


@metrics.timed_webhook("status")
async def status_callback(request: web.Request) -> web.Response:
    """Record delivered / failed / undelivered for an outbound text."""
    form = await _signed_form(request)
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        raise web.HTTPBadRequest(text="missing MessageSid or MessageStatus")
    try:
        code = int(form["ErrorCode"]) if form.get("ErrorCode") else None
    except ValueError:
        code = None
    gw = request.app[GATEWAY]
    await gw.db.urgent(lambda: gw.outbox.record_status(sid, status, code))
    if status in ("failed", "undelivered"):
        metrics.send_failed(code)
    return _twiml()
