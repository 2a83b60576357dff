-- The Mastodon client API: OAuth, notifications, bookmarks, pins, blocks, mutes,
-- edits, markers, idempotent posting and shared rate limits.

-- OAuth 2. Secrets, codes and tokens are stored as SHA-256 hashes only.
CREATE TABLE oauth_apps (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    client_id text NOT NULL UNIQUE,
    client_secret_hash text NOT NULL,
    name text NOT NULL,
    website text,
    redirect_uris text[] NOT NULL,
    scopes text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE oauth_codes (
    code_hash text PRIMARY KEY,
    app_id bigint NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes text NOT NULL,
    redirect_uri text NOT NULL,
    code_challenge text,
    code_challenge_method text,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);

CREATE TABLE oauth_tokens (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    token_hash text NOT NULL UNIQUE,
    app_id bigint NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    -- NULL for a client_credentials token: it acts for the app, not for a member.
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    scopes text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id) WHERE user_id IS NOT NULL;

-- Notifications for local actors.
CREATE TABLE notifications (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    recipient_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    from_actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    type text NOT NULL CHECK (type IN ('mention', 'status', 'reblog', 'follow', 'follow_request',
                                       'favourite', 'poll', 'update', 'admin.sign_up',
                                       'admin.report')),
    status_id bigint REFERENCES statuses (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    dismissed_at timestamptz
);
CREATE INDEX notifications_recipient ON notifications (recipient_id, id DESC)
    WHERE dismissed_at IS NULL;
-- One notification per (recipient, kind, who, what): a replayed Like notifies once.
CREATE UNIQUE INDEX notifications_once ON notifications
    (recipient_id, type, from_actor_id, coalesce(status_id, 0));

CREATE TABLE bookmarks (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (actor_id, status_id)
);

CREATE TABLE pins (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (actor_id, status_id)
);

CREATE TABLE blocks (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    uri text UNIQUE,
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    target_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (actor_id, target_id)
);
CREATE INDEX blocks_target ON blocks (target_id);

CREATE TABLE mutes (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    target_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    hide_notifications boolean NOT NULL DEFAULT true,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (actor_id, target_id)
);

-- Earlier versions of an edited status (Mastodon's status history).
CREATE TABLE status_edits (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    content text NOT NULL,
    spoiler_text text NOT NULL DEFAULT '',
    sensitive boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX status_edits_status ON status_edits (status_id, id);

CREATE TABLE markers (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    timeline text NOT NULL CHECK (timeline IN ('home', 'notifications')),
    last_read_id bigint NOT NULL,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, timeline)
);

-- POST /api/v1/statuses with Idempotency-Key: the same key returns the same status.
CREATE TABLE idempotency_keys (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key text NOT NULL,
    status_id bigint REFERENCES statuses (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- Fixed-window rate limits shared by every process (login attempts, posting).
CREATE TABLE rate_limits (
    bucket text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL
);

-- Timelines read statuses by author, newest first, and a home timeline by followed
-- authors; a local-only public timeline needs its own index.
CREATE INDEX statuses_local_public ON statuses (id DESC) WHERE visibility = 'public' AND local;
CREATE INDEX follows_follower ON follows (follower_id, state);
