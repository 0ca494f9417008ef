"""A loopback Binance spot REST emulator serving real bars, for tests and offline drills.

`market` (bars and prices by time), `book` (account, orders, matching), `faults` (HTTP fault
plan), `server` (`ExchangeEmulator` and its `EmulatorServer` on 127.0.0.1).
"""
