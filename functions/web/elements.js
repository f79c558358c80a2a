// Building DOM nodes and wording values for people. Text always goes in as text, never as HTML.

import { apiUrl } from "./api.js";

/** ``h("a", {href, class: "x", onclick}, "text", child)``: an element with attributes, listeners and children. */
export function h(tag, props = {}, ...children) {
  const node = tag.includes(":")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.split(":")[1])
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

const live = () => document.getElementById("announcer");

/** Say something to screen readers through the page's polite live region. */
export function announce(message) {
  const region = live();
  if (!region) return;
  const line = h("p", { text: message });
  region.append(line);
  // Keep the region short; announced lines are not needed afterwards.
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

const STATUS_WORDS = {
  awaiting_upload: "Waiting for upload",
  generating: "Generating",
  queued: "Queued",
  processing: "Processing",
  done: "Done",
  failed: "Failed",
};

/**
 * The image states that are final, as the API's own document lists them (``x-terminal`` of
 * Image.status; the states are declared once, in functions/store.py). Read once, before the page starts.
 */
export const TERMINAL = new Set(await terminalStates());

async function terminalStates() {
  try {
    const answer = await fetch(apiUrl("openapi.json"), { credentials: "omit" });
    return (await answer.json()).components.schemas.Image.properties.status["x-terminal"];
  } catch (error) {
    console.error("Cannot read the image states from openapi.json:", error);
    return [];
  }
}

export function statusWord(status) {
  return STATUS_WORDS[status] ?? status;
}

/** A small coloured badge naming an image's status. */
export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}`, dataset: { status } }, statusWord(status));
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDimensions(width, height) {
  return width && height ? `${width} × ${height}` : "";
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

/** ``<time>`` for a date, readable and machine-readable. */
export function timeElement(iso) {
  return h("time", { datetime: iso }, formatDate(iso));
}

/** The variant of an image with that name, or undefined. */
export function variantOf(image, name) {
  return (image?.variants ?? []).find((variant) => variant.name === name);
}

/** ``src``/``srcset``/``sizes`` of an image's signed /img renditions (the API's ``responsive``), or null. */
export function responsiveSource(image, sizes) {
  const found = image?.responsive;
  if (!found) return null;
  // "/img/…" paths are the API's: under a stage prefix the page's <base> names it.
  const resolve = (url) => (url.startsWith("/img/") ? new URL(`.${url}`, document.baseURI).href : url);
  const srcset = found.srcset.split(", ").map((entry) => {
    const [url, width] = entry.split(" ");
    return `${resolve(url)} ${width}`;
  }).join(", ");
  return { src: resolve(found.src), srcset, sizes: sizes ?? found.sizes };
}

/** What to call an image: the prompt of a generation, else its file name. */
export function imageTitle(image) {
  return image.generation?.prompt || image.original_name || "Untitled image";
}

/** "Processing…" while under way, "Failed" once finished. */
export function statusPhrase(status) {
  return TERMINAL.has(status) ? statusWord(status) : `${statusWord(status)}…`;
}

/** ``photo.jpg`` -> ``photo``, for naming downloaded variants like the API does. */
export function stem(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/** The image's tiny preview (a data URI made at ingest) under the picture until it has loaded. */
export function showPlaceholder(picture, image) {
  const uri = image.placeholder?.data_uri;
  if (!uri || !uri.startsWith("data:image/png;base64,")) return;
  // Through the CSSOM: the page's CSP refuses style attributes, not style properties set by script.
  picture.style.backgroundImage = `url("${uri}")`;
  picture.classList.add("has-placeholder");
  const clear = () => { picture.style.backgroundImage = ""; picture.classList.remove("has-placeholder"); };
  if (picture.complete && picture.naturalWidth) clear();
  else picture.addEventListener("load", clear, { once: true });
}
