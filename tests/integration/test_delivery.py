"""Delivery through the local server: signed /img URLs, renditions stored once, served from storage.

"Rendered" versus "served from storage" is proved with the stored object and its row: a hit answers
bytes planted in storage, and leaves the row's created_at as it was (a render rewrites it).
"""

import dataclasses
import time
import uuid
from io import BytesIO

import pytest
import requests
from PIL import Image

from functions import delivery, housekeeping, wiring
from functions.delivery import signing
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, finished, image, post_again, sign_up, upload, wait_for

AVIF_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"  # Chromium's for <img>
WEBP_ACCEPT = "image/webp,*/*"


@pytest.fixture(scope="module")
def photo(server, user):
    image_id = upload(server, user, corpus.photo(1600, 1200, quality=90))
    item = finished(server, user, image_id)
    assert item["status"] == "done", item
    return item


@pytest.fixture(scope="module")
def key(server, user):
    answer = requests.post(f"{server.url}/auth/delivery-key", headers=bearer(user), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


def img(server, key, options, image_id, accept=WEBP_ACCEPT, **headers):
    path = signing.path(key, options, image_id)
    return requests.get(server.url + path, headers={"Accept": accept, **headers}, timeout=60, allow_redirects=False)


def rows(image_id):
    return wiring.database().rows("SELECT options, storage_key, bytes, etag, created_at FROM renditions"
                                  " WHERE image_id = :id ORDER BY options", id=image_id)


def stored_keys(user, image_id):
    return wiring.storage().list_keys(f"renditions/{user['user']['id']}/{image_id}/")


# --- responsive URLs --------------------------------------------------------------------------------

def test_given_a_done_image_when_read_then_responsive_urls_are_signed_and_capped_at_its_width(server, user, photo):
    item = requests.get(f"{server.url}/images/{photo['id']}", headers=bearer(user), timeout=10).json()
    responsive = item["responsive"]
    widths = [int(entry.rsplit(" ", 1)[1][:-1]) for entry in responsive["srcset"].split(", ")]
    assert widths == [320, 640, 960, 1280, 1600]  # 1920 is capped at the original's 1600
    assert responsive["src"].startswith("/img/") and "f:auto" in responsive["src"]
    assert f",v:{item['sha256'][:12]}/" in responsive["src"]  # the content version
    answer = requests.get(server.url + responsive["src"], headers={"Accept": AVIF_ACCEPT}, timeout=60)
    assert answer.status_code == 200, answer.text
    # Content-versioned: browsers may keep it; shared caches only DELIVERY_CDN_SECONDS.
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, s-maxage=86400, immutable"
    assert answer.headers["Content-Type"] == "image/avif"
    assert answer.content[4:12] == b"ftypavif"
    listed = requests.get(f"{server.url}/images", headers=bearer(user), timeout=10).json()["items"]
    assert [entry["responsive"]["srcset"] for entry in listed if entry["id"] == photo["id"]] == [responsive["srcset"]]


def test_given_a_rendition_when_the_image_is_read_then_its_storage_is_shown(server, user, photo, key):
    assert img(server, key, "w:200,f:jpeg", photo["id"]).status_code == 200
    item = requests.get(f"{server.url}/images/{photo['id']}", headers=bearer(user), timeout=10).json()
    recorded = rows(photo["id"])
    assert item["renditions"] == {"count": len(recorded), "bytes": sum(row["bytes"] for row in recorded)}
    assert item["renditions"]["count"] >= 1


# --- serving ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("accept, content_type, magic", [
    (AVIF_ACCEPT, "image/avif", lambda data: data[4:12] == b"ftypavif"),
    ("image/webp,*/*;q=0.8", "image/webp", lambda data: data[8:12] == b"WEBP"),
    ("image/avif;q=0,image/png,*/*;q=0.5", "image/jpeg", lambda data: data[:3] == b"\xff\xd8\xff"),
])
def test_given_f_auto_when_fetched_then_the_format_follows_accept(server, photo, key, accept, content_type, magic):
    answer = img(server, key, "w:320,f:auto", photo["id"], accept=accept)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == content_type
    assert answer.headers["Vary"] == "Accept"
    assert answer.headers["Cache-Control"] == "public, max-age=86400, s-maxage=86400"  # no v: bounded
    assert magic(answer.content)


