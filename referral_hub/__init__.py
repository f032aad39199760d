"""The referral hub: police incident notifications in, routed referrals out.

- `core/`: the pure rules and contract (no I/O); start here for "why did this case go to MARAC".
- `adapters/`: Kafka, Avro, faust glue, logs, metrics, clock.
- `commands/`: what a person runs (`referral-hub ...`, `make demo`).
- `config.py` (areas, agencies, deadlines: validated at start-up) and `settings.py` (the
  process's RH_* environment), reached by every layer.
- `services/` (installed as `referral_hub.services`, kept in the repository's top-level
  `services/` folder): ingest, router and notify, thin entrypoints wiring adapters around
  the core.
"""
