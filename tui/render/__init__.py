"""Fast streaming render machinery for the Textual app: the only place that touches private Textual names, each behind the gate in ``gate.py``."""
