// The latest image, prominent, and every image of the person, newest first, a page at a time.

import {
  formatDimensions, h, imageTitle, responsiveSource, showPlaceholder, statusBadge, statusPhrase, statusWord, TERMINAL,
  timeElement, variantOf,
} from "./elements.js";
import { imageEvents } from "./watch.js";

const PAGE_SIZE = 24;

export class GalleryView {
  constructor(api, watcher, { openImage }) {
    this.api = api;
    this.watcher = watcher;
    this.openImage = openImage;
    this.grid = document.getElementById("gallery-grid");
    this.empty = document.getElementById("gallery-empty");
    this.error = document.getElementById("gallery-error");
    this.count = document.getElementById("gallery-count");
    this.moreButton = document.getElementById("load-more");
    this.latestBody = document.getElementById("latest-body");
    this.cursor = null;
    this.latest = null;
    this.generation = 0; // bumped on each sign-in, so answers for the previous person are dropped

    this.moreButton.addEventListener("click", () => this.loadMore());
    imageEvents.addEventListener("image", (event) => this.imageChanged(event.detail));
    imageEvents.addEventListener("image-removed", (event) => this.imageRemoved(event.detail));
  }

  /** Load the first page and the latest image afresh. */
  async reset() {
    const generation = ++this.generation;
    this.grid.replaceChildren();
    this.cursor = null;
    this.latest = null;
    this.error.hidden = true;
    this.renderLatest(null, { loading: true });
    const [page, latest] = await Promise.allSettled([
      this.api.images({ limit: PAGE_SIZE }),
      this.api.latestImage(),
    ]);
    if (generation !== this.generation) return;
    if (page.status === "fulfilled") {
      this.addPage(page.value);
    } else {
      this.showError(page.reason);
    }
    if (latest.status === "fulfilled") {
      this.setLatest(latest.value);
    } else {
      this.renderLatest(null);
    }
    this.updateState();
  }

  async loadMore() {
    if (!this.cursor) return;
    const generation = this.generation;
    this.moreButton.disabled = true;
    try {
      const page = await this.api.images({ limit: PAGE_SIZE, cursor: this.cursor });
      if (generation !== this.generation) return;
      const firstNew = this.addPage(page);
      // Keyboard users continue where the new cards begin.
      firstNew?.querySelector("button")?.focus();
    } catch (error) {
      this.showError(error);
    } finally {
      this.moreButton.disabled = false;
      this.updateState();
    }
  }

  addPage(page) {
    let first = null;
    for (const image of page.items) {
      if (this.card(image.id)) continue;
      const card = this.renderCard(image);
      this.grid.append(card);
      first ??= card;
      if (!TERMINAL.has(image.status)) this.watcher.watch(image.id, { immediately: false });
    }
    this.cursor = page.next_cursor;
    return first;
  }

  showError(error) {
    this.error.textContent = `Your images could not be loaded: ${error.message}`;
    this.error.hidden = false;
  }

  card(id) {
    return this.grid.querySelector(`[data-image-id="${CSS.escape(id)}"]`);
  }

  renderCard(image) {
    const title = imageTitle(image);
    const responsive = responsiveSource(image, "(max-width: 640px) 50vw, 240px");
    const thumbnail = responsive ?? variantOf(image, "thumbnail");
    const picture = thumbnail
      ? h("img", { class: "thumb", src: thumbnail.src ?? thumbnail.url, ...(responsive ?? {}), alt: "", width: 128, height: 128, loading: "lazy", decoding: "async" })
      : h("span", { class: `thumb thumb-placeholder thumb-${image.status}`, "aria-hidden": "true" });
    if (thumbnail) picture.addEventListener("error", () => this.linkExpired(image.id, picture), { once: true });
    if (thumbnail) showPlaceholder(picture, image);
    const size = formatDimensions(image.width, image.height);
    const facts = [size ? h("span", {}, size) : null, timeElement(image.created_at)];
    const dataset = { imageId: image.id, created: image.created_at, status: image.status, signature: signature(image) };
    return h("li", { class: "grid-item", dataset },
      h("button", { type: "button", class: "card-button", "aria-label": `Open ${title}, ${statusWord(image.status)}`, onclick: () => this.openImage(image.id) },
        h("span", { class: "thumb-frame" }, picture),
        h("span", { class: "card-text" },
          h("span", { class: "card-name", title }, title),
          h("span", { class: "card-meta" }, statusBadge(image.status)),
          h("span", { class: "card-facts" }, facts))));
  }

