"""How long a password may be: the one place the limits are declared.

Kept apart from passwords.py (which loads argon2) so the HTTP layer's request schemas can quote
the limits without loading the hasher.
"""

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128  # never truncated: a longer password is refused, not cut
