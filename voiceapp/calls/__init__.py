"""The calls core: what a call is, below both the web layer and the dialer.

* :mod:`~voiceapp.calls.states` — call statuses and their transitions, one table;
* :mod:`~voiceapp.calls.records` — the call spec and the stored records;
* :mod:`~voiceapp.calls.subscriptions` — who gets which status-callback events;
* :mod:`~voiceapp.calls.writes` — the writes to a call, one type with one dispatch;
* :mod:`~voiceapp.calls.refusals` — the errors a store answers a refused write with;
* :mod:`~voiceapp.calls.api_json` — records as the API shows them (its key names).

Persistence is :mod:`voiceapp.stores.calls` (SQLite, Redis); no I/O here.
"""
