-- An account's profile version, kept beside its counters: a page of statuses reads the
-- counters of each author already, and now learns from the same row whether the account
-- entity it rendered before still holds, without visiting the actor's row as well.
-- Every change to an actor's row (insert or update) moves its version on.
ALTER TABLE actor_stats ADD COLUMN profile_version bigint NOT NULL DEFAULT 0;

INSERT INTO actor_stats (actor_id) SELECT id FROM actors ON CONFLICT (actor_id) DO NOTHING;

CREATE FUNCTION shoal_actor_profile_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO actor_stats AS s (actor_id) VALUES (NEW.id)
    ON CONFLICT (actor_id) DO UPDATE SET profile_version = s.profile_version + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER actors_profile_version AFTER INSERT OR UPDATE ON actors
    FOR EACH ROW EXECUTE FUNCTION shoal_actor_profile_changed();