def test_given_two_spellings_when_fetched_then_they_share_one_stored_rendition(server, user, photo, key):
    first = img(server, key, "dpr:2,f:webp,w:150", photo["id"])
    second = img(server, key, "w:300,q:80,fit:inside,f:webp", photo["id"])
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Rendition"] == second.headers["X-Rendition"] == "w:300,fit:inside,f:webp,q:80"
    assert first.headers["ETag"] == second.headers["ETag"]
    assert [row["options"] for row in rows(photo["id"])].count("w:300,fit:inside,f:webp,q:80") == 1
    assert stored_keys(user, photo["id"]).count(f"renditions/{user['user']['id']}/{photo['id']}/"
                                                f"{photo['sha256'][:12]}/w:300,fit:inside,f:webp,q:80.webp") == 1


def test_given_a_stored_rendition_when_fetched_again_then_it_is_not_rendered_again(server, photo, key):
    first = img(server, key, "w:240,f:jpeg,q:70", photo["id"])
    assert first.status_code == 200
    [row] = [row for row in rows(photo["id"]) if row["options"] == "w:240,fit:inside,f:jpeg,q:70"]
    stored = wiring.storage().head(row["storage_key"])
    second = img(server, key, "w:240,f:jpeg,q:70", photo["id"])
    assert second.status_code == 200 and second.content == first.content
    # A render rewrites both the object and the row's created_at: neither moved.
    [again] = [row for row in rows(photo["id"]) if row["options"] == "w:240,fit:inside,f:jpeg,q:70"]
    assert again["created_at"] == row["created_at"]
    assert wiring.storage().head(row["storage_key"]) == stored


def test_given_a_process_that_has_not_served_it_when_fetched_then_the_stored_object_is_answered(server, photo, key):
    first = img(server, key, "w:250,f:jpeg,q:70", photo["id"])
    assert first.status_code == 200
    [row] = [row for row in rows(photo["id"]) if row["options"] == "w:250,fit:inside,f:jpeg,q:70"]
    planted = first.content + b"planted"  # what only a read of the stored object can answer
    wiring.storage().put(row["storage_key"], planted, content_type="image/jpeg")
    delivery.recent.clear()  # as in another Lambda container
    second = img(server, key, "w:250,f:jpeg,q:70", photo["id"])
    assert second.status_code == 200
    assert second.content == planted


