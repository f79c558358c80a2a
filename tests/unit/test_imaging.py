"""The image-processing core, on pictures made in memory. No files, no network."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from functions.errors import InvalidInput
from functions.imaging import (
    STANDARD_VARIANTS,
    Budget,
    ImageRejected,
    SourceInfo,
    VariantSpec,
    inspect_image,
    parse_variant_specs,
    render_variants,
    variant_plan,
)
from functions.imaging import jpeg as jpeg_module
from functions.imaging import render as render_module
from functions.imaging import source as source_module
from tests.unit import imaging_corpus as corpus

MAX_PIXELS = 50_000_000


def render(data: bytes, specs=STANDARD_VARIANTS, **options) -> dict[str, object]:
    return {variant.name: variant for variant in render_variants(data, specs, max_pixels=MAX_PIXELS, **options)}


def decoded(variant) -> Image.Image:
    image = Image.open(io.BytesIO(variant.data))
    image.load()
    return image


def near(pixel, colour, tolerance=60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour))


def assert_no_metadata(variant) -> None:
    image = decoded(variant)
    assert not image.getexif(), f"{variant.name} carries EXIF"
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile"):
        assert key not in image.info, f"{variant.name} carries {key}"


# --- variant specs ------------------------------------------------------------------------------


def test_given_no_variants_when_parsing_then_none_are_requested():
    assert parse_variant_specs(None) == ()
    assert parse_variant_specs([]) == ()


def test_given_a_minimal_variant_when_parsing_then_defaults_fill_the_rest():
    assert parse_variant_specs([{"name": "w800", "width": 800}]) == (
        VariantSpec("w800", 800, None, fit="inside", format="webp", quality=80),
    )


def test_given_a_full_variant_when_parsing_then_every_field_is_kept():
    raw = [{"name": "hero_1-x", "width": 1200, "height": 600, "fit": "cover", "format": "avif", "quality": 55}]
    assert parse_variant_specs(raw) == (VariantSpec("hero_1-x", 1200, 600, "cover", "avif", 55),)


def test_given_requested_variants_when_planning_then_the_standard_set_comes_first():
    requested = parse_variant_specs([{"name": "w512", "width": 512}])
    plan = variant_plan(requested)
    assert plan[:2] == STANDARD_VARIANTS
    assert [spec.name for spec in plan] == ["thumbnail", "webp", "w512"]
    assert STANDARD_VARIANTS[0] == VariantSpec("thumbnail", 128, 128, "cover", "webp", 80)
    assert STANDARD_VARIANTS[1] == VariantSpec("webp", None, None, "inside", "webp", 80)


OK = {"name": "small", "width": 100}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "x", "width": 1}, "variants"),
        ("small", "variants"),
        ([OK] * 0 + [dict(OK, name=f"v{i}") for i in range(11)], "variants"),
        ([OK, "small"], "variants[1]"),
        ([OK, {"name": "big", "width": 10, "colour": "red"}], "variants[1].colour"),
        ([{"width": 100}], "variants[0].name"),
        ([{"name": "Big", "width": 100}], "variants[0].name"),
        ([{"name": "-big", "width": 100}], "variants[0].name"),
        ([{"name": "a" * 33, "width": 100}], "variants[0].name"),
        ([{"name": 7, "width": 100}], "variants[0].name"),
        ([OK, dict(OK)], "variants[1].name"),
        ([{"name": "thumbnail", "width": 100}], "variants[0].name"),
        ([{"name": "webp", "width": 100}], "variants[0].name"),
        ([{"name": "original", "width": 100}], "variants[0].name"),
        ([{"name": "a", "width": "100"}], "variants[0].width"),
        ([{"name": "a", "width": 100.0}], "variants[0].width"),
        ([{"name": "a", "width": True}], "variants[0].width"),
        ([{"name": "a", "width": 0}], "variants[0].width"),
        ([{"name": "a", "width": 8193}], "variants[0].width"),
        ([{"name": "a", "height": -5}], "variants[0].height"),
        ([{"name": "a"}], "variants[0].width"),
        ([{"name": "a", "width": None, "height": None}], "variants[0].width"),
        ([{"name": "a", "width": 10, "fit": "stretch"}], "variants[0].fit"),
        ([{"name": "a", "width": 10, "format": "gif"}], "variants[0].format"),
        ([{"name": "a", "width": 10, "format": "JPEG"}], "variants[0].format"),
        ([{"name": "a", "width": 10, "quality": 0}], "variants[0].quality"),
        ([{"name": "a", "width": 10, "quality": 101}], "variants[0].quality"),
        ([{"name": "a", "width": 10, "quality": "80"}], "variants[0].quality"),
        ([{"name": "a", "width": 10, "quality": False}], "variants[0].quality"),
    ],
)
def test_given_a_bad_variant_when_parsing_then_invalid_input_names_the_field(raw, field):
    with pytest.raises(InvalidInput) as caught:
        parse_variant_specs(raw)
    assert caught.value.field == field
    assert caught.value.message.endswith(".")


# --- inspect_image ------------------------------------------------------------------------------


def test_given_requested_sizes_over_the_output_budget_when_parsing_then_variants_too_large_names_variants():
    huge = [{"name": f"v{n}", "width": 8192, "height": 8192, "fit": "fill"} for n in range(2)]
    with pytest.raises(InvalidInput) as caught:
        parse_variant_specs(huge, max_output_pixels=100_000_000)
    assert (caught.value.code, caught.value.field) == ("variants_too_large", "variants")
    assert "134,234,112 pixels" in caught.value.message  # two 8192x8192 and the 128x128 thumbnail
    # "inside" never enlarges and one-sided sizes follow the image: only rendering knows their size.
    unknown = [{"name": "a", "width": 8192, "height": 8192, "fit": "inside"}, {"name": "b", "width": 8192}]
    assert len(parse_variant_specs(unknown, max_output_pixels=100_000_000)) == 2
    assert len(parse_variant_specs(huge[:1], max_output_pixels=100_000_000)) == 1
    # Exactly at the budget with the thumbnail, one pixel more is refused: request time agrees with rendering.
    side = [{"name": "edge", "width": 8000, "height": 1000, "fit": "fill"}]
    assert parse_variant_specs(side, max_output_pixels=8_000_000 + 128 * 128)
    with pytest.raises(InvalidInput):
        parse_variant_specs(side, max_output_pixels=8_000_000 + 128 * 128 - 1)


def test_given_variants_that_would_add_up_past_the_budget_when_rendering_then_rejected_before_any_output():
    data = corpus.encode(corpus.noisy((400, 300)), "JPEG", quality=90)
    enlarged = variant_plan(parse_variant_specs([{"name": f"w{n}", "width": 8192, "fit": "cover"} for n in range(3)]))
    produced = []
    with pytest.raises(ImageRejected) as caught:
        for variant in render_variants(data, enlarged, max_pixels=MAX_PIXELS, max_output_pixels=100_000_000):
            produced.append(variant)
    assert produced == []
    assert caught.value.code == "variants_too_large"
    assert "from this 400x300 image" in caught.value.message and caught.value.message.endswith(".")
    within = variant_plan(parse_variant_specs([{"name": "w8k", "width": 8192, "fit": "cover", "format": "jpeg"}]))
    sizes = {variant.name: (variant.width, variant.height)
             for variant in render_variants(data, within, max_pixels=MAX_PIXELS, max_output_pixels=100_000_000)}
    assert sizes["w8k"] == (8192, 6144)


def test_given_a_rotated_jpeg_when_inspecting_then_the_size_is_as_displayed():
    info = inspect_image(corpus.jpeg_with_orientation(6), max_pixels=MAX_PIXELS)
    assert info == SourceInfo("jpeg", "image/jpeg", 1200, 1600, 1)


def test_given_an_animated_gif_when_inspecting_then_frames_are_counted():
    assert inspect_image(corpus.animated_gif(), max_pixels=MAX_PIXELS) == SourceInfo("gif", "image/gif", 120, 80, 3)


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("WEBP", "image/webp"), ("AVIF", "image/avif")]
)
def test_given_each_allowed_type_when_inspecting_then_it_is_recognised_by_content(fmt, mime):
    info = inspect_image(corpus.encode(corpus.scene((40, 30)), fmt), max_pixels=MAX_PIXELS)
    assert (info.mime, info.width, info.height, info.frames) == (mime, 40, 30, 1)


def test_given_a_file_over_the_byte_limit_when_inspecting_then_it_is_too_large():
    with pytest.raises(ImageRejected) as caught:
        inspect_image(corpus.bmp(), max_pixels=MAX_PIXELS, max_bytes=100)
    assert caught.value.code == "too_large"


def test_given_a_bomb_when_inspecting_then_the_header_alone_rejects_it(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(ImageRejected) as caught:
        inspect_image(corpus.png_bomb(), max_pixels=MAX_PIXELS)
    assert caught.value.code == "too_many_pixels"


def test_given_pillows_own_limit_is_lower_than_ours_when_inspecting_then_its_bomb_warning_is_an_error():
    import warnings

    filters = list(warnings.filters)
    pixels = int(Image.MAX_IMAGE_PIXELS * 1.1)  # over Pillow's warning threshold, under its error one
    with pytest.raises(ImageRejected) as caught:
        inspect_image(corpus.png_bomb(pixels // 1000, 1000), max_pixels=pixels * 2)
    assert caught.value.code == "too_many_pixels"
    assert warnings.filters == filters  # the per-call filter did not leak


def test_given_a_limit_below_pillows_when_inspecting_then_the_per_call_limit_applies():
    with pytest.raises(ImageRejected) as caught:
        inspect_image(corpus.encode(corpus.scene((100, 100)), "PNG"), max_pixels=9_999)
    assert caught.value.code == "too_many_pixels"
    assert "10,000" in caught.value.message


# --- the bad-input corpus -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (corpus.png_bomb, "too_many_pixels"),
        (lambda: corpus.truncated(corpus.encode(corpus.noisy(), "JPEG", quality=95)), "corrupt_image"),
        (lambda: corpus.truncated(corpus.jpeg_with_orientation(6)), "corrupt_image"),
        (lambda: corpus.truncated(corpus.encode(corpus.noisy(), "PNG")), "corrupt_image"),
        (lambda: corpus.HTML, "unsupported_type"),
        (lambda: corpus.SVG, "unsupported_type"),
        (lambda: b"", "empty"),
        (corpus.bmp, "unsupported_type"),
        (corpus.heic_like, "corrupt_image"),  # HEIC is accepted now; this one has no boxes after ftyp
        (corpus.jpeg_magic_then_garbage, "corrupt_image"),
    ],
    ids=[
        "png-bomb-20000x20000", "truncated-jpeg", "truncated-large-jpeg-draft-decode", "truncated-png",
        "html-named-jpg", "svg", "empty", "bmp", "heic", "jpeg-magic-then-garbage",
    ],
)
def test_given_a_bad_input_when_rendering_then_it_is_rejected_with_its_code(make, code):
    with pytest.raises(ImageRejected) as caught:
        render(make())
    assert caught.value.code == code
    assert caught.value.message.endswith(".")


def test_given_randomly_damaged_files_of_every_type_when_rendering_then_each_renders_or_is_rejected():
    outcomes = set()
    for name, data in corpus.mutations(seed=1, count=40):
        try:
            variants = render(data, (*STANDARD_VARIANTS, VariantSpec("j", 30, 30, fit="contain", format="jpeg")))
        except ImageRejected as rejected:
            outcomes.add(rejected.code)
        else:
            assert (variants["thumbnail"].width, variants["thumbnail"].height) == (128, 128), name
            outcomes.add("rendered")
    assert {"rendered", "corrupt_image"} <= outcomes


def test_given_the_truncated_jpeg_when_rendering_then_loading_truncated_images_stays_off():
    from PIL import ImageFile

    with pytest.raises(ImageRejected):
        render(corpus.truncated(corpus.encode(corpus.noisy(), "JPEG")))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_given_a_cmyk_jpeg_when_rendering_then_the_output_is_rgb_with_the_same_colours():
    variants = render(corpus.cmyk_jpeg(), variant_plan((VariantSpec("jpg", 200, None, format="jpeg"),)))
    image = decoded(variants["jpg"]).convert("RGB")
    assert decoded(variants["jpg"]).mode == "RGB"
    assert near(image.getpixel((50, 50)), corpus.RED)
    assert near(image.getpixel((150, 50)), (255, 255, 255))


def test_given_a_16_bit_png_when_rendering_then_it_is_scaled_to_8_bits_not_clipped():
    variants = render(corpus.png_16bit_grey(), variant_plan((VariantSpec("png", 256, None, format="png"),)))
    image = decoded(variants["png"])
    assert image.mode == "RGB"
    assert image.getpixel((2, 8))[0] < 8
    assert 118 <= image.getpixel((128, 8))[0] <= 138  # clipping would give 255 from x=1 on
    assert image.getpixel((254, 8))[0] > 245


def test_given_a_palette_png_with_transparency_when_rendering_then_alpha_survives_or_goes_white():
    variants = render(
        corpus.png_palette_with_transparency(),
        variant_plan((VariantSpec("png", 200, None, format="png"), VariantSpec("jpg", 200, None, format="jpeg"))),
    )
    png = decoded(variants["png"])
    assert png.mode == "RGBA"
    assert png.getpixel((20, 50))[3] == 0
    assert png.getpixel((180, 50)) == (255, 0, 0, 255)
    webp = decoded(variants["webp"])
    assert webp.mode == "RGBA" and webp.getpixel((20, 50))[3] == 0
    jpg = decoded(variants["jpg"])
    assert near(jpg.getpixel((20, 50)), (255, 255, 255), 10)
    assert near(jpg.getpixel((180, 50)), corpus.RED)


def test_given_a_grey_png_with_alpha_when_rendering_then_it_becomes_rgba():
    image = decoded(render(corpus.png_grey_with_alpha(), (VariantSpec("png", None, 100, format="png"),))["png"])
    assert image.mode == "RGBA"
    assert image.getpixel((10, 10))[3] == 0
    assert image.getpixel((90, 10)) == (200, 200, 200, 255)


def test_given_an_animated_gif_when_rendering_then_the_first_frame_is_used():
    variants = render(corpus.animated_gif())
    assert near(decoded(variants["webp"]).convert("RGB").getpixel((60, 40)), corpus.RED)
    assert (variants["webp"].width, variants["webp"].height) == (120, 80)


def test_given_a_multi_picture_jpeg_when_rendering_then_its_primary_picture_is_used():
    data = corpus.mpo()
    assert inspect_image(data, max_pixels=MAX_PIXELS) == SourceInfo("jpeg", "image/jpeg", 800, 600, 1)
    variants = render(data)
    assert near(decoded(variants["webp"]).getpixel((5, 5)), corpus.RED)
    assert near(decoded(variants["thumbnail"]).getpixel((5, 5)), corpus.RED)


# --- orientation and metadata -------------------------------------------------------------------


def test_given_a_jpeg_with_orientation_6_when_rendering_then_every_variant_is_upright():
    # Stored 1600x1200 with a red block top-left; orientation 6 shows it 1200x1600 with the block top-right.
    variants = render(corpus.jpeg_with_orientation(6), variant_plan((VariantSpec("w300", 300, None),)))
    full = decoded(variants["webp"]).convert("RGB")
    assert full.size == (1200, 1600)
    assert near(full.getpixel((1190, 10)), corpus.RED)
    assert near(full.getpixel((10, 10)), corpus.BLUE)
    assert near(full.getpixel((10, 1590)), corpus.BLUE)
    small = decoded(variants["w300"]).convert("RGB")
    assert small.size == (300, 400)
    assert near(small.getpixel((295, 5)), corpus.RED) and near(small.getpixel((5, 5)), corpus.BLUE)
    # The cover crop keeps the middle 1200 rows, so the block (rows 0-400) fills the thumbnail's top sixth.
    thumb = decoded(variants["thumbnail"]).convert("RGB")
    assert near(thumb.getpixel((124, 3)), corpus.RED) and near(thumb.getpixel((3, 3)), corpus.BLUE)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 7, 8])
def test_given_any_exif_orientation_when_rendering_then_the_red_corner_lands_where_a_viewer_shows_it(orientation):
    stored = corpus.marked_corner((160, 120))
    expected = stored.transpose(source_module._UPRIGHT[orientation])
    data = corpus.encode(stored, "JPEG", quality=95, exif=corpus.gps_exif(orientation))
    image = decoded(render(data)["webp"]).convert("RGB")
    assert image.size == expected.size
    for corner in [(3, 3), (image.width - 4, 3), (3, image.height - 4), (image.width - 4, image.height - 4)]:
        assert near(image.getpixel(corner), expected.getpixel(corner)), (orientation, corner)


def test_given_gps_exif_xmp_and_icc_in_the_input_when_rendering_then_no_variant_carries_metadata():
    data = corpus.jpeg_with_gps_xmp_and_icc()
    source = Image.open(io.BytesIO(data))
    assert source.getexif().get_ifd(0x8825) and "xmp" in source.info and "icc_profile" in source.info
    specs = variant_plan(
        (
            VariantSpec("jpg", 300, 300, fit="contain", format="jpeg"),
            VariantSpec("png", 300, None, format="png"),
            VariantSpec("avif", 200, None, format="avif", quality=50),
            VariantSpec("same", None, 600, format="jpeg"),
        )
    )
    variants = render(data, specs)
    assert set(variants) == {"thumbnail", "webp", "jpg", "png", "avif", "same"}
    for variant in variants.values():
        assert_no_metadata(variant)
        assert b"PixelflowCam" not in variant.data and b"xmpmeta" not in variant.data


def test_given_an_embedded_non_srgb_profile_when_rendering_then_pixels_are_converted_and_the_profile_dropped(
    monkeypatch,
):
    from PIL import ImageCms

    conversions = []
    real_apply = ImageCms.applyTransform
    monkeypatch.setattr(ImageCms, "applyTransform", lambda im, t: conversions.append(im.mode) or real_apply(im, t))
    picture = Image.new("RGBA", (60, 40), (200, 30, 40, 90))
    data = corpus.encode(picture, "PNG", icc_profile=corpus.srgb_profile_named_otherwise())
    variants = render(data, (VariantSpec("png", 60, None, format="png"),))
    assert conversions == ["RGBA"]
    assert_no_metadata(variants["png"])
    assert decoded(variants["png"]).getpixel((30, 20)) == (200, 30, 40, 90)


# --- fit modes and formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        (VariantSpec("a", 100, 100, fit="cover"), (100, 100)),
        (VariantSpec("a", 100, 100, fit="contain"), (100, 100)),
        (VariantSpec("a", 100, 100, fit="fill"), (100, 100)),
        (VariantSpec("a", 100, 100, fit="inside"), (100, 75)),
        (VariantSpec("a", 1000, 1000, fit="inside"), (400, 300)),
        (VariantSpec("a", 800, 600, fit="cover"), (800, 600)),
        (VariantSpec("a", 50, 200, fit="cover"), (50, 200)),
        (VariantSpec("a", 200, None, fit="inside"), (200, 150)),
        (VariantSpec("a", None, 60, fit="inside"), (80, 60)),
        (VariantSpec("a", 800, None, fit="inside"), (400, 300)),
        (VariantSpec("a", 800, None, fit="cover"), (800, 600)),
        (VariantSpec("a", None, 30, fit="fill"), (40, 30)),
        (VariantSpec("a", 1, 1, fit="inside"), (1, 1)),
    ],
)
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_given_a_fit_when_rendering_then_the_decoded_output_has_the_promised_size_and_format(spec, size, fmt):
    spec = VariantSpec(spec.name, spec.width, spec.height, fit=spec.fit, format=fmt)
    variant = render(corpus.encode(corpus.scene(), "PNG"), (spec,))["a"]
    image = decoded(variant)
    assert (image.size, image.format.lower()) == (size, fmt)
    assert (variant.width, variant.height, variant.format) == (*size, fmt)


def test_given_a_panorama_wider_than_webp_allows_when_rendering_then_the_full_size_webp_is_scaled_to_fit():
    data = corpus.encode(Image.new("L", (17000, 40), 128), "PNG")
    variant = render(data)["webp"]
    assert (variant.width, variant.height) == (16383, 39) and decoded(variant).size == (16383, 39)


def test_given_avif_when_rendering_then_the_output_is_avif_with_its_content_type():
    variant = render(corpus.encode(corpus.scene(), "PNG"), (VariantSpec("a", 120, 90, format="avif"),))["a"]
    assert (variant.content_type, variant.extension) == ("image/avif", "avif")
    assert decoded(variant).format == "AVIF" and decoded(variant).size == (120, 90)


def test_given_each_format_when_rendering_then_content_type_and_extension_match():
    specs = [VariantSpec(f, 40, None, format=f) for f in ("jpeg", "png", "webp")]
    variants = render(corpus.encode(corpus.scene(), "PNG"), specs)
    assert {(v.content_type, v.extension) for v in variants.values()} == {
        ("image/jpeg", "jpg"), ("image/png", "png"), ("image/webp", "webp"),
    }


def test_given_cover_when_rendering_then_the_centre_is_kept_and_the_sides_are_cropped():
    # 400x300 scene with a green disc in the middle and red in the top-left corner.
    spec = VariantSpec("a", 100, 300, fit="cover", format="png")
    image = decoded(render(corpus.encode(corpus.scene(), "PNG"), (spec,))["a"])
    assert near(image.getpixel((50, 150)), corpus.GREEN)
    assert not near(image.getpixel((2, 2)), corpus.RED)  # the corner was cropped away


def test_given_contain_when_rendering_then_padding_is_transparent_or_white_by_format():
    specs = [
        VariantSpec("webp", 100, 100, fit="contain", format="webp"),
        VariantSpec("jpeg", 100, 100, fit="contain", format="jpeg"),
    ]
    variants = render(corpus.encode(corpus.scene(), "PNG"), specs)
    webp, jpeg = decoded(variants["webp"]), decoded(variants["jpeg"])
    assert webp.mode == "RGBA" and webp.getpixel((50, 3))[3] == 0 and webp.getpixel((50, 50))[3] == 255
    assert near(jpeg.getpixel((50, 3)), (255, 255, 255), 8)
    assert near(jpeg.getpixel((50, 50)), corpus.GREEN)


def test_given_fill_when_rendering_then_the_picture_is_stretched_not_cropped():
    spec = VariantSpec("a", 100, 300, fit="fill", format="png")
    image = decoded(render(corpus.encode(corpus.scene(), "PNG"), (spec,))["a"])
    assert near(image.getpixel((2, 2)), corpus.RED)  # the corner is still there
    assert near(image.getpixel((50, 150)), corpus.GREEN)


# --- order, speed paths, threads ----------------------------------------------------------------


def test_given_the_standard_plan_when_rendering_then_the_thumbnail_comes_first_at_exactly_128x128():
    data = corpus.jpeg_with_orientation(1)
    first = next(iter(render_variants(data, variant_plan((VariantSpec("w64", 64, None),)), max_pixels=MAX_PIXELS)))
    assert first.name == "thumbnail"
    assert (first.width, first.height) == (128, 128) and decoded(first).size == (128, 128)


def test_given_a_stretched_picture_when_choosing_what_to_resample_from_then_it_only_serves_what_it_has_detail_for():
    full, stretched, half = (Image.new("RGB", size, colour) for size, colour in
                             [((800, 600), "white"), ((100, 600), "black"), ((400, 300), "red")])
    pictures = [full, stretched, half]
    small = render_module.geometry(VariantSpec("a", 200, None), (800, 600))
    tiny = render_module.geometry(VariantSpec("a", 40, None), (800, 600))
    assert render_module._resample(small, pictures, (800, 600)).getpixel((0, 0)) == (255, 0, 0)
    assert render_module._resample(tiny, pictures, (800, 600)).getpixel((0, 0)) == (0, 0, 0)
    big = render_module.geometry(VariantSpec("a", 500, None), (800, 600))
    assert render_module._resample(big, pictures, (800, 600)).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("cpus", [1, 4])
def test_given_one_or_several_cpus_when_rendering_then_the_same_variants_come_out(monkeypatch, cpus):
    monkeypatch.setattr(render_module, "_cpus", lambda: cpus)
    specs = variant_plan(tuple(VariantSpec(f"w{w}", w, None, format="png") for w in (400, 200, 100)))
    variants = render(corpus.encode(corpus.scene((800, 600)), "PNG"), specs)
    assert list(variants)[0] == "thumbnail"
    assert {name: (v.width, v.height) for name, v in variants.items()} == {
        "thumbnail": (128, 128), "webp": (800, 600), "w400": (400, 300), "w200": (200, 150), "w100": (100, 75),
    }
    reference = corpus.scene((800, 600)).resize((400, 300), Image.Resampling.LANCZOS)
    assert near(decoded(variants["w400"]).getpixel((200, 150)), reference.getpixel((200, 150)), 8)


def test_given_no_specs_when_rendering_then_nothing_is_yielded_but_the_input_is_still_checked():
    assert render(corpus.jpeg_with_orientation(1), ()) == {}
    with pytest.raises(ImageRejected):
        render(b"", ())


# --- bounded work: JPEG scans, one decode, a CPU budget ---------------------------------------------


@pytest.mark.parametrize(
    ("make", "scans"),
    [
        (lambda: corpus.encode(corpus.scene(), "JPEG"), 1),
        (lambda: corpus.progressive_jpeg(), 10),  # libjpeg's default script for colour
        (lambda: corpus.progressive_jpeg((1600, 1200), quality=95, subsampling=0), 10),
        (lambda: corpus.encode(corpus.scene().convert("L"), "JPEG", progressive=True), 6),
        (lambda: corpus.jpeg_with_many_scans(250), 250),
    ],
    ids=["baseline", "progressive", "progressive-444-q95", "progressive-grey", "hostile-250"],
)
def test_given_a_jpeg_when_counting_scans_then_the_count_matches_its_sos_segments(make, scans):
    data = make()
    assert jpeg_module.count_scans(data) == scans
    assert scans == sum(1 for marker, _, _ in corpus.jpeg_segments(data) if marker == 0xDA)


def test_given_an_exif_thumbnail_full_of_scans_when_counting_then_only_the_pictures_own_scans_count():
    inner = corpus.jpeg_with_many_scans(300, (16, 16))  # inside APP1: never decoded, never counted
    assert jpeg_module.count_scans(corpus.with_app_segment(corpus.progressive_jpeg(), b"Exif\0\0" + inner)) == 10


def test_given_a_multi_picture_jpeg_when_counting_scans_then_the_count_stops_at_the_first_pictures_end():
    assert jpeg_module.count_scans(corpus.mpo()) == 1


def test_given_damaged_files_when_counting_scans_then_the_walk_always_ends_without_error():
    for _, data in corpus.mutations(seed=3, count=40):
        assert 0 <= jpeg_module.count_scans(data) <= data.count(b"\xff\xda")
    assert jpeg_module.count_scans(b"\xff\xd8\xff\xda\x00\x08") == 1  # cut short: counted, the decoder refuses it
    assert jpeg_module.count_scans(b"\xff\xd8") == jpeg_module.count_scans(b"not a jpeg") == 0


def test_given_real_progressive_jpegs_when_rendering_then_they_are_accepted():
    for data in (corpus.progressive_jpeg(), corpus.progressive_jpeg((1600, 1200), quality=95, subsampling=0)):
        assert render(data)["thumbnail"].width == 128


def test_given_a_jpeg_with_thousands_of_scans_when_rendering_then_it_is_refused_before_any_decode(monkeypatch):
    data = corpus.jpeg_with_many_scans(2000)
    assert len(data) < 100_000  # small file, large cost: each scan is a dozen bytes

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    for attempt in (lambda: inspect_image(data, max_pixels=MAX_PIXELS), lambda: render(data)):
        with pytest.raises(ImageRejected) as caught:
            attempt()
        assert caught.value.code == "too_many_scans"
        assert str(jpeg_module.MAX_SCANS) in caught.value.message and caught.value.message.endswith(".")


def test_given_a_jpeg_with_thousands_of_segments_when_rendering_then_it_is_refused_before_pillow_reads_it(
        monkeypatch):
    data = corpus.jpeg_with_many_segments(2000)
    assert jpeg_module.walk(data, max_segments=None).segments > jpeg_module.MAX_SEGMENTS

    def no_parsing(*args, **kwargs):
        raise AssertionError("Pillow parsed the header")

    monkeypatch.setattr(Image, "open", no_parsing)
    with pytest.raises(ImageRejected) as caught:
        render(data)
    assert caught.value.code == "too_many_segments" and caught.value.message.endswith(".")


@pytest.mark.parametrize("junk", [b"\x00", b"\x00" * 50, b"abc\xff\x00"])
def test_given_junk_bytes_before_the_scans_when_rendering_then_the_scans_are_still_counted_and_refused(junk):
    data = corpus.jpeg_with_many_scans(2000)
    first_scan = next(start for marker, start, _ in corpus.jpeg_segments(data) if marker == 0xDA)
    hidden = data[:first_scan] + junk + data[first_scan:]  # libjpeg skips such junk and decodes every scan
    assert jpeg_module.walk(hidden).scans == jpeg_module.MAX_SCANS + 1
    with pytest.raises(ImageRejected) as caught:
        render(hidden)
    assert caught.value.code == "too_many_scans"


def test_given_a_hostile_jpeg_when_walking_with_limits_then_the_walk_stops_just_past_them():
    assert jpeg_module.walk(corpus.jpeg_with_many_scans(2000)).scans == jpeg_module.MAX_SCANS + 1
    assert jpeg_module.walk(corpus.jpeg_with_many_segments(5000)).segments == jpeg_module.MAX_SEGMENTS + 1
    assert jpeg_module.walk(corpus.progressive_jpeg()).within_limits


def test_given_a_jpeg_just_within_the_scan_limit_when_rendering_then_it_is_processed():
    variants = render(corpus.jpeg_with_many_scans(jpeg_module.MAX_SCANS))
    assert (variants["thumbnail"].width, variants["webp"].width) == (128, 256)


@pytest.mark.parametrize(
    "make",
    [
        lambda: corpus.jpeg_with_orientation(1),  # JPEG: the thumbnail used to get its own small draft decode
        lambda: corpus.progressive_jpeg((1600, 1200)),
        lambda: corpus.encode(corpus.scene((800, 600)), "PNG"),
        corpus.animated_gif,
        lambda: corpus.encode(corpus.scene((800, 600)), "WEBP"),
    ],
    ids=["jpeg", "progressive-jpeg", "png", "gif", "webp"],
)
def test_given_any_image_and_several_variants_when_rendering_then_it_is_decoded_exactly_once(make):
    budget = Budget()
    specs = variant_plan((VariantSpec("w400", 400, None), VariantSpec("card", 300, 200, fit="cover", format="jpeg")))
    # max_animation_pixels=1: the animated GIF's variants are stills (animation decodes every frame).
    rendering = render_variants(make(), specs, max_pixels=MAX_PIXELS, budget=budget, max_animation_pixels=1)
    assert [variant.name for variant in rendering][0] == "thumbnail"
    assert budget.count("decode") == 1
    assert budget.count("encode") == len(specs) and budget.count("resize") == len(specs)
    assert [step for step, _ in budget.steps[:2]] == ["header", "decode"]


def test_given_only_small_variants_of_a_large_jpeg_when_rendering_then_the_one_decode_is_reduced(monkeypatch):
    sizes = []
    real_decode = source_module.Source.decode
    monkeypatch.setattr(source_module.Source, "decode",
                        lambda self, at_least=None: (lambda image: sizes.append(image.size) or image)(
                            real_decode(self, at_least)))
    render(corpus.jpeg_with_orientation(1), (STANDARD_VARIANTS[0], VariantSpec("w180", 180, None)))
    assert sizes == [(200, 150)]  # 1/8 of 1600x1200 still serves both the 128 crop and the 180 width


def test_given_the_rendering_when_it_starts_then_info_describes_the_source_without_a_second_open():
    rendering = render_variants(corpus.jpeg_with_orientation(6), STANDARD_VARIANTS, max_pixels=MAX_PIXELS)
    assert rendering.info == SourceInfo("jpeg", "image/jpeg", 1200, 1600, 1)


class Ticking:
    """A CPU clock that advances ``step`` seconds per reading, from any thread."""

    def __init__(self, step: float):
        import threading

        self.now, self.step, self.lock = 0.0, step, threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += self.step
            return self.now


def test_given_a_decode_that_spends_the_budget_when_rendering_then_too_slow_before_any_variant():
    budget = Budget(3.0, clock=Ticking(2.0))  # every step costs 2 s: the header read fits, the decode does not
    produced = []
    with pytest.raises(ImageRejected) as caught:
        for variant in render_variants(corpus.jpeg_with_orientation(1), STANDARD_VARIANTS,
                                       max_pixels=MAX_PIXELS, budget=budget):
            produced.append(variant)
    assert produced == [] and [name for name, _ in budget.steps] == ["header", "decode"]
    assert caught.value.code == "too_slow"
    assert caught.value.message.startswith("Processing this image took more than 3 seconds")


@pytest.mark.parametrize("cpus", [1, 4])
def test_given_steps_that_add_up_past_the_budget_when_rendering_then_too_slow_and_no_further_step_starts(
        monkeypatch, cpus):
    monkeypatch.setattr(render_module, "_cpus", lambda: cpus)
    budget = Budget(4.5, clock=Ticking(1.0))  # header, decode, resize, encode (the thumbnail): 4 s; the 5th tips it
    specs = variant_plan(tuple(VariantSpec(f"w{w}", w, None) for w in (400, 200, 100)))
    names = []
    with pytest.raises(ImageRejected) as caught:
        for variant in render_variants(corpus.jpeg_with_orientation(1), specs, max_pixels=MAX_PIXELS, budget=budget):
            names.append(variant.name)
    assert caught.value.code == "too_slow"
    assert names[:1] == ["thumbnail"] and len(names) < len(specs)
    assert len(budget.steps) < 2 * len(specs) + 1


def test_given_a_real_clock_and_a_tiny_budget_when_rendering_then_too_slow():
    with pytest.raises(ImageRejected) as caught:
        render(corpus.jpeg_with_orientation(1), budget=Budget(1e-6))
    assert caught.value.code == "too_slow"


def test_given_no_budget_when_rendering_then_every_step_is_still_counted_and_nothing_is_refused():
    budget = Budget(None, clock=Ticking(100.0))
    assert set(render(corpus.jpeg_with_orientation(1), budget=budget)) == {"thumbnail", "webp"}
    assert budget.spent == 100.0 * len(budget.steps)


def test_given_a_last_step_that_passes_the_budget_when_rendering_then_its_finished_work_is_kept(monkeypatch):
    monkeypatch.setattr(render_module, "_cpus", lambda: 1)
    # header, decode, analyse, resize, encode, resize: 6 s; the last encode starts at 6
    budget = Budget(6.5, clock=Ticking(1.0))
    assert set(render(corpus.jpeg_with_orientation(1), budget=budget)) == {"thumbnail", "webp"}
    assert budget.spent == 7.0 > budget.cpu_seconds
