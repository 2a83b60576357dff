-- Counters the client API shows on every account and status, kept by triggers so a
-- timeline page reads them instead of counting (an author with 10,000 posts made every
-- page count 10,000 rows). Triggers run in the writing transaction: the counts are
-- exact, and a rollback takes its increments with it.

CREATE TABLE actor_stats (
    actor_id bigint PRIMARY KEY REFERENCES actors (id) ON DELETE CASCADE,
    statuses_count integer NOT NULL DEFAULT 0,
    followers_count integer NOT NULL DEFAULT 0,
    following_count integer NOT NULL DEFAULT 0,
    last_status_at timestamptz
);

CREATE TABLE status_stats (
    status_id bigint PRIMARY KEY REFERENCES statuses (id) ON DELETE CASCADE,
    replies_count integer NOT NULL DEFAULT 0,
    reblogs_count integer NOT NULL DEFAULT 0,
    favourites_count integer NOT NULL DEFAULT 0
);

-- Add to an actor's counters. Increments insert the row if needed; decrements only update
-- (the actor may be going away in the same statement, as in a cascade).
CREATE FUNCTION shoal_actor_add(actor bigint, statuses integer, followers integer,
                                following integer, last timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF statuses < 0 OR followers < 0 OR following < 0 THEN
        UPDATE actor_stats SET
            statuses_count = greatest(statuses_count + statuses, 0),
            followers_count = greatest(followers_count + followers, 0),
            following_count = greatest(following_count + following, 0)
        WHERE actor_id = actor;
    ELSE
        INSERT INTO actor_stats AS s
            (actor_id, statuses_count, followers_count, following_count, last_status_at)
        VALUES (actor, statuses, followers, following, last)
        ON CONFLICT (actor_id) DO UPDATE SET
            statuses_count = s.statuses_count + statuses,
            followers_count = s.followers_count + followers,
            following_count = s.following_count + following,
            last_status_at = greatest(s.last_status_at, last);
    END IF;
END $$;

CREATE FUNCTION shoal_status_add(status bigint, replies integer, reblogs integer,
                                 favourites integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF status IS NULL THEN
        RETURN;
    END IF;
    IF replies < 0 OR reblogs < 0 OR favourites < 0 THEN
        UPDATE status_stats SET
            replies_count = greatest(replies_count + replies, 0),
            reblogs_count = greatest(reblogs_count + reblogs, 0),
            favourites_count = greatest(favourites_count + favourites, 0)
        WHERE status_id = status;
    ELSIF EXISTS (SELECT 1 FROM statuses WHERE id = status) THEN
        INSERT INTO status_stats AS s (status_id, replies_count, reblogs_count, favourites_count)
        VALUES (status, replies, reblogs, favourites)
        ON CONFLICT (status_id) DO UPDATE SET
            replies_count = s.replies_count + replies,
            reblogs_count = s.reblogs_count + reblogs,
            favourites_count = s.favourites_count + favourites;
    END IF;
END $$;

CREATE FUNCTION shoal_statuses_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM shoal_actor_add(NEW.actor_id, 1, 0, 0, NEW.published_at);
        PERFORM shoal_status_add(NEW.in_reply_to_id, 1, 0, 0);
        PERFORM shoal_status_add(NEW.reblog_of_id, 0, 1, 0);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM shoal_actor_add(OLD.actor_id, -1, 0, 0, NULL);
        PERFORM shoal_status_add(OLD.in_reply_to_id, -1, 0, 0);
        PERFORM shoal_status_add(OLD.reblog_of_id, 0, -1, 0);
    ELSIF OLD.in_reply_to_id IS DISTINCT FROM NEW.in_reply_to_id THEN
        -- A reply that arrived before its parent is linked later.
        PERFORM shoal_status_add(OLD.in_reply_to_id, -1, 0, 0);
        PERFORM shoal_status_add(NEW.in_reply_to_id, 1, 0, 0);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER statuses_counters AFTER INSERT OR DELETE OR UPDATE OF in_reply_to_id
    ON statuses FOR EACH ROW EXECUTE FUNCTION shoal_statuses_counters();

CREATE FUNCTION shoal_follows_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    was boolean := TG_OP <> 'INSERT' AND OLD.state = 'accepted';
    now_accepted boolean := TG_OP <> 'DELETE' AND NEW.state = 'accepted';
BEGIN
    IF now_accepted AND NOT was THEN
        PERFORM shoal_actor_add(NEW.followee_id, 0, 1, 0, NULL);
        PERFORM shoal_actor_add(NEW.follower_id, 0, 0, 1, NULL);
    ELSIF was AND NOT now_accepted THEN
        PERFORM shoal_actor_add(OLD.followee_id, 0, -1, 0, NULL);
        PERFORM shoal_actor_add(OLD.follower_id, 0, 0, -1, NULL);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER follows_counters AFTER INSERT OR DELETE OR UPDATE OF state
    ON follows FOR EACH ROW EXECUTE FUNCTION shoal_follows_counters();

CREATE FUNCTION shoal_favourites_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM shoal_status_add(NEW.status_id, 0, 0, 1);
    ELSE
        PERFORM shoal_status_add(OLD.status_id, 0, 0, -1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER favourites_counters AFTER INSERT OR DELETE
    ON favourites FOR EACH ROW EXECUTE FUNCTION shoal_favourites_counters();

-- Counters for what existed before this migration.
INSERT INTO actor_stats (actor_id, statuses_count, followers_count, following_count,
                         last_status_at)
SELECT a.id,
       (SELECT count(*) FROM statuses s WHERE s.actor_id = a.id),
       (SELECT count(*) FROM follows f WHERE f.followee_id = a.id AND f.state = 'accepted'),
       (SELECT count(*) FROM follows f WHERE f.follower_id = a.id AND f.state = 'accepted'),
       (SELECT max(s.published_at) FROM statuses s WHERE s.actor_id = a.id)
FROM actors a;

INSERT INTO status_stats (status_id, replies_count, reblogs_count, favourites_count)
SELECT s.id,
       (SELECT count(*) FROM statuses r WHERE r.in_reply_to_id = s.id),
       (SELECT count(*) FROM statuses b WHERE b.reblog_of_id = s.id),
       (SELECT count(*) FROM favourites f WHERE f.status_id = s.id)
FROM statuses s
WHERE EXISTS (SELECT 1 FROM statuses r WHERE r.in_reply_to_id = s.id)
   OR EXISTS (SELECT 1 FROM statuses b WHERE b.reblog_of_id = s.id)
   OR EXISTS (SELECT 1 FROM favourites f WHERE f.status_id = s.id);
