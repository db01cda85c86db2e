"""Notifications: notices, reports and digests sent to the chat tools teams use.

One room per job; import from the room, this package re-exports nothing:

- message.py: what a notification is (`Notification`, `MessageKind`, `KeepHint`);
- render.py and pack.py: how it reads, and how it is split into messages that fit a service;
- transport.py: one time budget per notification, pacing, bounded POSTs (no redirect followed),
  retries;
- channel.py: the `Channel` Protocol; http_channel.py: what every webhook channel shares;
- channels/: one module per chat service, and the registry (`CHANNEL_TYPES`, `build_channels`);
- memory.py: `InMemoryChannel`, the twin for tests of callers;
- send.py: `send_all` to every channel in parallel within one budget, never raising, and
  `require_delivered` for a notice.

The settings (NOTIFY_URLS, the secrets, NOTIFY_ON) are parsed apart, in notify_settings.py.
"""
