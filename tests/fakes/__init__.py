"""Stand-ins for outside services that have no local counterpart (see STYLE.md, point 10)."""
