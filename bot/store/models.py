"""SQLAlchemy models: texters, conversations, messages (durable inbox and outbox), console users and sessions."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class InboundStatus(str, Enum):
    """An inbound text's status; only the inbox (bot.sms.inbox) changes it."""

    RECEIVED = "received"  # stored, not yet handled
    PROCESSING = "processing"  # a worker took it; if that worker died, it is handled again (see the inbox)
    PROCESSED = "processed"  # handled (sent to Rasa, the counselor's transcript, or answered by a keyword)
    IGNORED = "ignored"  # stored and visible, but nothing may be done with it (opted out, blocked, flooding)


class OutboundStatus(str, Enum):
    """An outbound text's status; only the outbox (bot.sms.outbox) changes it."""

    PENDING = "pending"  # waiting to be sent
    SENDING = "sending"  # leased: an attempt may reach Twilio
    UNKNOWN = "unknown"  # an attempt may have reached Twilio; Twilio is asked before sending again
    HELD = "held"  # never sent: the texter opted out (STOP, or Twilio's 21610)
    LOCAL = "local"  # no Twilio account: delivered to the local outbox
    SENT = "sent"  # Twilio accepted it
    QUEUED = "queued"  # delivery status callbacks, in order of progress
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


class ConversationState(str, Enum):
    """A conversation's state; only the queue (bot.handoff.queue) changes it."""

    INTAKE = "intake"  # the assistant is asking the intake questions
    WAITING = "waiting"  # in the counselor queue
    ACTIVE = "active"  # a counselor has it
    CLOSED = "closed"


class CloseReason(str, Enum):
    """Why a conversation closed: the one argument of ``queue.close``."""

    COUNSELOR = "counselor"
    OPTED_OUT = "opted_out"
    IDLE = "idle"
    ABUSE = "abuse"


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
    state = Column(String(16), nullable=False, default="intake")  # ConversationState
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
    closed_reason = Column(String(32))  # CloseReason
    language = Column(String(8), nullable=False, default="en")  # the texter's language (en | es)
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
    status = Column(String(16), nullable=False)  # InboundStatus or OutboundStatus, by direction
    error_code = Column(Integer)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime)
    lease_until = Column(DateTime)  # a worker holds this row until then; expired leases are taken again
    counselor_id = Column(Integer, ForeignKey("users.id"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    done_at = Column(DateTime)
    # Inbound: the triage's score of this text alone, taken once when it is stored (per-message risk).
    risk_score = Column(Integer)
    risk_level = Column(String(16))

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
    "CloseReason",
    "Conversation",
    "ConversationState",
    "ExperimentAssignment",
    "ExperimentLook",
    "ImportedItem",
    "InboundStatus",
    "Label",
    "Message",
    "OutboundStatus",
    "RateCounter",
    "Survey",
    "Texter",
    "TriageModel",
    "User",
    "WebSession",
    "utcnow",
]


# --- Abuse (issue 13) -------------------------------------------------------------------------------------------


class AbuseReview(Base):
    """One texter in the supervisors' review queue: what the detector, behaviour or a counselor found, and the
    decision. One open review per texter; new findings merge into it (bot.abuse.review owns every transition)."""

    __tablename__ = "abuse_reviews"
    id = Column(Integer, primary_key=True)
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False, index=True)
    conversation_id = Column(String(40), ForeignKey("conversations.id"), index=True)
    message_id = Column(Integer, ForeignKey("messages.id"))
    status = Column(String(16), nullable=False, default="open")  # open | dismissed | warned | blocked
    sources = Column(JSON, nullable=False, default=list)  # detector | behaviour | counselor_flag | counselor_end
    scores = Column(JSON, nullable=False, default=dict)  # {"spam": 0.97}
    evidence = Column(JSON, nullable=False, default=dict)  # {"spam": ["bit.ly/x", "you have won"]}: quoted words
    behaviour = Column(JSON, nullable=False, default=dict)  # figures: texts per minute, same text from N numbers...
    priority = Column(Float, nullable=False, default=0.0)  # likelihood x severity, for the order of review
    hits = Column(Integer, nullable=False, default=1)
    decided_by = Column(Integer, ForeignKey("users.id"))
    decided_at = Column(DateTime)
    decision_reason = Column(String(200))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_abuse_reviews_queue", "status", "priority"),)


