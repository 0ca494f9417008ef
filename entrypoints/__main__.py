"""Allow `python -m entrypoints ...` (the same as the `tradeguard` console script)."""

from entrypoints.launcher import main

if __name__ == "__main__":
    main()
