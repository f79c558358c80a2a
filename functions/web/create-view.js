// Putting images in: upload (button or drop), import from a URL, generate from a prompt,
// and the "This session" list that follows each one until it is processed.

import { announce, formatDimensions, h, statusBadge, statusWord, TERMINAL, variantOf } from "./elements.js";
import { clearErrors, focusFirstInvalid, setFieldError, setFormError, showError, whileBusy } from "./forms.js";
import { postToStorage } from "./storage-upload.js";
import { VariantOptions } from "./variant-options.js";
import { imageEvents } from "./watch.js";

const ACCEPTED = new Set(["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "image/heic", "image/heif"]);
// Browsers outside Apple's often give a HEIC file no type at all; the server decides by content anyway.
const typeOf = (file) => file.type || (/\.hei[cf]$/i.test(file.name) ? "image/heic" : "");
const PARALLEL_UPLOADS = 3;

export class CreateView {
  constructor(api, watcher, { openImage }) {
    this.api = api;
    this.watcher = watcher;
    this.openImage = openImage;
    this.options = new VariantOptions();
    this.activity = document.getElementById("activity");
    this.activityList = document.getElementById("activity-list");
    this.clearFinished = document.getElementById("clear-finished");
    this.importForm = document.getElementById("import-form");
    this.generateForm = document.getElementById("generate-form");
    this.fileInput = document.getElementById("file-input");
    this.dropzone = document.getElementById("dropzone");
    this.rows = new Map(); // image id -> activity row
    this.batches = new Map(); // batch id -> {id, total, settled, row}
    this.queue = [];
    this.running = 0;

    this.setUpTabs();
    this.setUpUpload();
    this.importForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.importFromUrl();
    });
    this.generateForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.generate();
    });
    this.clearFinished.addEventListener("click", () => this.removeFinished());
    imageEvents.addEventListener("image", (event) => this.imageChanged(event.detail));
    imageEvents.addEventListener("image-removed", (event) => this.imageRemoved(event.detail));
    imageEvents.addEventListener("batch", (event) => this.batchProgress(event.detail));
  }

  /** Called on each sign-in: forget the last person's activity, find out whether generation exists. */
  reset() {
    this.activityList.replaceChildren();
    this.rows.clear();
    this.batches.clear();
    this.queue = [];
    this.updateActivity();
    document.getElementById("upload-error").hidden = true;
    for (const form of [this.importForm, this.generateForm]) {
      clearErrors(form);
      form.reset();
    }
    this.loadStyles();
  }

  // --- tabs ---------------------------------------------------------------------------

  setUpTabs() {
    const tabs = [...document.querySelectorAll("#create [role=tab]")];
    const select = (tab, focus) => {
      for (const other of tabs) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        other.tabIndex = selected ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
      }
      if (focus) tab.focus();
    };
    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
      });
    });
  }

  // --- uploads ------------------------------------------------------------------------

  setUpUpload() {
    this.fileInput.addEventListener("change", () => {
      this.uploadFiles([...this.fileInput.files]);
      this.fileInput.value = ""; // choosing the same file again is a new upload
    });
    const zone = this.dropzone;
    const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.uploadFiles([...(event.dataTransfer?.files ?? [])]);
    });
    // A file dropped just beside the zone must not replace the page with the image.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  uploadFiles(files) {
    if (!files.length) return;
    const problem = document.getElementById("upload-error");
    problem.hidden = true;
    const variants = this.options.collect();
    if (variants === null) {
      problem.textContent = "Nothing was uploaded: first fix the extra variant marked below.";
      problem.hidden = false;
      return;
    }
    const accepted = [];
    for (const file of files) {
      const row = this.addRow(file.name, "upload");
      if (!ACCEPTED.has(typeOf(file))) {
        this.rowFailed(row, `Not an image pixelflow takes (${file.type || "unknown type"}): use JPEG, PNG, WebP, GIF, AVIF or HEIC.`);
        continue;
      }
      accepted.push({ file, row });
    }
    announce(`${files.length === 1 ? "One file" : `${files.length} files`} added.`);
    // Several files are one batch: one request for every upload link, and one progress to follow.
    if (accepted.length > 1) return this.uploadBatch(accepted, variants);
    for (const { file, row } of accepted) this.queue.push(() => this.upload(file, variants, row));
    this.drainQueue();
  }

  async uploadBatch(items, variants) {
    const total = items.length;
    const batchRow = this.addBatchRow(total);
    for (const { row } of items) this.rowState(row, "Preparing…");
    let ticket;
    try {
      const request = { files: items.map(({ file }) => ({ filename: file.name, content_type: file.type, size: file.size })) };
      if (variants.length) request.variants = variants;
      ticket = await this.api.createBatch(request);
    } catch (error) {
      if (this.options.showError(error)) announce("One of the extra variants was refused; see the options.");
      for (const { row } of items) this.rowFailed(row, error.message);
      batchRow.remove();
      this.updateActivity();
      return;
    }
    const batch = { id: ticket.batch_id, total, settled: new Set(), row: batchRow };
    batchRow.dataset.batchId = batch.id;
    this.batches.set(batch.id, batch);
    ticket.uploads.forEach((upload, index) => {
      const { file, row } = items[index];
      this.bindRow(row, upload.image_id);
      row.dataset.batchId = batch.id;
      this.rowState(row, "Waiting to upload…");
      this.queue.push(() => this.sendFile(file, upload, row));
    });
    this.drainQueue();
  }

  addBatchRow(total) {
    const row = h("li", { class: "activity-item activity-batch", dataset: { source: "batch", state: "working" } },
      h("div", { class: "activity-main" },
        h("p", { class: "activity-name" }, `Batch of ${total} files`),
        h("progress", { class: "batch-progress", max: total, value: 0, "aria-label": `Batch of ${total} files` }),
        h("p", { class: "activity-status batch-status" }, `0 of ${total} finished`)),
      h("div", { class: "activity-actions" }));
    this.activityList.prepend(row);
    this.updateActivity();
    return row;
  }

  /** Show a batch's progress: what its items' own events say, or a batch.progress message, whichever is further. */
  updateBatch(batch, settledFromServer = 0) {
    const settled = Math.min(batch.total, Math.max(batch.settled.size, settledFromServer));
    batch.row.querySelector("progress").value = settled;
    batch.row.querySelector(".batch-status").textContent = `${settled} of ${batch.total} finished`;
    if (settled === batch.total && batch.row.dataset.state === "working") {
      batch.row.dataset.state = "done";
      announce(`All ${batch.total} files of the batch are finished.`);
      this.updateActivity();
    }
  }

  batchProgress(progress) {
    const batch = this.batches.get(progress.id);
    if (!batch) return;
    this.updateBatch(batch, (progress.counts?.done ?? 0) + (progress.counts?.failed ?? 0));
  }

  drainQueue() {
    while (this.running < PARALLEL_UPLOADS && this.queue.length) {
      const next = this.queue.shift();
      this.running += 1;
      next().finally(() => {
        this.running -= 1;
        this.drainQueue();
      });
    }
  }

  async upload(file, variants, row) {
    this.rowState(row, "Preparing…");
    let ticket;
    try {
      const request = { filename: file.name, content_type: typeOf(file), size: file.size };
      if (variants.length) request.variants = variants;
      ticket = await this.api.createUpload(request);
    } catch (error) {
      if (this.options.showError(error)) announce("One of the extra variants was refused; see the options.");
      this.rowFailed(row, error.message);
      return;
    }
    this.bindRow(row, ticket.image_id);
    await this.sendFile(file, ticket, row);
  }

  /** Post one file to storage with its presigned POST, showing its progress; then follow its processing. */
  async sendFile(file, ticket, row) {
    const progress = row.querySelector("progress");
    progress.hidden = false;
    this.rowState(row, "Uploading… 0%");
    try {
      let shown = -1;
      await postToStorage(ticket.upload, file, (fraction) => {
        const percent = Math.floor(fraction * 100);
        progress.value = percent;
        if (percent !== shown) {
          shown = percent;
          this.rowState(row, `Uploading… ${percent}%`);
        }
      });
    } catch (error) {
      progress.hidden = true;
      this.rowFailed(row, error.message);
      return;
    }
    progress.hidden = true;
    this.rowState(row, "Uploaded, waiting for processing…");
    announce(`${file.name} uploaded. Processing.`);
    this.watcher.watch(ticket.image_id);
  }

  // --- import and generate -----------------------------------------------------------

  async importFromUrl() {
    const form = this.importForm;
    clearErrors(form);
    const url = form.elements.namedItem("url").value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      setFieldError(form, "url", "Enter the full address of an image, starting with http:// or https://.");
    }
    const variants = this.options.collect();
    if (focusFirstInvalid(form) || variants === null) return;
    await whileBusy(form, async () => {
      const request = { url };
      if (variants.length) request.variants = variants;
      let answer;
      try {
        answer = await this.api.importUrl(request);
      } catch (error) {
        this.showCreateError(form, error, "Importing from a URL is not available on this server yet.");
        return;
      }
      form.reset();
      const row = this.addRow(nameFromUrl(url), "import");
      this.bindRow(row, answer.image_id);
      this.rowState(row, `${statusWord(answer.status)}…`);
      announce("Import started.");
      this.watcher.watch(answer.image_id, { immediately: false });
    });
  }

  async generate() {
    const form = this.generateForm;
    clearErrors(form);
    const prompt = form.elements.namedItem("prompt").value.trim();
    if (!prompt) setFieldError(form, "prompt", "Describe the image you want.");
    const variants = this.options.collect();
    if (focusFirstInvalid(form) || variants === null) return;
    const [width, height] = form.elements.namedItem("size").value.split("x").map(Number);
    const request = { prompt, width, height };
    const style = form.elements.namedItem("style").value;
    if (style) request.style = style;
    const negative = form.elements.namedItem("negative_prompt").value.trim();
    if (negative) request.negative_prompt = negative;
    if (variants.length) request.variants = variants;
    await whileBusy(form, async () => {
      let answer;
      try {
        answer = await this.api.generate(request);
      } catch (error) {
        if (error.field === "width" || error.field === "height") error.field = "size";
        this.showCreateError(form, error, "Generating from a prompt is not available on this server yet.");
        return;
      }
      form.elements.namedItem("prompt").value = "";
      const row = this.addRow(prompt, "generation");
      this.bindRow(row, answer.image_id);
      this.rowState(row, "Generating…");
      announce("Generation started.");
      this.watcher.watch(answer.image_id, { immediately: false });
    });
  }

  showCreateError(form, error, missingMessage) {
    if (error.routeMissing) return setFormError(form, missingMessage);
    if (this.options.showError(error)) return setFormError(form, "One of the extra variants was refused; see below.");
    showError(form, error);
  }

  async loadStyles() {
    const form = this.generateForm;
    const select = form.elements.namedItem("style");
    const unavailable = document.getElementById("generate-unavailable");
    let styles;
    let answer;
    try {
      answer = await this.api.styles();
      styles = answer.styles ?? [];
    } catch (error) {
      const missing = error.routeMissing;
      unavailable.hidden = !missing;
      for (const control of form.elements) control.disabled = missing;
      return;
    }
    unavailable.hidden = true;
    for (const control of form.elements) control.disabled = false;
    const chosen = select.value;
    const options = styles.map((style) => h("option", { value: style.name }, style.title || style.name));
    // A provider whose list has no DEFAULT style (OpenAI's vivid/natural, or none) still offers "no style".
    if (!styles.some((style) => style.name === "DEFAULT")) options.unshift(h("option", { value: "" }, "Default"));
    select.replaceChildren(...options);
    // A provider without negative prompts (OpenAI's API) would silently drop the field: hide it.
    const negative = form.elements.namedItem("negative_prompt");
    negative.closest(".field").hidden = answer.negative_prompt === false;
    if (answer.negative_prompt === false) negative.value = "";
    if (chosen && styles.some((style) => style.name === chosen)) select.value = chosen;
  }

  // --- the activity list --------------------------------------------------------------

  addRow(name, source) {
    const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": `Upload of ${name}` });
    const row = h("li", { class: "activity-item", dataset: { source, state: "working" } },
      h("div", { class: "activity-thumb", "aria-hidden": "true" }),
      h("div", { class: "activity-main" },
        h("p", { class: "activity-name", title: name }, name),
        progress,
        h("p", { class: "activity-status" })),
      h("div", { class: "activity-actions" }));
    this.activityList.prepend(row);
    this.updateActivity();
    return row;
  }

  bindRow(row, imageId) {
    row.dataset.imageId = imageId;
    this.rows.set(imageId, row);
  }

  rowState(row, text, status = null) {
    const line = row.querySelector(".activity-status");
    line.replaceChildren(...(status ? [statusBadge(status), " "] : []), text);
  }

  rowFailed(row, message) {
    row.dataset.state = "failed";
    const batch = this.batches.get(row.dataset.batchId);
    if (batch) {
      batch.settled.add(row.dataset.imageId);
      this.updateBatch(batch);
    }
    row.querySelector("progress").hidden = true;
    this.rowState(row, message, "failed");
    announce(`${row.querySelector(".activity-name").textContent} failed: ${message}`);
    this.updateActivity();
  }

  imageChanged(image) {
    const row = this.rows.get(image.id);
    if (!row) return;
    const before = row.dataset.status;
    row.dataset.status = image.status;
    if (image.original_name && row.dataset.source === "import") {
      row.querySelector(".activity-name").textContent = image.original_name;
    }
    const thumbnail = variantOf(image, "thumbnail");
    const slot = row.querySelector(".activity-thumb");
    if (thumbnail && !slot.querySelector("img")) {
      slot.replaceChildren(h("img", { src: thumbnail.url, alt: "", width: 48, height: 48, decoding: "async" }));
    }
    let text;
    if (image.status === "done") {
      text = ["Ready", formatDimensions(image.width, image.height)].filter(Boolean).join(" · ");
    } else if (image.status === "failed") {
      text = image.error?.message ?? "Processing failed.";
    } else if (image.status === "generating") {
      const stage = image.generation?.provider_status;
      text = stage ? `The model is working (${stage.toLowerCase()})…` : "The model is working…";
    } else if (image.status === "awaiting_upload") {
      text = "Waiting for the file…";
    } else {
      text = `${statusWord(image.status)}…`;
    }
    this.rowState(row, text, image.status);
    if (TERMINAL.has(image.status)) {
      row.dataset.state = image.status;
      const batch = this.batches.get(row.dataset.batchId);
      if (batch) {
        batch.settled.add(image.id);
        this.updateBatch(batch);
      }
      const actions = row.querySelector(".activity-actions");
      if (!actions.childElementCount) {
        const name = row.querySelector(".activity-name").textContent;
        actions.append(h("button", {
          type: "button", class: "button button-small", "aria-label": `Open ${name}`,
          onclick: () => this.openImage(image.id),
        }, "Open"));
      }
      this.updateActivity();
    }
    if (before !== image.status) {
      const name = row.querySelector(".activity-name").textContent;
      if (image.status === "done") announce(`${name} is ready.`);
      else if (image.status === "failed") announce(`${name} failed: ${text}`);
      else announce(`${name}: ${statusWord(image.status)}.`);
    }
  }

  imageRemoved(id) {
    const row = this.rows.get(id);
    if (!row) return;
    row.remove();
    this.rows.delete(id);
    this.updateActivity();
  }

  removeFinished() {
    for (const row of this.activityList.querySelectorAll("[data-state=done], [data-state=failed]")) {
      this.rows.delete(row.dataset.imageId);
      row.remove();
    }
    this.updateActivity();
    this.fileInput.focus();
  }

  updateActivity() {
    this.activity.hidden = this.activityList.childElementCount === 0;
    this.clearFinished.hidden = !this.activityList.querySelector("[data-state=done], [data-state=failed]");
  }
}

function nameFromUrl(url) {
  try {
    const parsed = new URL(url);
    return decodeURIComponent(parsed.pathname.split("/").filter(Boolean).pop() ?? "") || parsed.host;
  } catch {
    return url;
  }
}
