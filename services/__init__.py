"""The three services, installed as `referral_hub.services`: `ingest` (the HTTP API and the
raw topics), `router` (the rules on the stream, and the timeliness tracker) and `notify`
(delivery by Kafka, webhook and email). Each is a thin entrypoint (`main.py`) wiring
adapters around the core; they may import everything in `referral_hub` but the commands.
"""
