-- Demo identities (issue 17, `realname-server demo enroll`): registry entries made in demo
-- mode are flagged, and a verification of such an identity is marked as a demo one. The
-- trigger marks it whichever path inserts the verified identity (face, mobile, partner).
ALTER TABLE authority_records ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;
ALTER TABLE verified_identities ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER verified_identities_mark_demo AFTER INSERT ON verified_identities
WHEN EXISTS (SELECT 1 FROM authority_records a WHERE a.id_hash = NEW.id_hash AND a.demo = 1)
BEGIN
    UPDATE verified_identities SET demo = 1 WHERE id_hash = NEW.id_hash;
END;
