-- Visitor feedback and conversation outcomes: one rating per bot reply ("helpful?") and one
-- per conversation ("did this solve your problem?", message_id ''), changeable; and the
-- outcome a conversation was settled with once it went idle (counted once, in /metrics).
CREATE TABLE feedback (
    tenant_id   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    -- The rated bot reply, or '' for the conversation as a whole.
    message_id  TEXT NOT NULL,
    -- 1: helpful / solved; 0: not helpful / not solved.
    positive    BIGINT NOT NULL,
    comment     TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, message_id)
);

-- resolved | handed_off | abandoned | unresolved | none (the visitor never wrote); NULL
-- while the conversation may still go on.
ALTER TABLE sessions ADD COLUMN outcome TEXT;
ALTER TABLE sessions ADD COLUMN outcome_at BIGINT;
CREATE INDEX sessions_unsettled ON sessions (created_at) WHERE outcome IS NULL;
