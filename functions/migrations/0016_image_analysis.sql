-- What processing learns about every image (functions/imaging/analysis.py), kept next to it.
-- placeholder: {"thumbhash", "blurhash", "data_uri"}; colors: {"dominant", "palette": [{"hex", "share"}]};
-- animation: {"frames", "animated", "still_reason"} for multi-frame sources, else NULL.
ALTER TABLE images ADD COLUMN placeholder jsonb;
ALTER TABLE images ADD COLUMN colors jsonb;
ALTER TABLE images ADD COLUMN animation jsonb;
-- The 64-bit perceptual hash as a signed bigint, and its four 16-bit bands as separate indexed columns
-- (multi-index hashing): two hashes within r bits have a band within floor(r/4) bits (pigeonhole), so a
-- near-duplicate search looks up each band's few neighbour values in its btree index and filters those
-- candidates by bit_count of the XOR (functions/store.py similar_images).
ALTER TABLE images ADD COLUMN phash bigint;
ALTER TABLE images ADD COLUMN phash_b0 integer, ADD COLUMN phash_b1 integer, ADD COLUMN phash_b2 integer,
    ADD COLUMN phash_b3 integer;
CREATE INDEX images_phash_b0 ON images (owner_id, phash_b0) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b1 ON images (owner_id, phash_b1) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b2 ON images (owner_id, phash_b2) WHERE phash IS NOT NULL;
CREATE INDEX images_phash_b3 ON images (owner_id, phash_b3) WHERE phash IS NOT NULL;
-- "reject": an upload or import that duplicates one of its owner's done images ends failed (duplicate).
ALTER TABLE images ADD COLUMN on_duplicate text NOT NULL DEFAULT 'allow';
