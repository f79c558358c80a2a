"""What is learnt about every image at ingest: placeholders, colours, perceptual hash, smart crop,
HEIC input and animated variants (functions/imaging/analysis.py, gravity.py, render.py, source.py)."""

import base64
import io
import types

import blurhash as blurhash_library
import pytest
import thumbhash as thumbhash_library
from PIL import GifImagePlugin, Image

from functions import delivery, imaging
from functions.delivery import options
from functions.errors import InvalidInput
from functions.imaging import analysis, gravity
from functions.imaging.budget import Budget
from functions.imaging.render import MAX_FRAMES
from functions.imaging.specs import VariantSpec, parse_variant_specs, variant_plan
from tests.unit import analysis_corpus as corpus

MAX_PIXELS = 50_000_000


def analysed(image: Image.Image) -> analysis.Analysis:
    return analysis.analyse(analysis.small_frame(image))


def render(data: bytes, requested=(), **options):
    rendering = imaging.render_variants(data, variant_plan(tuple(requested)), max_pixels=MAX_PIXELS, **options)
    return rendering, {variant.name: variant for variant in rendering}


# --- placeholders ---------------------------------------------------------------------------------

# ThumbHash stores at most 7 coefficients a side, so it keeps aspect ratios up to about 7:1.
@pytest.mark.parametrize("size", [(1200, 900), (600, 1400), (1000, 1000), (2400, 800)])
def test_given_a_picture_when_analysed_then_the_thumbhash_decodes_with_its_library_to_the_aspect_ratio(size):
    facts = analysed(corpus.scene(3, size))
    decoded = list(base64.b64decode(facts.thumbhash))
    width, height, rgba = thumbhash_library.thumb_hash_to_rgba(decoded)
    assert len(rgba) == width * height * 4
    assert abs(width / height - size[0] / size[1]) / (size[0] / size[1]) < 0.25


def test_given_a_flat_colour_when_analysed_then_both_hashes_decode_to_that_colour():
    facts = analysed(Image.new("RGB", (800, 600), (200, 40, 90)))
    red, green, blue, alpha = thumbhash_library.thumb_hash_to_average_rgba(list(base64.b64decode(facts.thumbhash)))
    assert abs(red * 255 - 200) < 12 and abs(green * 255 - 40) < 12 and abs(blue * 255 - 90) < 12 and alpha == 1
    pixels = blurhash_library.decode(facts.blurhash, 8, 6)
    assert all(abs(a - b) <= 3 for row in pixels for pixel in row for a, b in zip(pixel, (200, 40, 90)))


def test_given_a_picture_with_transparency_when_analysed_then_the_thumbhash_says_it_has_alpha():
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    image.paste((20, 200, 20, 255), (100, 75, 300, 225))
    decoded = list(base64.b64decode(analysed(image).thumbhash))
    *_, alpha = thumbhash_library.thumb_hash_to_average_rgba(decoded)
    assert 0 < alpha < 1


def test_given_a_picture_when_analysed_then_the_blurhash_decodes_with_its_library_and_follows_the_picture():
    image = Image.new("RGB", (1200, 600), (250, 250, 250))
    image.paste((10, 10, 10), (0, 0, 600, 600))  # dark left half, light right half
    pixels = blurhash_library.decode(analysed(image).blurhash, 12, 6)
    assert sum(pixels[3][1]) < sum(pixels[3][10])
    assert blurhash_library.components(analysed(image).blurhash) == (4, 3)


def test_given_a_picture_when_analysed_then_the_preview_is_a_tiny_png_of_its_aspect_ratio():
    uri = analysed(corpus.scene(4, (1600, 800))).preview
    assert uri.startswith("data:image/png;base64,") and len(uri) < 2000
    preview = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert preview.size == (16, 8)


def test_given_a_one_pixel_image_when_analysed_then_every_measure_exists():
    facts = analysed(Image.new("RGB", (1, 1), (5, 6, 7)))
    assert facts.dominant == "#050607" and facts.palette == (("#050607", 1.0),)
    assert blurhash_library.decode(facts.blurhash, 2, 2)
    assert thumbhash_library.thumb_hash_to_rgba(list(base64.b64decode(facts.thumbhash)))


# --- colours -------------------------------------------------------------------------------------

def test_given_two_colours_in_70_30_when_analysed_then_the_dominant_and_shares_follow():
    image = Image.new("RGB", (1000, 1000), (30, 90, 200))
    image.paste((240, 200, 30), (0, 0, 1000, 300))
    facts = analysed(image)
    assert facts.dominant == facts.palette[0][0]
    (first, first_share), (second, second_share) = facts.palette[:2]
    assert _close(first, (30, 90, 200)) and _close(second, (240, 200, 30))
    assert abs(first_share - 0.7) < 0.05 and abs(second_share - 0.3) < 0.05


