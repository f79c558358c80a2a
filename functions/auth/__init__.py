"""The pure auth domain: passwords, e-mail addresses, tokens and the login throttle policy.

Nothing here talks to SQL, HTTP or Chalice; the account service stores what these
functions compute and the HTTP layer maps their errors to status codes.
"""
