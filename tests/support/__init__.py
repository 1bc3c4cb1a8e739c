"""Helpers shared by the tests, one module per kind of thing they start or fake.

``tests/`` is on ``sys.path`` (pytest puts ``tests/conftest.py``'s folder there), so a
test imports ``from support.web import Gunicorn``:

* ``net``: ``free_port()``, a TCP port on 127.0.0.1 that nothing listens on.
* ``clocks``: the one settable test clock (``Clock``) for stores, tokens and the web.
* ``redisproc``: a throwaway ``redis-server``; ``servers``: the voiceapp server in a
  thread, ``wait_for``; ``web``: gunicorn and the web tests' keys and sessions;
  ``stores``, ``compat``, ``e2e``, ``dialer``, ``sites``: what those test folders share
  (``e2e.HttpReceiver`` receives status callbacks over real HTTP, ``dialer.Receiver``
  in process);
  ``feather``, ``pathors``, ``polyai``, ``thunderphone``: the vendor routes' paths,
  credentials and seed examples; ``worker``: the dialer worker tests' deployment;
  ``fuzz``: the route fuzz's strategies; ``xml``: canonical XML for comparisons.
"""
