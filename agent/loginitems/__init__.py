"""Per-user login items, one small module per OS behind ``base.Writer`` (see agent/autostart.py)."""