  /** A presigned link ran out (they last minutes): fetch the image again for new ones. */
  async linkExpired(id, picture) {
    if (picture.dataset.retried) return;
    picture.dataset.retried = "true";
    try {
      this.imageChanged(await this.api.image(id), { force: true });
    } catch {
      // Leave the broken picture; opening the image fetches it again.
    }
  }

  /** Re-render the image's card only when what it shows changed: every poll brings new links. */
  imageChanged(image, { force = false } = {}) {
    const existing = this.card(image.id);
    if (existing && !force && existing.dataset.signature === signature(image)) {
      if (this.latest?.id === image.id) this.latest = image;
      return;
    }
    const card = this.renderCard(image);
    if (existing) {
      const hadFocus = existing.contains(document.activeElement);
      existing.replaceWith(card);
      if (hadFocus) card.querySelector("button").focus();
    } else if (!this.insertInOrder(card, image)) {
      return; // older than every loaded card while more pages exist: it comes with its page
    }
    if (!this.latest || this.latest.id === image.id || newer(image, this.latest)) {
      this.setLatest(image, { force });
    }
    this.updateState();
  }

  /** Put a card where the API's order (newest first) puts it; false when it belongs to a later page. */
  insertInOrder(card, image) {
    for (const other of this.grid.children) {
      if (newer(image, { created_at: other.dataset.created, id: other.dataset.imageId })) {
        other.before(card);
        return true;
      }
    }
    if (this.cursor) return false;
    this.grid.append(card);
    return true;
  }

  async imageRemoved(id) {
    this.card(id)?.remove();
    this.updateState();
    if (this.latest?.id !== id) return;
    const generation = this.generation;
    try {
      const latest = await this.api.latestImage();
      if (generation === this.generation) this.setLatest(latest);
    } catch {
      if (generation === this.generation) this.setLatest(null);
    }
  }

  setLatest(image, { force = false } = {}) {
    const unchanged = image && this.latest?.id === image.id && signature(this.latest) === signature(image);
    this.latest = image;
    if (force || !unchanged) this.renderLatest(image);
  }

  renderLatest(image, { loading = false } = {}) {
    if (!image) {
      this.latestBody.replaceChildren(h("div", { class: "latest-empty" },
        h("p", {}, loading ? "Loading…" : "Your newest image shows here. Upload one, import one or generate one to begin.")));
      return;
    }
    const title = imageTitle(image);
    const responsive = responsiveSource(image);
    const full = variantOf(image, "webp");
    const preview = full ?? variantOf(image, "thumbnail");
    const figure = responsive
      ? h("img", { class: "latest-image", ...responsive, alt: `${title}, processed`, width: image.width, height: image.height, decoding: "async" })
      : preview
      ? h("img", { class: "latest-image", src: preview.url, alt: `${title}, processed`, width: preview.width, height: preview.height, decoding: "async" })
      : h("div", { class: `latest-placeholder thumb-${image.status}` }, h("span", {}, statusPhrase(image.status)));
    if (responsive || preview) figure.addEventListener("error", () => this.linkExpired(image.id, figure), { once: true });
    const facts = [statusBadge(image.status)];
    const size = formatDimensions(image.width, image.height);
    if (size) facts.push(h("span", {}, size));
    facts.push(timeElement(image.created_at));
    this.latestBody.replaceChildren(
      h("div", { class: "latest-frame", dataset: { imageId: image.id } }, figure),
      h("div", { class: "latest-caption" },
        h("div", { class: "latest-text" },
          h("p", { class: "latest-name", title }, title),
          h("p", { class: "latest-facts" }, facts),
          image.status === "failed" && image.error ? h("p", { class: "error-text" }, image.error.message) : null),
        h("button", { type: "button", class: "button", onclick: () => this.openImage(image.id), "aria-label": `Open ${title}` }, "Open")));
  }

  updateState() {
    const count = this.grid.childElementCount;
    this.empty.hidden = count > 0 || !this.error.hidden;
    this.moreButton.hidden = !this.cursor;
    this.count.textContent = count ? `${count}${this.cursor ? "+" : ""} shown` : "";
  }
}

/** The API's order: created_at, then id, both descending. */
function newer(image, than) {
  const [a, b] = [Date.parse(image.created_at), Date.parse(than.created_at)];
  return a !== b ? a > b : image.id > than.id;
}

/** What a card shows, short of its links. */
function signature(image) {
  return [image.status, image.variants.length, image.width, image.height, image.original_name].join("|");
}
