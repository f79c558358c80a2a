// One image in a dialog: the processed picture, its facts, every variant with a download link,
// and deleting it (after a confirmation).

import {
  announce, formatBytes, formatDate, formatDimensions, h, imageTitle, responsiveSource, showPlaceholder, statusBadge,
  statusPhrase, stem, TERMINAL, variantOf,
} from "./elements.js";
import { imageEvents, publishImage, publishRemoved } from "./watch.js";

// Download links are presigned for 5 minutes; older answers are fetched again before a download.
const LINKS_FRESH_MS = 4 * 60 * 1000;
const EXTENSIONS = { jpeg: "jpg", png: "png", webp: "webp", avif: "avif", gif: "gif" };
const SOURCES = { upload: "Uploaded", import: "Imported from a URL", generation: "Generated from a prompt" };

export class DetailView {
  constructor(api, watcher) {
    this.api = api;
    this.watcher = watcher;
    this.dialog = document.getElementById("detail");
    this.title = document.getElementById("detail-title");
    this.body = document.getElementById("detail-body");
    this.image = null;
    this.fetchedAt = 0;
    this.trigger = null;

    document.getElementById("detail-close").addEventListener("click", () => this.close());
    // A click on the backdrop (the dialog element itself, outside its box) closes it too.
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.close();
    });
    this.dialog.addEventListener("close", () => this.closed());
    imageEvents.addEventListener("image", (event) => this.imageChanged(event.detail));
    imageEvents.addEventListener("image-removed", (event) => {
      if (this.image?.id === event.detail && this.dialog.open) this.close();
    });
  }

  /** Open the dialog for image ``id`` with fresh links. */
  async open(id) {
    this.trigger = document.activeElement;
    this.image = { id };
    this.title.textContent = "Loading…";
    this.body.replaceChildren(h("p", { class: "loading" }, "Loading…"));
    if (!this.dialog.open) this.dialog.showModal();
    try {
      this.show(await this.api.image(id));
    } catch (error) {
      if (error.status === 404) {
        this.title.textContent = "Not found";
        this.body.replaceChildren(h("p", { class: "notice" }, "This image no longer exists."));
        publishRemoved(id);
      } else {
        this.title.textContent = "Image";
        this.body.replaceChildren(h("p", { class: "notice", role: "alert" }, `The image could not be loaded: ${error.message}`));
      }
      return;
    }
    publishImage(this.image);
    if (!TERMINAL.has(this.image.status)) this.watcher.watch(id, { immediately: false });
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  closed() {
    this.image = null;
    this.body.replaceChildren();
    const trigger = this.trigger;
    this.trigger = null;
    if (trigger?.isConnected) trigger.focus();
    else document.getElementById("main").focus();
  }

  imageChanged(image) {
    if (!this.dialog.open || this.image?.id !== image.id) return;
    const before = this.image;
    this.image = image;
    this.fetchedAt = Date.now();
    const same = before.status === image.status && (before.variants?.length ?? -1) === image.variants.length;
    if (!same) this.render();
  }

  show(image) {
    this.image = image;
    this.fetchedAt = Date.now();
    this.render();
  }

  render() {
    const image = this.image;
    const title = imageTitle(image);
    this.title.textContent = title;
    const focusKey = this.dialog.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;

    const full = variantOf(image, "webp") ?? variantOf(image, "thumbnail");
    const responsive = responsiveSource(image, "(max-width: 900px) 100vw, 860px");
    const preview = responsive
      ? h("img", { class: "detail-image", ...responsive, alt: `${title}, processed`, width: image.width, height: image.height })
      : full
      ? h("img", { class: "detail-image", src: full.url, alt: `${title}, processed (${full.name})`, width: full.width, height: full.height })
      : h("div", { class: `detail-placeholder thumb-${image.status}` }, h("span", {}, statusPhrase(image.status)));
    if (full) showPlaceholder(preview, image);

    const facts = h("dl", { class: "facts" },
      fact("Status", statusBadge(image.status)),
      fact("Source", SOURCES[image.source] ?? image.source),
      image.format ? fact("Original", [image.format.toUpperCase(), formatDimensions(image.width, image.height), formatBytes(image.bytes)].filter(Boolean).join(" · ")) : null,
      fact("Added", formatDate(image.created_at)),
      image.processed_at ? fact(image.status === "failed" ? "Stopped" : "Processed", formatDate(image.processed_at)) : null,
      image.renditions?.count ? fact("Renditions", `${image.renditions.count} · ${formatBytes(image.renditions.bytes)}`) : null);

    const generation = image.generation
      ? h("div", { class: "prompt" },
        h("h3", {}, "Prompt"),
        h("p", {}, image.generation.prompt),
        image.generation.style ? h("p", { class: "hint" }, `Style: ${image.generation.style}`) : null)
      : null;

    const failure = image.status === "failed" && image.error
      ? h("div", { class: "error-box", role: "note" },
        h("p", {}, h("strong", {}, "Processing failed: "), image.error.message),
        h("p", { class: "hint" }, `Code: ${image.error.code}`))
      : null;

    const rows = [];
    if (image.original) {
      rows.push(h("tr", {},
        nameCell("original", image.format),
        h("td", { class: "col-format" }, (image.format ?? "").toUpperCase()),
        h("td", {}, formatDimensions(image.width, image.height)),
        h("td", { class: "num" }, formatBytes(image.bytes)),
        h("td", {}, this.downloadLink("original", null))));
    }
    for (const variant of image.variants) {
      rows.push(h("tr", {},
        nameCell(variant.name, variant.format),
        h("td", { class: "col-format" }, variant.format.toUpperCase()),
        h("td", {}, formatDimensions(variant.width, variant.height)),
        h("td", { class: "num" }, formatBytes(variant.bytes)),
        h("td", {}, this.downloadLink(variant.name, variant))));
    }
    const downloads = rows.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "variants" },
        h("caption", { class: "visually-hidden" }, "The original and its variants"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Variant"), h("th", { scope: "col", class: "col-format" }, "Format"), h("th", { scope: "col" }, "Size"),
          h("th", { scope: "col", class: "num" }, "File"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Download")))),
        h("tbody", {}, rows)))
      : h("p", { class: "hint" }, TERMINAL.has(image.status) ? "Nothing to download." : "Variants appear here as they are made.");

    this.body.replaceChildren(
      h("div", { class: "detail-layout" },
        h("div", { class: "detail-preview" }, preview),
        h("div", { class: "detail-info" },
          facts, failure, generation, this.analysis(image),
          h("h3", {}, "Downloads"),
          downloads,
          this.deleteArea())));

    if (focusKey) this.body.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
  }

  /** The colours found at ingest and the caller's images that look the same, with links to them. */
  analysis(image) {
    const palette = image.colors?.palette ?? [];
    const swatches = palette.length
      ? h("ul", { class: "palette", "aria-label": "Colours" }, palette.map((colour) => {
        const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
        swatch.style.backgroundColor = colour.hex; // schema: always #rrggbb
        return h("li", {}, swatch, h("span", {}, `${colour.hex} · ${Math.round(colour.share * 100)} %`));
      }))
      : null;
    const duplicates = (image.duplicates ?? []).length
      ? h("ul", { class: "duplicates" }, image.duplicates.map((duplicate) =>
        h("li", {}, h("button", { type: "button", class: "link-button", onclick: () => this.open(duplicate.id) },
          `Image ${duplicate.id.slice(0, 8)}`), h("span", { class: "hint" }, ` (${duplicate.distance} bits apart)`))))
      : null;
    if (!swatches && !duplicates) return null;
    return h("div", { class: "analysis" },
      swatches ? h("h3", {}, "Colours") : null, swatches,
      duplicates ? h("h3", {}, "Looks the same as") : null, duplicates);
  }

  downloadLink(name, variant) {
    const image = this.image;
    const url = variant ? variant.url : image.original.url;
    const filename = variant
      ? `${stem(image.original_name || "image")}-${name}.${EXTENSIONS[variant.format] ?? variant.format}`
      : image.original_name;
    const link = h("a", {
      href: url, class: "download", download: filename, "aria-label": `Download ${name}`,
      dataset: { focusKey: `download-${name}` },
    }, "Download");
    link.addEventListener("click", (event) => {
      event.preventDefault();
      this.download(name, link);
    });
    return link;
  }

  /** Save one file. Variants are fetched and saved under a readable name (the bucket is another
   *  origin, where the download attribute is ignored); the original's link already says "attachment". */
  async download(name, link) {
    link.setAttribute("aria-busy", "true");
    try {
      if (Date.now() - this.fetchedAt > LINKS_FRESH_MS) {
        this.image = await this.api.image(this.image.id);
        this.fetchedAt = Date.now();
      }
      const image = this.image;
      if (name === "original") {
        window.location.assign(image.original.url);
        return;
      }
      const variant = variantOf(image, name);
      const answer = await fetch(variant.url, { credentials: "omit", cache: "no-store" });
      if (!answer.ok) throw new Error(`storage answered HTTP ${answer.status}`);
      const blob = await answer.blob();
      const objectUrl = URL.createObjectURL(blob);
      const save = h("a", { href: objectUrl, download: link.getAttribute("download"), hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(objectUrl), 60_000);
    } catch (error) {
      // Storage without CORS for this page, say: let the browser open the file instead.
      const variant = variantOf(this.image, name);
      if (variant) window.open(variant.url, "_blank", "noopener");
      else announce(`The download failed: ${error.message}`);
    } finally {
      link.removeAttribute("aria-busy");
    }
  }

  deleteArea() {
    const image = this.image;
    const title = imageTitle(image);
    const confirmId = `confirm-${image.id}`;
    const confirm = h("div", { class: "confirm", id: confirmId, role: "group", "aria-labelledby": `${confirmId}-text`, hidden: true },
      h("p", { id: `${confirmId}-text` }, `Delete “${title}”? The original and every variant are removed for good.`),
      h("div", { class: "confirm-actions" },
        h("button", { type: "button", class: "button button-danger", dataset: { focusKey: "confirm-delete" } }, "Delete permanently"),
        h("button", { type: "button", class: "button", dataset: { focusKey: "cancel-delete" } }, "Cancel")));
    const ask = h("button", {
      type: "button", class: "button button-danger-quiet", "aria-expanded": "false", "aria-controls": confirmId,
      dataset: { focusKey: "delete" },
    }, "Delete image…");
    const [yes, no] = confirm.querySelectorAll("button");
    ask.addEventListener("click", () => {
      confirm.hidden = false;
      ask.hidden = true;
      ask.setAttribute("aria-expanded", "true");
      no.focus();
    });
    no.addEventListener("click", () => {
      confirm.hidden = true;
      ask.hidden = false;
      ask.setAttribute("aria-expanded", "false");
      ask.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        await this.api.deleteImage(image.id);
      } catch (error) {
        if (error.status !== 404) {
          yes.disabled = false;
          no.disabled = false;
          confirm.append(h("p", { class: "error-text", role: "alert" }, `It could not be deleted: ${error.message}`));
          return;
        }
      }
      this.watcher.stop(image.id);
      this.trigger = null; // its card is gone
      this.close();
      publishRemoved(image.id);
      announce(`${title} was deleted.`);
    });
    return h("div", { class: "danger-zone" }, ask, confirm);
  }
}

function nameCell(name, format) {
  // The format repeats under the name for narrow screens, where its own column is hidden.
  return h("th", { scope: "row" }, name,
    format ? h("span", { class: "format-inline", "aria-hidden": "true" }, format.toUpperCase()) : null);
}

function fact(term, value) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
}