def test_given_a_busy_photo_when_analysed_then_the_palette_has_at_most_five_entries_summing_to_one():
    palette = analysed(corpus.scene(5)).palette
    assert 1 <= len(palette) <= 5
    assert abs(sum(share for _, share in palette) - 1) < 0.01
    assert [share for _, share in palette] == sorted((share for _, share in palette), reverse=True)


def test_given_near_identical_shades_when_clustered_in_oklab_then_they_are_one_colour():
    image = Image.new("RGB", (600, 600), (120, 120, 120))
    image.paste((124, 121, 119), (0, 0, 300, 600))  # a difference no eye tells apart
    assert len(analysed(image).palette) == 1


def _close(hex_colour: str, rgb, tolerance: int = 12) -> bool:
    values = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return all(abs(a - b) <= tolerance for a, b in zip(values, rgb))


# --- perceptual hash ---------------------------------------------------------------------------

def _hash(image: Image.Image) -> int:
    return analysed(image).phash


def _decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_given_a_reencoded_resized_or_slightly_cropped_copy_when_hashed_then_it_is_within_the_default_distance(seed):
    photo = corpus.scene(seed)
    original = _hash(_decoded(corpus.encode(photo, "JPEG", quality=92)))
    width, height = photo.size
    copies = {
        "quality 35": _decoded(corpus.encode(photo, "JPEG", quality=35)),
        "half size": photo.resize((width // 2, height // 2), Image.Resampling.LANCZOS),
        "webp": _decoded(corpus.encode(photo, "WEBP", quality=60)),
        "2% crop": photo.crop((width // 50, height // 50, width - width // 50, height - height // 50)),
    }
    for name, copy in copies.items():
        assert analysis.hamming(original, _hash(copy)) <= 10, name


def test_given_different_photos_when_hashed_then_none_is_within_the_default_distance():
    hashes = [_hash(corpus.scene(seed)) for seed in range(10, 40)]
    distances = [analysis.hamming(a, b) for index, a in enumerate(hashes) for b in hashes[index + 1:]]
    assert min(distances) > 10


def test_given_a_hash_when_made_then_it_is_64_bits():
    value = _hash(corpus.scene(7))
    assert 0 <= value < 1 << 64 and value.bit_count() == 32  # one bit per coefficient above the median


# --- smart crop ----------------------------------------------------------------------------------

@pytest.mark.parametrize("where", [0.12, 0.85])
@pytest.mark.parametrize("how", ["entropy", "attention"])
def test_given_a_subject_off_centre_on_a_flat_background_when_cropped_then_the_box_holds_it(how, where):
    image = corpus.subject_on_flat((1200, 400), subject_at=(where, 0.5), radius=60)
    left, top, right, bottom = gravity.crop_box(image, (100, 100), how)
    assert (right - left, bottom - top) == pytest.approx((400, 400))
    centre = where * 1200
    assert left <= centre - 60 and centre + 60 <= right


@pytest.mark.parametrize("how", ["entropy", "attention"])
def test_given_a_tall_picture_when_cropped_wide_then_the_box_moves_vertically_to_the_subject(how):
    image = corpus.subject_on_flat((300, 1200), subject_at=(0.5, 0.2), radius=50)
    left, top, right, bottom = gravity.crop_box(image, (300, 200), how)
    assert (left, right) == (0, 300) and bottom - top == pytest.approx(200)
    assert top <= 240 - 50 and 240 + 50 <= bottom


def test_given_center_gravity_when_cropped_then_the_box_is_the_middle():
    image = corpus.subject_on_flat((1200, 400), subject_at=(0.85, 0.5))
    assert gravity.crop_box(image, (100, 100), "center") == (400, 0, 800, 400)


def test_given_a_small_decode_and_the_source_size_when_cropped_then_the_box_is_in_source_pixels():
    small = corpus.subject_on_flat((300, 100), subject_at=(0.85, 0.5), radius=15)
    left, top, right, bottom = gravity.crop_box(small, (100, 100), "attention", source_size=(3000, 1000))
    assert (top, bottom) == (0, 1000) and right - left == pytest.approx(1000) and right > 2550 + 150


@pytest.mark.parametrize("how", ["entropy", "attention"])
def test_given_a_picture_without_anything_salient_when_cropped_then_it_stays_centred(how):
    left, _, right, _ = gravity.crop_box(Image.new("RGB", (900, 300), (128, 128, 128)), (50, 50), how)
    assert (left, right) == pytest.approx((300, 600), abs=15)


def test_given_a_cover_variant_with_attention_when_rendered_then_the_subject_is_in_it():
    data = corpus.encode(corpus.subject_on_flat((1500, 500), subject_at=(0.1, 0.5), radius=80), "PNG")
    _, variants = render(data, [VariantSpec("square", 200, 200, fit="cover", format="png", gravity="attention"),
                                VariantSpec("middle", 200, 200, fit="cover", format="png")])

    def reds(name):
        square = Image.open(io.BytesIO(variants[name].data)).convert("RGB")
        return sum(1 for pixel in square.get_flattened_data() if pixel[0] > 180 and pixel[1] < 80)
    # The subject is a disc of 64 px across in the 200 px square: ~3,200 pixels, partly striped.
    assert reds("square") > 1500 and reds("middle") == 0


def test_given_the_thumbnail_gravity_setting_when_planned_then_only_the_thumbnail_changes():
    plan = variant_plan((), thumbnail_gravity="attention")
    assert plan[0].gravity == "attention" and plan[1].gravity == "center"


def test_given_gravity_without_cover_when_requested_then_it_is_refused():
    with pytest.raises(InvalidInput) as caught:
        parse_variant_specs([{"name": "x", "width": 10, "height": 10, "fit": "inside", "gravity": "entropy"}])
    assert caught.value.field == "variants[0].gravity"
    with pytest.raises(InvalidInput):
        parse_variant_specs([{"name": "x", "width": 10, "height": 10, "fit": "cover", "gravity": "faces"}])


# --- HEIC ----------------------------------------------------------------------------------------

def test_given_a_heic_photo_when_rendered_then_it_is_decoded_and_analysed():
    rendering, variants = render(corpus.heic(corpus.scene(8, (800, 600))))
    assert (rendering.info.format, rendering.info.mime) == ("heic", "image/heic")
    assert Image.open(io.BytesIO(variants["webp"].data)).size == (800, 600)
    assert rendering.analysis is not None and rendering.animation is None


def test_given_a_rotated_heic_when_rendered_then_its_variants_are_upright():
    picture = Image.new("RGB", (300, 200), (20, 20, 220))
    picture.paste((230, 20, 20), (0, 0, 60, 60))  # red top-left as stored
    rendering, variants = render(corpus.heic(picture, orientation=6))
    assert (rendering.info.width, rendering.info.height) == (200, 300)
    upright = Image.open(io.BytesIO(variants["webp"].data)).convert("RGB")
    assert upright.size == (200, 300)
    red, _, blue = upright.getpixel((185, 15))  # rotated 90° clockwise: top-right
    assert red > 180 and blue < 90


def test_given_a_10_bit_heic_when_rendered_then_it_becomes_an_8_bit_picture():
    rendering, variants = render(corpus.heic_10_bit())
    webp = Image.open(io.BytesIO(variants["webp"].data)).convert("RGB")
    assert webp.size == (320, 240)
    assert webp.getpixel((0, 120))[0] < 10 and webp.getpixel((319, 120))[0] > 245


@pytest.mark.parametrize("make, code", [
    (lambda: corpus.heic(corpus.scene(9, (400, 300)))[:-300], "corrupt_image"),
    (lambda: corpus.heic(corpus.scene(9, (400, 300)))[:200], "corrupt_image"),
    (lambda: corpus.with_claimed_size(corpus.heic(corpus.scene(9, (400, 300))), 100_000, 100_000), "too_many_pixels"),
    (lambda: corpus.heic(corpus.scene(9, (2000, 1500))), "too_many_pixels"),  # over a 1 MP limit below
], ids=["truncated", "header-only", "claims-10-gigapixels", "over-the-limit"])
def test_given_a_bad_heic_when_rendered_then_it_fails_with_its_code(make, code):
    with pytest.raises(imaging.ImageRejected) as caught:
        list(imaging.render_variants(make(), variant_plan(()), max_pixels=1_000_000))
    assert caught.value.code == code


# --- animation -----------------------------------------------------------------------------------

def _frames(data: bytes) -> tuple[int, list[int], int]:
    image = Image.open(io.BytesIO(data))
    durations = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        durations.append(image.info.get("duration"))
    return getattr(image, "n_frames", 1), durations, image.info.get("loop")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_given_an_animation_when_rendered_then_webp_variants_keep_frames_durations_and_loop(fmt):
    data = corpus.animation(6, durations=[40, 80, 120, 160, 200, 240], loop=3, fmt=fmt)
    rendering, variants = render(data, [VariantSpec("half", 60, None), VariantSpec("jpg", 60, None, format="jpeg")])
    assert rendering.animation == {"frames": 6, "animated": True, "still_reason": None}
    for name in ("webp", "half"):
        assert _frames(variants[name].data) == (6, [40, 80, 120, 160, 200, 240], 3), name
    assert Image.open(io.BytesIO(variants["half"].data)).size == (60, 40)
    assert _frames(variants["thumbnail"].data)[0] == 1
    assert getattr(Image.open(io.BytesIO(variants["jpg"].data)), "n_frames", 1) == 1


def test_given_an_animation_over_the_frame_pixel_budget_when_rendered_then_it_is_a_still_that_says_so():
    data = corpus.animation(10, size=(200, 100))
    rendering, variants = render(data, max_animation_pixels=10 * 200 * 100)  # the decode alone fills it
    assert rendering.animation["animated"] is False and "megapixels" in rendering.animation["still_reason"]
    assert _frames(variants["webp"].data)[0] == 1


def test_given_zero_duration_frames_when_rendered_then_they_show_as_browsers_show_them():
    data = corpus.animation(3, durations=[0, 0, 0])
    _, variants = render(data)
    assert _frames(variants["webp"].data)[1] == [100, 100, 100]


def _gif_frames_walked(monkeypatch) -> list[int]:
    """The GIF frames Pillow steps to (its _seek, what n_frames walks with), as they are stepped to."""
    walked: list[int] = []
    real_seek = GifImagePlugin.GifImageFile._seek

    def seek(self, frame, update_image=True):
        walked.append(frame)
        return real_seek(self, frame, update_image)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_seek", seek)
    return walked


def test_given_ten_thousand_tiny_frames_when_rendered_then_they_are_counted_to_the_limit_within_the_budget(
        monkeypatch):
    # Regression: Pillow's n_frames walked all 10,000 frames (a million in a 25 MB GIF: ~5 s of CPU)
    # before the budget's first step, for an animation that is a still anyway past MAX_FRAMES.
    data = corpus.animation(10_000, size=(1, 1))
    walked = _gif_frames_walked(monkeypatch)
    budget = Budget()
    rendering, variants = render(data, budget=budget, max_animation_pixels=200_000_000)
    assert max(walked) == MAX_FRAMES  # frames 0..1,000: one past the limit, and no further
    assert rendering.info.frames == MAX_FRAMES + 1
    assert rendering.animation == {"frames": MAX_FRAMES + 1, "animated": False,
                                   "still_reason": "It has more than 1,000 frames; at most 1,000 are animated."}
    assert budget.steps[0][0] == "header" and budget.count("header") == 1  # the count ran inside the budget
    assert budget.count("frame") == 0 and _frames(variants["webp"].data)[0] == 1


@pytest.mark.parametrize("frames", [MAX_FRAMES, MAX_FRAMES + 1])
def test_given_an_animation_at_the_frame_limit_when_inspected_then_the_count_is_exact_up_to_one_past_it(frames):
    info = imaging.inspect_image(corpus.animation(frames, size=(1, 1)), max_pixels=1_000_000)
    assert info.frames == frames
    webp = imaging.inspect_image(corpus.animation(MAX_FRAMES + 5, size=(1, 1), fmt="WEBP"), max_pixels=1_000_000)
    assert webp.frames == MAX_FRAMES + 1  # libwebp knows them all; reported the same way as a GIF's


def test_given_a_many_frame_gif_when_delivery_renders_it_then_it_reads_no_frame_past_the_second(monkeypatch):
    data = corpus.animation(5_000, size=(2, 2))
    walked = _gif_frames_walked(monkeypatch)
    settings = types.SimpleNamespace(max_image_pixels=1_000_000, delivery_max_pixels=1_000_000,
                                     max_image_cpu_seconds=None)
    body, width, height = delivery.render(data, options.parse("w:2"), "png", settings)
    assert (width, height) == (2, 2) and Image.open(io.BytesIO(body)).format == "PNG"
    assert max(walked) <= 1  # knowing it is animated is all a still needs


def test_given_an_animation_of_huge_frames_when_rendered_then_it_is_a_still():
    data = corpus.animation(5, size=(4000, 3000))  # 5 frames x (12 MP decoded + 12 MP WebP) = 120 MP
    rendering, variants = render(data, max_animation_pixels=100_000_000)
    assert rendering.animation["animated"] is False
    assert _frames(variants["webp"].data)[0] == 1


def test_given_a_heic_when_rendered_then_its_decode_counts_the_cpu_of_libheifs_own_threads(monkeypatch):
    import time as clock

    seen = []
    real = clock.process_time
    monkeypatch.setattr(clock, "process_time", lambda: seen.append(1) or real())
    budget = Budget(100)
    render(corpus.heic(corpus.scene(10, (640, 480))), budget=budget)
    assert budget.count("decode") == 1 and len(seen) == 2  # the decode step read the process clock
