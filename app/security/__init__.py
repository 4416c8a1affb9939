"""API keys (optional authentication, docs/security.md): the keys file, its digests and the constant-time match.

``keys`` owns the file format (TOML: key id, SHA-256 digest, scopes, created), reading it with errors
that name the key and its line, writing it atomically (temp file + rename, mode 0600), minting new
keys, and matching a presented key against every stored digest in constant time. The HTTP edge
(``app.http.auth``) enforces it on requests; ``ctr keys`` (``app.cli.keys``) edits the file. Imports
only the standard library and ``app.errors``; the server never stores or logs a key, only digests.
"""
