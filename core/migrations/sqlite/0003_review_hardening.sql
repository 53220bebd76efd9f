-- The consent page's one-time ticket (its hash), revealed only by the approve call's answer.
ALTER TABLE auth_sessions ADD COLUMN consent_hash TEXT;
-- A resource server: may introspect access tokens issued to other clients.
ALTER TABLE clients ADD COLUMN introspection_allowed INTEGER NOT NULL DEFAULT 0;
