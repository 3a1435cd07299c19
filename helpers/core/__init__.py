"""The plumbing every step shares: settings, keys, client assertions, HTTP, OAuth, JWTs, checks."""
