-- Shoal's initial schema.
--
-- Ids the Mastodon API exposes are 64-bit integers that sort by time, like Mastodon's:
-- milliseconds since the epoch in the high 48 bits, 16 bits of sequence below. A remote
-- status takes its id from its published time, so timelines sort by when things were said.

CREATE SEQUENCE shoal_id_seq CYCLE MAXVALUE 65535;

CREATE FUNCTION shoal_id_at(at timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT ((floor(extract(epoch FROM at) * 1000)::bigint) << 16) | nextval('shoal_id_seq')
$$;

CREATE FUNCTION shoal_id() RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT shoal_id_at(clock_timestamp()) $$;

-- Key/value settings of the instance that admins change at run time (collective name…).
CREATE TABLE instance_settings (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every instance we know of. Federation policy (allow/block/pending) will hang off this.
CREATE TABLE domains (
    domain text PRIMARY KEY,
    software_name text,
    software_version text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_success_at timestamptz,
    last_failure_at timestamptz,
    -- Distinct days on which delivery failed since the last success.
    failure_days date[] NOT NULL DEFAULT '{}',
    unavailable boolean NOT NULL DEFAULT false
);

-- Actors, local and remote. A local actor has domain NULL and its private key.
CREATE TABLE actors (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    uri text NOT NULL UNIQUE,
    local boolean NOT NULL,
    type text NOT NULL CHECK (type IN ('Person', 'Group', 'Application', 'Service', 'Organization')),
    username text NOT NULL,
    domain text REFERENCES domains (domain) ON DELETE CASCADE,
    display_name text NOT NULL DEFAULT '',
    summary text NOT NULL DEFAULT '',
    -- What a local member typed (Mastodon's source.note); summary is its HTML.
    summary_source text,
    url text,
    inbox_uri text NOT NULL,
    shared_inbox_uri text,
    outbox_uri text,
    followers_uri text,
    following_uri text,
    featured_uri text,
    icon_url text,
    image_url text,
    manually_approves_followers boolean NOT NULL DEFAULT false,
    discoverable boolean NOT NULL DEFAULT true,
    fields jsonb NOT NULL DEFAULT '[]',
    public_key_id text,
    public_key_pem text,
    private_key_pem text,
    raw jsonb,
    published_at timestamptz,
    fetched_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CHECK (local = (domain IS NULL)),
    CHECK (NOT local OR private_key_pem IS NOT NULL)
);
CREATE UNIQUE INDEX actors_acct ON actors (lower(username), coalesce(domain, ''));
CREATE INDEX actors_public_key_id ON actors (public_key_id);
CREATE INDEX actors_domain ON actors (domain) WHERE domain IS NOT NULL;

-- People who log in. The password is an argon2id hash.
CREATE TABLE users (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    actor_id bigint NOT NULL UNIQUE REFERENCES actors (id) ON DELETE CASCADE,
    email text,
    password_hash text NOT NULL,
    role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'moderator', 'member')),
    locale text NOT NULL DEFAULT 'en',
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);
CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE email IS NOT NULL;

-- Posts, events and mutual-aid offers/requests are all statuses; `kind` tells them apart
-- and `data` carries what a kind adds (times and place of an event, what an offer is…).
CREATE TABLE statuses (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    uri text NOT NULL UNIQUE,
    url text,
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    local boolean NOT NULL,
    kind text NOT NULL DEFAULT 'note' CHECK (kind IN ('note', 'event', 'aid')),
    visibility text NOT NULL DEFAULT 'public'
        CHECK (visibility IN ('public', 'unlisted', 'private', 'direct')),
    content text NOT NULL DEFAULT '',
    source text,
    spoiler_text text NOT NULL DEFAULT '',
    sensitive boolean NOT NULL DEFAULT false,
    language text,
    in_reply_to_id bigint REFERENCES statuses (id) ON DELETE SET NULL,
    in_reply_to_uri text,
    reblog_of_id bigint REFERENCES statuses (id) ON DELETE CASCADE,
    audience text,
    data jsonb NOT NULL DEFAULT '{}',
    published_at timestamptz NOT NULL DEFAULT now(),
    edited_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (reblog_of_id IS NULL OR content = '')
);
CREATE INDEX statuses_actor ON statuses (actor_id, id DESC);
CREATE INDEX statuses_reblog_of ON statuses (reblog_of_id) WHERE reblog_of_id IS NOT NULL;
CREATE INDEX statuses_in_reply_to ON statuses (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX statuses_in_reply_to_uri ON statuses (in_reply_to_uri)
    WHERE in_reply_to_uri IS NOT NULL AND in_reply_to_id IS NULL;
CREATE INDEX statuses_public ON statuses (id DESC) WHERE visibility = 'public';
CREATE UNIQUE INDEX statuses_one_reblog ON statuses (actor_id, reblog_of_id)
    WHERE reblog_of_id IS NOT NULL;

CREATE TABLE status_mentions (
    status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    PRIMARY KEY (status_id, actor_id)
);
CREATE INDEX status_mentions_actor ON status_mentions (actor_id, status_id DESC);

CREATE TABLE status_tags (
    status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    tag text NOT NULL,
    PRIMARY KEY (status_id, tag)
);
CREATE INDEX status_tags_tag ON status_tags (tag, status_id DESC);

-- Deleted objects: a Delete that arrives before its Create is remembered here, and our
-- own deleted ids answer 410 with a Tombstone.
CREATE TABLE tombstones (
    uri text PRIMARY KEY,
    actor_uri text,
    former_type text,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE favourites (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    uri text UNIQUE,
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (actor_id, status_id)
);
CREATE INDEX favourites_status ON favourites (status_id);

CREATE TABLE follows (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    uri text NOT NULL UNIQUE,
    follower_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    followee_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted')),
    show_reblogs boolean NOT NULL DEFAULT true,
    notify boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz,
    UNIQUE (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, state);

-- Activities we published, kept for the outbox and for delivery.
CREATE TABLE activities (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    uri text NOT NULL UNIQUE,
    actor_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    type text NOT NULL,
    object_uri text,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activities_actor ON activities (actor_id, id DESC);

-- The delivery queue: one row per (activity, inbox). Workers claim due rows with
-- FOR UPDATE SKIP LOCKED and push next_attempt_at forward as a lease, so a worker that
-- dies mid-flight leaves rows that simply come due again.
CREATE TABLE deliveries (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    activity_id bigint NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    inbox_uri text NOT NULL,
    domain text NOT NULL,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (activity_id, inbox_uri)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'queued';

-- The inbox queue: verified activities waiting to be applied. The unique activity id is
-- what makes a replayed delivery a no-op.
CREATE TABLE inbox_items (
    id bigint PRIMARY KEY DEFAULT shoal_id(),
    activity_uri text NOT NULL UNIQUE,
    actor_uri text NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'ignored', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX inbox_items_due ON inbox_items (next_attempt_at) WHERE state = 'queued';
