"""The code behind ``python data/generate.py``: the two synthetic eval datasets, by task.

Standard library only; every draw comes from a ``random.Random`` seeded per task, so the
same seed always gives the same bytes. Imports run one way, from the bottom up:

- ``words``: pools of invented names and words; ``draw``: the random helpers both tasks use.
- ``json_extraction``: fields and schemas, rendering, one module per domain, then ``record``
  (one record, one split).
- ``qa``: the invented world, one module per question type, then ``record`` (one record,
  one split).
- ``splits``: both tasks' shipped splits, drawn in order and written as JSON Lines;
  ``extra``: extra training data kept apart from them.

``data/generate.py`` is the command line.
"""
