-- API keys: a keyed hash of each key (HMAC-SHA256 under API_KEY_SECRET), never the key.
--
-- A key is revoked, not deleted (revoked_at), so `keys list` keeps its history and a
-- revocation travels to every node through updated_at (nodes read the rows changed
-- since their last refresh). A name is unique among active keys: after revoking
-- "acme" a new key may be called "acme" again. rate_limit / burst NULL: the node's
-- defaults for keys (RATE_LIMIT_KEY_RPS, RATE_LIMIT_KEY_BURST).

CREATE TABLE api_keys (
    id            bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text         NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_hash      bytea        NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    scopes        text[]       NOT NULL,
    rate_limit    double precision CHECK (rate_limit > 0),
    burst         integer      CHECK (burst >= 1),
    created_at    timestamptz  NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    updated_at    timestamptz  NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
-- the nodes' incremental refresh
CREATE INDEX api_keys_updated ON api_keys (updated_at);
