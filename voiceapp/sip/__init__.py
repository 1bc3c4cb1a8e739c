"""SIP signalling (RFC 3261) for the dialer's SIP backend.

:mod:`~voiceapp.sip.message` parses and writes messages, :mod:`~voiceapp.sip.digest`
answers 401/407 challenges, :mod:`~voiceapp.sip.sdp` makes the offer and reads the
answer, :mod:`~voiceapp.sip.transaction` runs the client transactions with their
timers, and :mod:`~voiceapp.sip.agent` is the user agent on one UDP socket: it
places calls (:class:`~voiceapp.sip.agent.OutgoingCall`) and answers what arrives
inside their dialogs.  Everything runs on the asyncio loop it is given.
"""
