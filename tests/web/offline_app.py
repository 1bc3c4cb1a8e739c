"""``gunicorn 'offline_app:create_app()'``: voiceapp whose host lookups stay on this machine.

The schemathesis test posts generated URLs (``http://a.b/``): the call API resolves
their hosts to check they are public.  Here a name that is not an IP address or
``localhost`` does not resolve (``url-unresolvable``), so the test talks to nothing
but 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from flask import Flask

_getaddrinfo = socket.getaddrinfo


def _local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name in (None, "localhost"):
        return _getaddrinfo(host, *args, **kwargs)
    try:
        ipaddress.ip_address(str(name).strip("[]"))
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, "lookups are off in this test server") from None
    return _getaddrinfo(host, *args, **kwargs)


def create_app() -> Flask:
    socket.getaddrinfo = _local_only
    from voiceapp.web import create_app as make

    return make()
