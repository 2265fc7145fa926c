-- Knowledge base: documents, their chunks, and the keyword index over the chunks
-- (a weighted tsvector with a GIN index). A document with a session_id is a visitor's
-- attachment, searchable only in that session; the tenant's knowledge base has session_id
-- NULL. Vectors live in Chroma, keyed by chunk id.
CREATE TABLE kb_documents (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    id             TEXT NOT NULL,
    external_id    TEXT NOT NULL,
    session_id     TEXT,
    title          TEXT NOT NULL,
    source_url     TEXT,
    content_type   TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    chunk_count    BIGINT NOT NULL,
    -- 'indexed' once every chunk is in the vector index, 'pending' until then.
    vector_status  TEXT NOT NULL,
    -- The vector-index collection the vectors went to (the dimension is part of its name).
    vector_collection TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX kb_documents_by_update ON kb_documents (tenant_id, updated_at, id);

CREATE TABLE kb_chunks (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    document_id   TEXT NOT NULL,
    session_id    TEXT,
    position      BIGINT NOT NULL,
    -- JSON array of heading titles, outermost first.
    heading_path  TEXT NOT NULL,
    text          TEXT NOT NULL,
    byte_start    BIGINT NOT NULL,
    byte_end      BIGINT NOT NULL,
    page          BIGINT,
    search        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', heading_path), 'A') ||
        setweight(to_tsvector('english', text), 'B')
    ) STORED,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX kb_chunks_by_document ON kb_chunks (tenant_id, document_id, position);
CREATE INDEX kb_chunks_search ON kb_chunks USING GIN (search);
