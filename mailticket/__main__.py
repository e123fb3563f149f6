"""``python -m mailticket``: the same command line as the ``mailticket`` script."""

from mailticket.cli import main

if __name__ == "__main__":  # not again in a parse worker, which imports this module
    main()
