"""The learning loop: labels beside predictions (labels), rater agreement (quality), imports, retention and
deletion on request (retention), the model registry and loader (registry), and training (train).

It sits beside the triage library and below the gateway and the console: it imports bot.store and bot.triage only.
"""
