"""Live venues: the engine's Broker port on real exchanges through ccxt, and live bars.

Modules (import them directly; this package imports nothing so that settings stay light):
`config` (the `venue` settings group, mainnet catch), `ids` (client order ids that fit the
venue), `failures` (ccxt exception -> failure kind), `exchange` (ccxt client factory),
`ccxt_broker` (`CcxtBroker`: order placement and lookup), `ccxt_fills` (its fills and account
history), `calls` (its timed, classified round trips), `orders` (ccxt structures -> engine
values), `account` (the account-wide `VenueAccount` port and `PaperVenue`), `history`
(Binance trade-history windows), `sync` (the venue sync of a live account), `reconcile`
(account drift at start), `live_feed` (`LiveBarFeed`), `live` (live session wiring),
`readiness` (`venue check`), `service` (use cases of the CLI), `emulator/` (loopback Binance
spot REST emulator).
"""
