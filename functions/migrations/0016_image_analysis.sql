-- What processing learns about every image (functions/imaging/analysis.py), kept next to it.
-- placeholder: {"thumbhash", "blurhash", "data_uri"}; colors: {"dominant", "palette": [{"hex", "share"}]};
-- animation: {"frames", "animated", "still_reason"} for multi-frame sources, else NULL.
ALTER TABLE images ADD COLUMN placeholder jsonb;
ALTER TABLE images ADD COLUMN colors jsonb;
ALTER TABLE images ADD COLUMN animation jsonb;
-- The 64-bit perceptual hash as a signed bigint, and its eight bytes as separate columns: two hashes
-- within 7 bits share at least one whole byte (pigeonhole), so a near-duplicate search asks eight
-- btree indexes for exact byte matches and filters those few candidates by bit_count of the XOR.
ALTER TABLE images ADD COLUMN phash bigint;
ALTER TABLE images ADD COLUMN phash_b0 smallint, ADD COLUMN phash_b1 smallint, ADD COLUMN phash_b2 smallint,
    ADD COLUMN phash_b3 smallint, ADD COLUMN phash_b4 smallint, ADD COLUMN phash_b5 smallint,
    ADD COLUMN phash_b6 smallint, ADD COLUMN phash_b7 smallint;
CREATE INDEX images_phash_b0 ON images (owner_id, phash_b0) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b1 ON images (owner_id, phash_b1) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b2 ON images (owner_id, phash_b2) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b3 ON images (owner_id, phash_b3) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b4 ON images (owner_id, phash_b4) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b5 ON images (owner_id, phash_b5) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b6 ON images (owner_id, phash_b6) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b7 ON images (owner_id, phash_b7) WHERE phash IS NOT NULL;
-- "reject": an upload or import that duplicates one of its owner's done images ends failed (duplicate).
ALTER TABLE images ADD COLUMN on_duplicate text NOT NULL DEFAULT 'allow';