class AbuseFlag(Base):
    """A counselor's flag on a conversation (abusive, prank, spam): a future training label for the detector."""

    __tablename__ = "abuse_flags"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), ForeignKey("conversations.id"), nullable=False, index=True)
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False)
    user_id = Column(Integer, ForeignKey("users.id"))
    label = Column(String(16), nullable=False)  # abusive | prank | spam
    predicted = Column(JSON, nullable=False, default=dict)  # the detector's scores at the time, beside the label
    created_at = Column(DateTime, nullable=False, default=utcnow)


class AbuseBlock(Base):
    """A block on a texter: until a time (24 hours, 30 days) or permanent (until is NULL), lifted early or not."""

    __tablename__ = "abuse_blocks"
    id = Column(Integer, primary_key=True)
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False, index=True)
    until = Column(DateTime)  # NULL: permanent
    reason = Column(String(200), nullable=False, default="")
    source = Column(String(16), nullable=False, default="staff")  # staff | cli | auto
    created_by = Column(Integer, ForeignKey("users.id"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    lifted_at = Column(DateTime)
    lifted_by = Column(Integer, ForeignKey("users.id"))


class AbuseTextSeen(Base):
    """A keyed hash of a normalized text and who sent it when: the same text from many numbers is coordinated."""

    __tablename__ = "abuse_text_seen"
    id = Column(Integer, primary_key=True)
    text_hash = Column(String(64), nullable=False)
    texter_id = Column(Integer, ForeignKey("texters.id"), nullable=False)
    seen_at = Column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_abuse_text_seen_hash", "text_hash", "seen_at"),)


__all__ += ["AbuseBlock", "AbuseFlag", "AbuseReview", "AbuseTextSeen"]
# --- Labels and models (issue 10) ----------------------------------------------------------------------------------


class ImportedItem(Base):
    """A labelled text imported from a file: it has no conversation, so its text lives here (never a number)."""

    __tablename__ = "imported_items"
    id = Column(Integer, primary_key=True)
    text = Column(Text, nullable=False)
    text_hash = Column(String(64), nullable=False, unique=True)  # sha256 of the text: duplicates are skipped
    source = Column(String(200), nullable=False, default="")  # the file's name, for cross-source evaluation
    language = Column(String(16), nullable=False, default="en")
    created_at = Column(DateTime, nullable=False, default=utcnow)


class Label(Base):
    """One label, beside the prediction the assistant made at the time. Texts are referenced (message ids, or the
    imported item), never copied. Sources: report (the counselor's confirmed report), review (a supervisor's
    blind review), adjudication (a supervisor settling a disagreement), import."""

    __tablename__ = "labels"
    id = Column(Integer, primary_key=True)
    source = Column(String(16), nullable=False)
    conversation_id = Column(String(40), ForeignKey("conversations.id"), index=True)
    item_id = Column(Integer, ForeignKey("imported_items.id", ondelete="CASCADE"), index=True)
    message_ids = Column(JSON, nullable=False, default=list)
    label = Column(Integer)  # 1 = at risk (level moderate or above), 0 = not
    level = Column(String(16))
    needs = Column(JSON, nullable=False, default=list)
    labeller = Column(String(40), nullable=False)  # a console user id, or "import"
    labeller_id = Column(Integer, ForeignKey("users.id"), index=True)
    language = Column(String(16), nullable=False, default="en")
    predicted_model = Column(String(80))
    predicted_score = Column(Integer)
    predicted_level = Column(String(16))
    predicted_reasons = Column(JSON, nullable=False, default=list)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_labels_source", "source", "conversation_id"),)


class TriageModel(Base):
    """A learned triage model in the registry: its bytes, metadata (data size and hash, figures) and status
    (candidate -> live -> retired). Stored here, never in git, so every instance loads the same live one."""

    __tablename__ = "triage_models"
    id = Column(Integer, primary_key=True)
    version = Column(String(80), nullable=False, unique=True)
    status = Column(String(16), nullable=False, default="candidate", index=True)
    meta = Column("metadata", JSON, nullable=False, default=dict)
    data = Column(LargeBinary, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    promoted_at = Column(DateTime)
