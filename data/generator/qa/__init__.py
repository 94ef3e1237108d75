"""The ``qa`` task: a short context about invented entities, a question, its short answer and
the context sentences needed to answer it.

``world`` invents the entities and states facts about them; ``factual``, ``reasoning`` and
``multihop`` ask one question type each; ``record`` fills the context and draws whole splits.
"""
