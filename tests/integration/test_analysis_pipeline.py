"""What processing learns about every image, end to end: HEIC uploads, animations, placeholders,
colours, duplicates (GET /images?similar_to=, on_duplicate reject) and the indexed duplicate query."""

import base64
import io
import random
import uuid

import pytest
import requests
import thumbhash as thumbhash_library
from PIL import Image

from functions import store, wiring
from tests.integration.helpers import bearer, fetch_variant, finished, sign_up, upload
from tests.unit import analysis_corpus as corpus

# Processing happens only while the module's event runner is up (tests that sign up their own user need it too).
pytestmark = pytest.mark.usefixtures("runner")


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    return corpus.encode(image, "JPEG", quality=quality)


def _similar(server, tokens, image_id):
    return requests.get(f"{server.url}/images", params={"similar_to": image_id}, headers=bearer(tokens), timeout=10)


def test_given_a_heic_upload_when_processed_then_it_is_done_with_everything_learnt(server, user):
    data = corpus.heic(corpus.scene(21, (900, 600)), orientation=6)
    item = finished(server, user, upload(server, user, data, filename="IMG_0001.HEIC", content_type="image/heic"))
    assert item["status"] == "done", item["error"]
    assert (item["format"], item["content_type"], item["width"], item["height"]) == ("heic", "image/heic", 600, 900)
    assert len(item["sha256"]) == 64 and len(item["phash"]) == 16
    width, height, _ = thumbhash_library.thumb_hash_to_rgba(list(base64.b64decode(item["placeholder"]["thumbhash"])))
    assert width < height  # portrait, as displayed
    assert item["placeholder"]["blurhash"] and item["placeholder"]["data_uri"].startswith("data:image/png;base64,")
    assert item["colors"]["dominant"] == item["colors"]["palette"][0]["hex"]
    _, content = fetch_variant(item, "webp")
    assert Image.open(io.BytesIO(content)).size == (600, 900)


def test_given_a_truncated_heic_when_processed_then_it_fails_corrupt_image(server, user):
    data = corpus.heic(corpus.scene(22, (400, 300)))[:-400]
    item = finished(server, user, upload(server, user, data, filename="cut.heic", content_type="image/heic"))
    assert (item["status"], item["error"]["code"]) == ("failed", "corrupt_image")


def test_given_a_heic_claiming_huge_dimensions_when_processed_then_it_fails_too_many_pixels(server, user):
    data = corpus.with_claimed_size(corpus.heic(corpus.scene(23, (400, 300))), 60_000, 60_000)
    item = finished(server, user, upload(server, user, data, filename="huge.heic", content_type="image/heic"))
    assert (item["status"], item["error"]["code"]) == ("failed", "too_many_pixels")


def test_given_an_animated_gif_when_processed_then_the_webp_moves_and_the_record_says_so(server, user):
    data = corpus.animation(4, size=(160, 120), durations=[50, 150, 250, 350], loop=2)
    item = finished(server, user, upload(server, user, data, filename="a.gif", content_type="image/gif"))
    assert item["status"] == "done", item["error"]
    assert item["animation"] == {"frames": 4, "animated": True, "still_reason": None}
    _, content = fetch_variant(item, "webp")
    webp = Image.open(io.BytesIO(content))
    assert webp.n_frames == 4 and webp.info["loop"] == 2
    _, thumbnail = fetch_variant(item, "thumbnail")
    assert getattr(Image.open(io.BytesIO(thumbnail)), "n_frames", 1) == 1


