"""Alerts through Apprise: durable outbox, delivery worker, dedup, ack, silences, heartbeat.

Modules: config (settings group), policy (engine event -> alert), render (decoration),
channels (Apprise), outbox/deliveries (tables), writer (store commit hook), worker
(delivery off the trading path), heartbeat (dead-man switch), runtime (composition-root
wiring), service (use cases of the CLI and the flows).
"""
