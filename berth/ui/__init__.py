"""Views of scheduler events: live terminal table, plain CI lines, or nothing (JSON/quiet)."""
