-- Platform tables: tenants, sessions, idempotency records, counters.
-- Every row carries tenant_id; timestamps are Unix milliseconds; JSON is TEXT.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    widget_key  TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);

CREATE TABLE sessions (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    visitor_id    TEXT NOT NULL,
    visitor_name  TEXT,
    visitor_email TEXT,
    locale        TEXT,
    status        TEXT NOT NULL DEFAULT 'open',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sessions_by_status ON sessions (tenant_id, status, created_at);

CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, scope, key)
);

CREATE TABLE counters (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
