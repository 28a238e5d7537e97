-- Demo identities (issue 17, `realname-server demo enroll`): registry entries made in demo
-- mode are flagged, and a verification of such an identity is marked as a demo one. The
-- trigger marks it whichever path inserts the verified identity (face, mobile, partner).
ALTER TABLE authority_records ADD COLUMN demo BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE verified_identities ADD COLUMN demo BOOLEAN NOT NULL DEFAULT FALSE;

CREATE FUNCTION verified_identities_mark_demo() RETURNS trigger AS $$
BEGIN
    NEW.demo := NEW.demo OR EXISTS (
        SELECT 1 FROM authority_records a WHERE a.id_hash = NEW.id_hash AND a.demo
    );
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER verified_identities_mark_demo BEFORE INSERT ON verified_identities
FOR EACH ROW EXECUTE FUNCTION verified_identities_mark_demo();
