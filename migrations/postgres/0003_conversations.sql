-- Conversations: every message of a session (visitor, bot, human agent), the session's event
-- feed (what a client polls with ?after=<seq>), and the bot's memory of the session.
CREATE TABLE messages (
    tenant_id   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    -- The cursor of the message's event: the session's order of messages.
    seq         BIGINT NOT NULL,
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    -- The visitor message a bot reply answers: at most one reply each.
    reply_to    TEXT,
    -- JSON: citations (array) and the structured action (object or NULL).
    citations   TEXT NOT NULL DEFAULT '[]',
    action      TEXT,
    responder   TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, reply_to)
);
CREATE INDEX messages_by_session ON messages (tenant_id, session_id, seq);

CREATE TABLE session_events (
    tenant_id   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, seq)
);

CREATE TABLE session_memory (
    tenant_id     TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    -- JSON array of remembered facts about the visitor.
    facts         TEXT NOT NULL DEFAULT '[]',
    summary       TEXT NOT NULL DEFAULT '',
    -- Consecutive turns the bot could not answer.
    failed_turns  BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id)
);
