"""SMS: the Twilio webhook, signatures, keywords, segmenting, the durable inbox and outbox, and sending."""
