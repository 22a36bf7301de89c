-- Notifications (issue 15): what the owner has been told, so each event is told once,
-- reminded after an interval and resolved once, across runs.
--
-- One row per open event (or per cleared event whose "resolved" message is not yet
-- delivered). `event_key` names the event ("run", "key-rejected", "alert:123", ...);
-- `subject` and `body` are the latest wording. `notified_at` is when the last message
-- about it (first or reminder) reached every channel, NULL while it never has;
-- `cleared_at` is set when the event is gone and the row waits for its "resolved"
-- message; the row is deleted once that is delivered.
CREATE TABLE seh_notify_events (
    event_key   TEXT NOT NULL PRIMARY KEY,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    notified_at TEXT,
    reminders   INTEGER NOT NULL DEFAULT 0,
    cleared_at  TEXT
) WITHOUT ROWID;

-- One row per message sent (all channels accepted it) or tried, for the hourly cap and
-- `seh notify status`.
CREATE TABLE seh_notify_messages (
    sent_at   TEXT NOT NULL,
    events    INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    error     TEXT
);
CREATE INDEX seh_notify_messages_sent_at ON seh_notify_messages (sent_at);
