"""The plan: a pure function from (desired, actual) to a frozen value that can be shown, saved and applied."""
