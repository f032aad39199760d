"""The pure core: what the hub decides, and nothing else.

The contract (`incident`), its validation, each person's `history`, the pathway `rules`,
the `deadlines` on the UK calendar, what each recipient may see (`disclosure`) and the
life of a referral until first contact (`timeliness`). Every function here is a function
of its arguments: no Kafka, HTTP, faust, SMTP, clock, file or environment access, and no
logging of its own, so "why did this case go to MARAC" is answered by reading this folder
and tested without a broker.

May import: the standard library's pure parts, pydantic (the contract), `holidays` (the
bank holiday calendar, data only), `referral_hub.config` (the configuration's types) and
each other. tests/unit/test_core_imports.py fails on anything else.
"""
