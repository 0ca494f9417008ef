"""Allow `python -m tradeguard ...`."""

from tradeguard.cli import main

if __name__ == "__main__":
    main()
