"""Adapters: the hub's dealings with the outside world, one module per outside thing.

Kafka (`kafka`: producers, consumers, topics; `topics`: their names), Avro (`avro`),
the faust glue shared by router and notify (`streaming`, and `every_event`, the guard
against events faust skips), consumer lag (`lag`), logs without personal data (`logs`),
Prometheus metrics (`metrics`), the services' clock (`clock`), the records written to
topics besides referrals (`records`) and signed acknowledgement links (`ack_tokens`).

May import: the core, `referral_hub.config` and `referral_hub.settings`, and libraries.
Never the commands or the services.
"""
