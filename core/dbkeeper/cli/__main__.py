"""``python -m dbkeeper.cli``: the same as the ``dbkeeper`` script."""

from dbkeeper.cli import main

if __name__ == "__main__":
    main()
