"""``python -m mailticket``: the same command line as the ``mailticket`` script."""

if __name__ == "__main__":  # imported, not run, by a worker process: nothing to load
    from mailticket.cli import main

    main()
