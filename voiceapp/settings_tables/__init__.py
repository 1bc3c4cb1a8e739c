"""Tables of the deployment config file that validate into typed values.

Each is plain data checked on the way in (errors are ``ConfigError`` naming the
key).  They sit below :mod:`voiceapp.config`, which builds them when it reads the
file, and are re-exported where they are used (``voiceapp.dialer.network``,
``voiceapp.dialer.callbacks``, ``voiceapp.web.compat.config``), so the config
imports neither the dialer nor the web layer (nor Flask).
"""
