"""voiceapp's testing kit: run calls against your own voice app on virtual time.

::

    from voiceapp.testing import VoiceCall

    def test_pin(app):
        call = VoiceCall(app, "/voice", to="+14155550123")
        call.hears("Your pin is 8 9 7 0").ended_with("completed")

With pytest the ``voice_call`` fixture makes calls and closes them at the end of the
test (the plugin is registered by entry point; docs/testing.md).  A call runs against
any WSGI app in this process (no socket) or a base URL, with the dialer's own
requests (seed or, with ``account_sid``, Twilio parameters, signed), on a virtual
clock: waits cost no real time, and every wait is bounded.
"""

from voiceapp.testing.call import (
    APP_NUMBER,
    PHONE_NUMBER,
    CallAssertion,
    Callback,
    Dialed,
    Request,
    VoiceCall,
)
from voiceapp.testing.sessions import new_session
from voiceapp.testing.transport import WsgiTransport

__all__ = [
    "APP_NUMBER",
    "PHONE_NUMBER",
    "CallAssertion",
    "Callback",
    "Dialed",
    "Request",
    "VoiceCall",
    "WsgiTransport",
    "new_session",
]
