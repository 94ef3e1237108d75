"""The ``json_extraction`` task: free text about invented people and businesses, the object
to extract from it, and the JSON Schema that defines the fields.

``fields`` and ``render`` are shared by the eight domain modules (``contact``, ``order``,
``event``, ``product``, ``medical``, ``travel``, ``support``, ``shipping``); ``record`` puts
a domain's fields into a document and draws whole splits.
"""
