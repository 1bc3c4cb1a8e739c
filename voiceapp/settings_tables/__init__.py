"""Tables of the deployment config file that validate into typed values.

Each is plain data checked on the way in with one vocabulary (the checks of
:mod:`voiceapp.checks`, located by :class:`.key.Key`: errors are ``ConfigError``
naming the key).  They sit below :mod:`voiceapp.config`, which builds them when it
reads the file, and are imported from here by those who read them (the dialer, the
vendor routes), so the config imports neither the dialer nor the web layer (nor Flask).
"""
