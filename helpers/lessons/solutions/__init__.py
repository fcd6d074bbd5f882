"""Reference solutions of the notebooks' exercises, one module per notebook.

They ship inside the package, not only beside the tests, so that
``helpers.lessons.checks.reveal`` can show one on a student's own machine once
enough different attempts have failed. Each exercise names its reference
(``Exercise.reference``), and the tests run every reference through the same
``helpers.check`` a student's cell uses: a reference that does not pass its own
cases fails the suite.

Each is written as a student could write it in the notebook's cell: the stub's
name and arguments, only modules the lesson has met, no helper of the course's
own except those the notebook itself imports, so the revealed cell runs as it is.

The ``lab_*.py`` files are whole programs, the labs' references: read as text
by ``helpers.lessons.labs`` and run as programs, never imported.
"""
