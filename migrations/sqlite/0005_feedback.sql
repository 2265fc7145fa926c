-- Visitor feedback and conversation outcomes: one rating per bot reply ("helpful?") and one
-- per conversation ("did this solve your problem?", message_id ''), changeable; the outcome
-- a conversation was settled with once it went idle (counted once, in /metrics); and the
-- curated answers admins write for unanswered questions, with the questions they address.
CREATE TABLE feedback (
    tenant_id   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    -- The rated bot reply, or '' for the conversation as a whole.
    message_id  TEXT NOT NULL,
    -- 1: helpful / solved; 0: not helpful / not solved.
    positive    INTEGER NOT NULL,
    comment     TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session_id, message_id)
);

-- resolved | handed_off | abandoned | unresolved | none (the visitor never wrote); NULL
-- while the conversation may still go on.
ALTER TABLE sessions ADD COLUMN outcome TEXT;
ALTER TABLE sessions ADD COLUMN outcome_at INTEGER;
CREATE INDEX sessions_unsettled ON sessions (created_at) WHERE outcome IS NULL;

-- The admin's list of unanswered questions reads a tenant's messages by time.
CREATE INDEX messages_by_time ON messages (tenant_id, created_at);

-- A curated answer is a knowledge-base document (content_type 'curated'); this keeps what
-- the admin wrote, for editing and for kb-loader's export.
CREATE TABLE curated_answers (
    tenant_id    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    question     TEXT NOT NULL,
    answer       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, document_id)
);

-- Visitor questions a curated answer addresses (they show as addressed in the list).
CREATE TABLE addressed_questions (
    tenant_id    TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX addressed_questions_by_session ON addressed_questions (tenant_id, session_id);