def test_given_an_etag_when_asked_again_then_304(server, photo, key):
    first = img(server, key, "w:180,f:webp", photo["id"])
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    again = img(server, key, "w:180,f:webp", photo["id"], **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = img(server, key, "w:180,f:webp", photo["id"], **{"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_given_an_output_too_big_for_a_response_when_fetched_then_it_redirects_to_storage(server, photo, key):
    original = wiring.settings()
    wiring.configure(dataclasses.replace(original, delivery_inline_bytes=2000))
    try:
        answer = img(server, key, "w:800,f:jpeg,q:95", photo["id"])
        assert answer.status_code == 307, answer.text
        assert answer.headers["Cache-Control"] == "no-store"
        fetched = requests.get(answer.headers["Location"], timeout=30)
        assert fetched.status_code == 200
        assert len(fetched.content) > 2000 and fetched.content[:3] == b"\xff\xd8\xff"
        hit = img(server, key, "w:800,f:jpeg,q:95", photo["id"])  # stored now: the hit redirects too
        assert hit.status_code == 307
    finally:
        wiring.configure(original)


# --- refusals ---------------------------------------------------------------------------------------

def test_given_bad_signatures_when_fetched_then_403_and_nothing_is_rendered(server, user, photo, key):
    before = rows(photo["id"])
    good = signing.sign(key, "w:111,f:webp", photo["id"])
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    stranger = signing.sign(sign_up_key(server), "w:111,f:webp", photo["id"])
    for signature in (forged, good[:20], good + "A", stranger, "x" * 43, "%00" * 3):
        answer = requests.get(f"{server.url}/img/{signature}/w:111,f:webp/{photo['id']}",
                              headers={"Accept": WEBP_ACCEPT}, timeout=10)
        assert answer.status_code == 403, (signature, answer.text)
        assert answer.json()["error"]["code"] == "signature_invalid"
    # Signed for other options: the signature covers the options as written.
    answer = requests.get(f"{server.url}/img/{good}/w:112,f:webp/{photo['id']}", timeout=10)
    assert answer.status_code == 403
    assert rows(photo["id"]) == before


def sign_up_key(server):
    other = sign_up(server.url)
    return requests.post(f"{server.url}/auth/delivery-key", headers=bearer(other), timeout=10).json()["key"]


def test_given_an_expired_url_when_fetched_then_403_and_a_live_one_works(server, photo, key):
    expired = img(server, key, f"w:100,f:webp,exp:{int(time.time()) - 1}", photo["id"])
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "url_expired"
    live = img(server, key, f"w:100,f:webp,exp:{int(time.time()) + 600}", photo["id"])
    assert live.status_code == 200
    # No cache may keep it past exp.
    directives = dict(part.strip().partition("=")[::2] for part in live.headers["Cache-Control"].split(","))
    assert 0 < int(directives["max-age"]) <= 600 and 0 < int(directives["s-maxage"]) <= 600
    assert "immutable" not in directives


def test_given_a_cdn_bound_when_answered_then_s_maxage_follows_it(server, photo, key):
    original = wiring.settings()
    wiring.configure(dataclasses.replace(original, delivery_cdn_seconds=120))
    try:
        answer = img(server, key, "w:100,f:webp", photo["id"])
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "public, max-age=120, s-maxage=120"
    finally:
        wiring.configure(original)


def test_given_a_rotated_key_when_old_urls_are_fetched_then_403(server, photo):
    other = sign_up(server.url)
    image_id = upload(server, other, corpus.photo(320, 240))
    assert finished(server, other, image_id)["status"] == "done"
    old = requests.post(f"{server.url}/auth/delivery-key", headers=bearer(other), timeout=10).json()["key"]
    assert img(server, old, "w:64,f:webp", image_id).status_code == 200
    new = requests.post(f"{server.url}/auth/delivery-key", headers=bearer(other), timeout=10).json()["key"]
    assert img(server, old, "w:64,f:webp", image_id).status_code == 403
    assert img(server, new, "w:64,f:webp", image_id).status_code == 200


@pytest.mark.parametrize("options, field", [
    ("w:0", "w"), ("w:99999", "w"), ("w:-5", "w"), ("w:1.5", "w"), ("h:8193", "h"), ("q:abc", "q"),
    ("q:0", "q"), ("q:101", "q"), ("w:100,w:200", "w"), ("dpr:4", "dpr"), ("dpr:3,w:4000", "dpr"),
    ("fit:stretch", "fit"), ("f:gif", "f"), ("zoom:2", "zoom"), ("g:entropy", "g"), ("w:64,h:64,g:middle", "g"),
    ("exp:soon", "exp"),
    ("w:100,,f:webp", "options"), ("w:100,..%2F..%2Fetc", "options"), ("w:1%00", "w"),
    ("w:8192,h:8192,fit:fill", "w"),
])
def test_given_bad_options_when_fetched_then_400_naming_the_option(server, photo, key, options, field):
    answer = img(server, key, options, photo["id"])
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_given_attention_gravity_when_a_wide_image_is_cropped_square_then_the_crop_keeps_the_subject(
        server, user, key):
    # A red disc near the right edge of a flat grey 800x200 picture: a centred square crop misses it.
    from PIL import ImageDraw

    picture = Image.new("RGB", (800, 200), (128, 128, 128))
    ImageDraw.Draw(picture).ellipse((660, 40, 780, 160), fill=(220, 20, 20))
    data = BytesIO()
    picture.save(data, "PNG")
    image_id = upload(server, user, data.getvalue(), filename="disc.png", content_type="image/png")
    assert finished(server, user, image_id)["status"] == "done"

    def red_share(options):
        answer = img(server, key, options, image_id, accept="image/png")
        assert answer.status_code == 200, answer.text
        crop = Image.open(BytesIO(answer.content)).convert("RGB")
        assert crop.size == (100, 100)
        pixels = crop.tobytes()
        return sum(1 for i in range(0, len(pixels), 3) if pixels[i] > 180 and pixels[i + 1] < 80) / (100 * 100)

    assert red_share("w:100,h:100,fit:cover,f:png") == 0  # centred: the disc is outside the middle square
    assert red_share("w:100,h:100,fit:cover,g:attention,f:png") > 0.2
    assert red_share("w:100,h:100,fit:cover,g:entropy,f:png") > 0.2
    # Each gravity is its own stored rendition.
    assert {row["options"] for row in rows(image_id)} >= {"w:100,h:100,fit:cover,f:png",
                                                         "w:100,h:100,fit:cover,g:attention,f:png"}


def test_given_dot_segments_when_fetched_then_no_route_matches(server, photo, key):
    # Clients collapse "/img/sig/../id" to "/img/id" before sending: no route, API Gateway's 403.
    answer = img(server, key, "..", photo["id"])
    assert answer.status_code == 403 and answer.headers["Content-Type"].startswith("application/json")


def test_given_odd_requests_when_sent_then_each_gets_a_4xx_and_none_hangs(server, photo, key):
    good = signing.path(key, "w:64,f:webp", photo["id"])
    odd = [
        requests.head(server.url + good, timeout=10),
        requests.post(server.url + good, timeout=10),
        requests.get(f"{server.url}/img/{'a' * 5000}/w:64/{photo['id']}", timeout=10),
        requests.get(f"{server.url}/img/sig/{'w:1,' * 300}f:webp/{photo['id']}", timeout=10),
        requests.get(f"{server.url}/img/%C3%A9%00/w:64/{photo['id']}", timeout=10),
    ]
    assert all(400 <= answer.status_code < 500 for answer in odd), [answer.status_code for answer in odd]


def test_given_unknown_deleted_and_unready_images_when_fetched_then_404(server, user, key):
    assert img(server, key, "w:64,f:webp", str(uuid.uuid4())).status_code == 404
    answer = requests.get(f"{server.url}/img/{'a' * 43}/w:64/not-a-uuid", timeout=10)
    assert answer.status_code == 404
    ticket = requests.post(f"{server.url}/uploads", headers=bearer(user), timeout=10,
                           json={"filename": "later.jpg", "content_type": "image/jpeg", "size": 1000}).json()
    waiting = img(server, key, "w:64,f:webp", ticket["image_id"])
    assert waiting.status_code == 404
    assert int(waiting.headers["Retry-After"]) > 0
    assert waiting.json()["error"]["code"] == "image_not_ready"


def test_given_no_image_type_in_accept_when_fetched_then_406(server, photo, key):
    answer = img(server, key, "w:64,f:auto", photo["id"], accept="text/html")
    assert answer.status_code == 406
    assert answer.json()["error"]["code"] == "not_acceptable"


@pytest.mark.parametrize("accept", [None, ""])
def test_given_no_accept_header_when_fetched_then_anything_is_acceptable(server, photo, key, accept):
    path = signing.path(key, "w:64,f:auto", photo["id"])
    # None: requests sends no Accept at all (RFC 9110: any media type is acceptable).
    answer = requests.get(server.url + path, headers={"Accept": accept}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "image/jpeg"


# --- replacement ------------------------------------------------------------------------------------

def test_given_a_replaced_original_when_fetched_then_only_the_new_content_is_served_under_new_urls(
        server, user, key):
    first = corpus.photo(640, 480)
    image_id, ticket = upload(server, user, first, with_ticket=True)
    item = finished(server, user, image_id)
    assert item["status"] == "done"
    old_src = item["responsive"]["src"]
    before = img(server, key, "w:200,f:jpeg", image_id)
    assert before.status_code == 200 and Image.open(BytesIO(before.content)).size == (200, 150)
    assert requests.get(server.url + old_src, headers={"Accept": WEBP_ACCEPT}, timeout=60).status_code == 200
    old_keys = [row["storage_key"] for row in rows(image_id)]
    assert len(old_keys) == 2
    second = corpus.photo(300, 200, quality=60)
    post_again(ticket, second + b"\0" * (len(first) - len(second)))  # the link allows exactly that size

    item = wait_for(lambda: (lambda it: it if (it["status"], it["width"]) == ("done", 300) else None)(
        image(server, user, image_id)), timeout=60)
    assert item, image(server, user, image_id)
    assert rows(image_id) == []  # gone with the replacement's claim
    assert item["responsive"]["src"] != old_src and f",v:{item['sha256'][:12]}/" in item["responsive"]["src"]
    # The same URL (no v) renders the new content; the old ETag no longer matches.
    after = img(server, key, "w:200,f:jpeg", image_id, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert Image.open(BytesIO(after.content)).size == (200, 133)
    assert after.headers["ETag"] != before.headers["ETag"]
    # The old content-versioned URL still answers (the new content), but is no longer kept for a year.
    stale = requests.get(server.url + old_src, headers={"Accept": WEBP_ACCEPT}, timeout=60)
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"]
    # The old objects are housekeeping's: gone after its pass, the new ones kept.
    db, storage = wiring.database(), wiring.storage()
    housekeeping.clear_stale_renditions(db=db, storage=storage, report=housekeeping.SweepReport())
    assert [key for key in old_keys if storage.head(key) is not None] == []
    assert all(storage.head(row["storage_key"]) is not None for row in rows(image_id))
    assert db.one("SELECT count(*) AS n FROM stale_renditions WHERE image_id = :id", id=image_id)["n"] == 0


# --- deletion ---------------------------------------------------------------------------------------

def test_given_renditions_when_the_image_is_deleted_then_they_are_removed_and_late_ones_swept(server, user, key):
    image_id = upload(server, user, corpus.photo(400, 300))
    assert finished(server, user, image_id)["status"] == "done"
    assert img(server, key, "w:100,f:webp", image_id).status_code == 200
    assert img(server, key, "w:120,f:jpeg", image_id).status_code == 200
    assert len(stored_keys(user, image_id)) == 2
    deleted = requests.delete(f"{server.url}/images/{image_id}", headers=bearer(user), timeout=10)
    assert deleted.status_code == 204
    assert stored_keys(user, image_id) == []
    assert rows(image_id) == []
    assert img(server, key, "w:100,f:webp", image_id).status_code == 404
    # A render that finished after the delete: the tombstone sweep removes it once the image is quiet.
    late = f"renditions/{user['user']['id']}/{image_id}/w:64,fit:inside,f:webp,q:80.webp"
    wiring.storage().put(late, b"late", content_type="image/webp")
    db = wiring.database()
    db.execute("UPDATE deleted_images SET deleted_at = now() - interval '1 day' WHERE image_id = :id", id=image_id)
    report = housekeeping.SweepReport()
    housekeeping.clear_deleted_images(db=db, storage=wiring.storage(), settings=wiring.settings(), report=report)
    assert stored_keys(user, image_id) == []
    assert report.late_objects_removed >= 1