def test_given_a_photo_and_its_copies_when_processed_then_duplicates_are_listed_nearest_first(server):
    tokens = sign_up(server.url)
    photo = corpus.scene(31, (1200, 900))
    first = finished(server, tokens, upload(server, tokens, _jpeg(photo, 92)))
    width, height = photo.size
    copies = [
        _jpeg(photo, 40),  # re-encoded at another quality
        _jpeg(photo.resize((600, 450), Image.Resampling.LANCZOS)),  # resized
        _jpeg(photo.crop((width // 50, height // 50, width - width // 50, height - height // 50))),  # cropped 2%
    ]
    copy_ids = [finished(server, tokens, upload(server, tokens, data))["id"] for data in copies]
    other = finished(server, tokens, upload(server, tokens, _jpeg(corpus.scene(32, (1200, 900)))))
    listed = _similar(server, tokens, first["id"])
    assert listed.status_code == 200, listed.text
    found = [item["id"] for item in listed.json()["items"]]
    assert set(found) == set(copy_ids) and other["id"] not in found
    again = finished(server, tokens, first["id"])
    distances = [duplicate["distance"] for duplicate in again["duplicates"]]
    assert {duplicate["id"] for duplicate in again["duplicates"]} == set(copy_ids) and distances == sorted(distances)
    assert again["duplicates"][0]["link"] == f"/images/{again['duplicates'][0]['id']}"
    assert finished(server, tokens, other["id"])["duplicates"] == []


def test_given_on_duplicate_reject_when_the_same_or_a_similar_file_arrives_then_it_fails_naming_the_first(server):
    tokens = sign_up(server.url)
    photo = corpus.scene(41, (1000, 750))
    data = _jpeg(photo)
    first = finished(server, tokens, upload(server, tokens, data))
    assert first["status"] == "done"

    def upload_rejecting(content: bytes) -> dict:
        ticket = requests.post(f"{server.url}/uploads", headers=bearer(tokens), timeout=10, json={
            "filename": "again.jpg", "content_type": "image/jpeg", "size": len(content), "on_duplicate": "reject"})
        assert ticket.status_code == 201, ticket.text
        posted = requests.post(ticket.json()["upload"]["url"], data=ticket.json()["upload"]["fields"],
                               files={"file": ("again.jpg", content, "image/jpeg")}, timeout=30)
        assert posted.status_code in (200, 201, 204)
        return finished(server, tokens, ticket.json()["image_id"])

    exact = upload_rejecting(data)
    assert (exact["status"], exact["error"]["code"]) == ("failed", "duplicate")
    assert first["id"] in exact["error"]["message"] and "same file" in exact["error"]["message"]
    assert exact["variants"] == []  # caught from the content hash, before any decode
    near = upload_rejecting(_jpeg(photo.resize((500, 375)), 70))
    assert (near["status"], near["error"]["code"]) == ("failed", "duplicate") and near["variants"] == []
    assert first["id"] in near["error"]["message"]
    different = upload_rejecting(_jpeg(corpus.scene(42, (1000, 750))))
    assert different["status"] == "done"
    allowed = finished(server, tokens, upload(server, tokens, data))  # without on_duplicate: kept
    assert allowed["status"] == "done" and first["id"] in {dup["id"] for dup in allowed["duplicates"]}


def test_given_a_bad_on_duplicate_when_uploading_then_422_names_the_field(server, user):
    answer = requests.post(f"{server.url}/uploads", headers=bearer(user), timeout=10, json={
        "filename": "a.jpg", "content_type": "image/jpeg", "size": 10, "on_duplicate": "maybe"})
    assert answer.status_code in (400, 422) and "on_duplicate" in answer.text


def test_given_someone_elses_image_when_asking_for_its_duplicates_then_404(server, user):
    mine = finished(server, user, upload(server, user, _jpeg(corpus.scene(51, (400, 300)))))
    stranger = sign_up(server.url)
    for asked in (mine["id"], str(uuid.uuid4()), "not-a-uuid", "' OR 1=1 --"):
        answer = _similar(server, stranger, asked)
        assert answer.status_code == 404, (asked, answer.text)
        assert answer.json()["error"]["code"] == "image_not_found"
    assert _similar(server, user, mine["id"]).status_code == 200


def test_given_an_image_not_done_when_asking_for_its_duplicates_then_409(server, user):
    ticket = requests.post(f"{server.url}/uploads", headers=bearer(user), timeout=10,
                           json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10})
    answer = _similar(server, user, ticket.json()["image_id"])
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "not_processed"


def test_given_thousands_of_hashes_when_searching_then_the_indexed_query_finds_exactly_the_brute_force_set(server):
    tokens = sign_up(server.url)
    owner = tokens["user"]["id"]
    db, rng = wiring.database(), random.Random(5)
    centre = rng.getrandbits(64)
    hashes = [rng.getrandbits(64) for _ in range(1500)]
    for flips in range(0, 14):  # near neighbours at every distance 0..13
        near = centre
        for bit in rng.sample(range(64), flips):
            near ^= 1 << bit
        hashes.append(near)
    try:
        _fill_and_compare(db, owner, centre, hashes)
    finally:
        # Rows with no stored objects: left behind, they would be other tests' (reconcile's) business.
        db.execute("DELETE FROM images WHERE owner_id = :owner", owner=owner)


def _fill_and_compare(db, owner, centre, hashes):
    with db.transaction():
        for value in hashes:
            image_id = str(uuid.uuid4())
            store.insert_image(db, image_id=image_id, owner=owner, source="upload", name="x.jpg",
                               status=store.ImageStatus.PROCESSING, variants=())
            db.execute("UPDATE images SET claim_token = :token WHERE id = :id", token=image_id, id=image_id)
            assert store.record_done(db, image_id, image_id, format="jpeg", width=1, height=1, size=1,
                                     mime="image/jpeg", variants=[], analysis={"phash": value})
    for distance in (0, 3, 7, 10, 11):
        found = store.similar_images(db, owner, centre, max_distance=distance, limit=1000)
        expected = sorted((value ^ centre).bit_count() for value in hashes if (value ^ centre).bit_count() <= distance)
        assert [row["distance"] for row in found] == expected, distance
    with pytest.raises(ValueError):
        store.similar_images(db, owner, centre, max_distance=12)


@pytest.mark.parametrize("make, animated", [
    (lambda: corpus.animation(10_000, size=(1, 1)), False),  # frames past the limit: a still, quickly
    (lambda: corpus.animation(3, size=(64, 48), durations=[0, 0, 0]), True),  # 0 ms frames
], ids=["ten-thousand-1x1-frames", "zero-durations"])
def test_given_a_hostile_animation_when_processed_then_it_is_done_without_trouble(server, user, make, animated):
    item = finished(server, user, upload(server, user, make(), filename="a.gif", content_type="image/gif"))
    assert item["status"] == "done", item["error"]
    assert item["animation"]["animated"] is animated
    _, content = fetch_variant(item, "webp")
    assert (getattr(Image.open(io.BytesIO(content)), "n_frames", 1) > 1) is animated
