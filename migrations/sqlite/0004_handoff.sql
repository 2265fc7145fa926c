-- Human handoff: tickets (at most one unsolved per session), the links of a ticket to the
-- ticketing systems it was sent to, the outbox of webhook deliveries (written in the
-- transaction of the change it reports, delivered and retried afterwards), and the ids of
-- inbound webhook events already applied (a duplicate changes nothing).
CREATE TABLE tickets (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    -- open (waiting for an agent) | pending (an agent has it) | solved
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    intent       TEXT,
    -- low | normal | high | urgent
    priority     TEXT NOT NULL,
    summary      TEXT NOT NULL,
    -- JSON array of {author, text, created_at}
    transcript   TEXT NOT NULL,
    -- policy | visitor | agent:<subject>
    opened_by    TEXT NOT NULL,
    assignee     TEXT,
    -- resolved | handed_back, once solved
    resolution   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tickets_one_unsolved_per_session ON tickets (tenant_id, session_id)
    WHERE status <> 'solved';
CREATE INDEX tickets_queue ON tickets (tenant_id, status, created_at);

CREATE TABLE ticket_links (
    tenant_id    TEXT NOT NULL,
    ticket_id    TEXT NOT NULL,
    -- the webhook's name in the tenant's settings, and its format
    target       TEXT NOT NULL,
    provider     TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id, target)
);
CREATE INDEX ticket_links_external ON ticket_links (tenant_id, provider, external_id);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        TEXT NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    target           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    ticket_id        TEXT NOT NULL,
    -- the event in our generic JSON format; every format is made from it
    payload          TEXT NOT NULL,
    -- pending | delivered | dead
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_tenant ON outbox (tenant_id, state, id);

CREATE TABLE inbound_events (
    tenant_id    TEXT NOT NULL,
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, provider, event_id)
);
