"""Allow `python -m tradeguard ...`: a launcher alias of the console script, never imported.

The one file under tradeguard/ allowed to reach up to entrypoints/ (see docs/engineering.md).
"""

from entrypoints.launcher import main

if __name__ == "__main__":
    main()
