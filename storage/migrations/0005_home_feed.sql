-- Home feeds, kept as statuses and follows are written (fan-out on write, as Mastodon
-- keeps them): one row per local member and status of an account they follow, their own
-- included. Reading a page is then one index range scan, where gathering it from every
-- followed account's posts cost an index descent per account on every page.
--
-- Triggers run in the writing transaction, so a feed is never behind what is committed.
-- What a feed row does not decide stays with the reader: visibility (direct posts),
-- replies, boosts a follow hides, blocks and mutes. A deleted status leaves its rows
-- behind, joined to nothing (no foreign key: a cascade would need an index on status_id
-- for every delete).

CREATE TABLE home_feed (
    owner_id bigint NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    status_id bigint NOT NULL,
    author_id bigint NOT NULL,
    PRIMARY KEY (owner_id, status_id)
);
-- For an unfollow: the rows of one author in one feed.
CREATE INDEX home_feed_author ON home_feed (owner_id, author_id);

-- A new status goes to the feeds of its author's local followers, and its author's own.
CREATE FUNCTION shoal_home_feed_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO home_feed (owner_id, status_id, author_id)
    SELECT f.follower_id, NEW.id, NEW.actor_id
    FROM follows f JOIN actors a ON a.id = f.follower_id
    WHERE f.followee_id = NEW.actor_id AND f.state = 'accepted' AND a.local
    UNION
    SELECT NEW.actor_id, NEW.id, NEW.actor_id FROM actors a WHERE a.id = NEW.actor_id AND a.local
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER statuses_home_feed AFTER INSERT ON statuses
    FOR EACH ROW EXECUTE FUNCTION shoal_home_feed_status();

-- An accepted follow brings the account's statuses into the follower's feed; a follow
-- undone (or no longer accepted) takes them out again.
CREATE FUNCTION shoal_home_feed_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'accepted'
       AND (TG_OP = 'DELETE' OR NEW.state <> 'accepted') THEN
        DELETE FROM home_feed WHERE owner_id = OLD.follower_id AND author_id = OLD.followee_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 'accepted'
       AND (TG_OP = 'INSERT' OR OLD.state <> 'accepted')
       AND EXISTS (SELECT 1 FROM actors WHERE id = NEW.follower_id AND local) THEN
        INSERT INTO home_feed (owner_id, status_id, author_id)
        SELECT NEW.follower_id, s.id, s.actor_id FROM statuses s
        WHERE s.actor_id = NEW.followee_id
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER follows_home_feed AFTER INSERT OR DELETE OR UPDATE OF state
    ON follows FOR EACH ROW EXECUTE FUNCTION shoal_home_feed_follow();

-- The feeds of what is already stored.
INSERT INTO home_feed (owner_id, status_id, author_id)
SELECT f.follower_id, s.id, s.actor_id
FROM follows f
JOIN actors a ON a.id = f.follower_id AND a.local
JOIN statuses s ON s.actor_id = f.followee_id
WHERE f.state = 'accepted'
UNION
SELECT s.actor_id, s.id, s.actor_id FROM statuses s JOIN actors a ON a.id = s.actor_id AND a.local
ON CONFLICT DO NOTHING;
