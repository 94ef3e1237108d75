"""What happens during a run: the session's hooks (``session``), suites into items
(``collect``) and fixtures, each item's result in whichever process runs it (``runner``),
the controller's records (``recorder``), the prefetch engine with its adaptive limit, and
the xdist broker and scheduler. The only package that imports pytest at module level."""
