"""SQLAlchemy models: texters, conversations, messages (durable inbox and outbox), console users and sessions."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Texter(Base):
    """A phone number, known only by its keyed hash; the number itself is encrypted for replies."""

    __tablename__ = "texters"
    id = Column(Integer, primary_key=True)
    phone_hash = Column(String(64), nullable=False, unique=True)
    phone_enc = Column(Text, nullable=False)
    opted_out = Column(Boolean, nullable=False, default=False)
    opted_out_at = Column(DateTime)
    blocked = Column(Boolean, nullable=False, default=False)
    blocked_reason = Column(String(200))
    notice_sent_at = Column(DateTime)  # last rate-limit / block notice, so there is at most one
    # A gateway worker holds a texter while it handles their texts, so one texter's texts are handled in order
    # even with several gateways; an expired lease (a crashed worker) is taken over.
    lease_owner = Column(String(40))
    lease_until = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)


class Conversation(Base):
    """One contact from a texter, from the first text through intake, queue and counselor to close."""

    __tablename__ = "conversations"
    id = Column(String(40), primary_key=True)  # pseudonymous id; also Rasa's sender id
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False, index=True)
    state = Column(String(16), nullable=False, default="intake")  # intake | waiting | active | closed
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    queued_at = Column(DateTime)
    claimed_at = Column(DateTime)
    closed_at = Column(DateTime)
    counselor_id = Column(Integer, ForeignKey("users.id"), index=True)
    urgency_level = Column(String(16), nullable=False, default="none")
    urgency_score = Column(Integer, nullable=False, default=0)
    urgency_reasons = Column(JSON, nullable=False, default=list)
    needs = Column(JSON, nullable=False, default=list)
    context = Column(JSON, nullable=False, default=dict)  # handoff context: answers, referrals, summary, reason
    intake_complete = Column(Boolean, nullable=False, default=False)
    handoff_reason = Column(String(32))
    closed_reason = Column(String(32))
    last_inbound_at = Column(DateTime)
    last_notice_at = Column(DateTime)  # last "still waiting" text to the texter
    alerted_at = Column(DateTime)  # supervisors alerted about this wait
    report = Column(JSON)  # post-conversation report as confirmed by the counselor
    texter = relationship("Texter", lazy="joined")

    __table_args__ = (Index("ix_conversations_queue", "state", "urgency_score", "queued_at"),)


class Message(Base):
    """Every text in or out. Inbound rows are the durable inbox, outbound rows the durable outbox."""

    __tablename__ = "messages"
    id = Column(Integer, primary_key=True)
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False)
    conversation_id = Column(String(40), ForeignKey("conversations.id"))
    direction = Column(String(3), nullable=False)  # in | out
    author = Column(String(16), nullable=False)  # texter | bot | counselor | system
    body = Column(Text, nullable=False, default="")
    num_media = Column(Integer, nullable=False, default=0)
    twilio_sid = Column(String(64), unique=True)  # MessageSid: unique, so a retried webhook is stored once
    # inbound: received -> processed | ignored ; outbound: pending -> sending -> sent -> delivered | failed |
    # undelivered, or held (opted out) / local (no Twilio account: the local outbox)
    status = Column(String(16), nullable=False)
    error_code = Column(Integer)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime)
    lease_until = Column(DateTime)  # a worker holds this row until then; expired leases are taken again
    counselor_id = Column(Integer, ForeignKey("users.id"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    done_at = Column(DateTime)

    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_work", "direction", "status", "next_attempt_at"),
        Index("ix_messages_texter", "texter_id", "id"),
    )


class User(Base):
    """A console account: counselor, supervisor or admin."""

    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    username = Column(String(80), nullable=False, unique=True)
    display_name = Column(String(120), nullable=False, default="")
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default="counselor")  # counselor | supervisor | admin
    active = Column(Boolean, nullable=False, default=True)
    max_active = Column(Integer, nullable=False, default=3)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class WebSession(Base):
    """A console login: the cookie carries a random token, the row keeps only its hash."""

    __tablename__ = "web_sessions"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    user_id = Column(Integer, ForeignKey("users.id"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    user = relationship("User", lazy="joined")


class AuditEvent(Base):
    """An audit and alert trail: claims, transfers, closes, alerts, delivery failures (no message bodies)."""

    __tablename__ = "audit_events"  # not "events": Rasa's SQL tracker store owns that name
    id = Column(Integer, primary_key=True)
    kind = Column(String(40), nullable=False, index=True)
    conversation_id = Column(String(40), ForeignKey("conversations.id"), index=True)
    user_id = Column(Integer, ForeignKey("users.id"))
    data = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class RateCounter(Base):
    """Per-number inbound counts in fixed one-minute windows, for the flood limit."""

    __tablename__ = "rate_counters"
    texter_id = Column(Integer, ForeignKey("texters.id"), primary_key=True)
    window_start = Column(DateTime, primary_key=True)
    count = Column(Integer, nullable=False, default=0)


# --- Feedback and experiments (issue 12) ------------------------------------------------------------------------


# The survey job looks for recent closes on every run.
Index("ix_conversations_closed", Conversation.state, Conversation.closed_at)


class Survey(Base):
    """The texter survey after one closed conversation (owner: bot.feedback.survey): sent once, answers kept.

    status: sent (awaiting the 1-5 answer) -> asked_second (awaiting the second answer) -> answered, or
    expired (no answer in time) / crisis (the reply said the texter needs help again: never filed as feedback).
    """

    __tablename__ = "surveys"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), ForeignKey("conversations.id"), nullable=False, unique=True)
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False, index=True)
    status = Column(String(16), nullable=False, default="sent")
    sent_at = Column(DateTime, nullable=False, default=utcnow)
    score = Column(Integer)  # 1-5: did the conversation help
    score_text = Column(Text)  # the texter's own words for the first answer
    second = Column(String(16))  # yes | no | unsure (less alone than at the start), when read
    second_text = Column(Text)
    answered_at = Column(DateTime)


class ExperimentAssignment(Base):
    """Which variant of an intake experiment one conversation got (owner: bot.experiments.assign)."""

    __tablename__ = "experiment_assignments"
    conversation_id = Column(String(40), ForeignKey("conversations.id"), primary_key=True)
    experiment = Column(String(64), primary_key=True)
    variant = Column(String(64), nullable=False)
    assigned_at = Column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_experiment_assignments_exp", "experiment", "variant", "assigned_at"),)


class ExperimentLook(Base):
    """One planned guard-rail look at an experiment, evaluated once (owner: bot.experiments.guardrail); a stopped
    variant gets no new assignments."""

    __tablename__ = "experiment_looks"
    experiment = Column(String(64), primary_key=True)
    look = Column(Integer, primary_key=True)
    evaluated_at = Column(DateTime, nullable=False, default=utcnow)
    stopped = Column(JSON, nullable=False, default=list)  # variant names stopped at this look
    result = Column(JSON, nullable=False, default=dict)  # p-values per variant and metric


__all__ = [
    "AuditEvent",
    "Base",
    "Conversation",
    "ExperimentAssignment",
    "ExperimentLook",
    "Message",
    "RateCounter",
    "Survey",
    "Texter",
    "User",
    "WebSession",
    "utcnow",
]
