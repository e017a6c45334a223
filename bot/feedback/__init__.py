"""Texter feedback: the survey after a conversation closes (bot.feedback.survey)."""
