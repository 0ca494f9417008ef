"""Entry points on top of everything: the console command (and future API servers)."""
