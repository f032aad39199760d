"""The commands a person runs: `referral-hub` and its subcommands.

`cli` (the entry point), `route` (the rules offline), `report` (the board's monthly
figures), `watch` (a topic as JSON lines), `stack` (the local broker and services),
`demo` (`make demo`, built on the stack) and `sample_month` (a synthetic month onto the
topics). They wire the core and the adapters together; nothing imports them but each
other, in one direction (demo -> stack, cli -> the rest).
"""
