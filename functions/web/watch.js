// Following images until they are finished, and telling every view when one changes.
//
// Views listen on ``imageEvents``: "image" (detail: the image JSON, fresh links included) and
// "image-removed" (detail: the id). One poll per image at most, however many views show it.

import { TERMINAL } from "./elements.js";

export const imageEvents = new EventTarget();

/** Tell every view about a new or changed image. */
export function publishImage(image) {
  imageEvents.dispatchEvent(new CustomEvent("image", { detail: image }));
}

export function publishRemoved(id) {
  imageEvents.dispatchEvent(new CustomEvent("image-removed", { detail: id }));
}

const FIRST_DELAY_MS = 1000;
const BACKOFF = 1.25;
const MAX_DELAY_MS = 5000;
const GIVE_UP_AFTER_MS = 15 * 60 * 1000; // far beyond any generation's deadline
const MAX_ERRORS_IN_A_ROW = 8;

export class ImageWatcher {
  constructor(api) {
    this.api = api;
    this.watching = new Map(); // id -> {stop}
  }

  /** Poll GET /images/{id} every ~1 s, backing off, until it is done or failed. Idempotent per id. */
  watch(id, { immediately = true } = {}) {
    if (this.watching.has(id)) return;
    const state = { stopped: false, timer: null };
    this.watching.set(id, state);
    const started = Date.now();
    let delay = FIRST_DELAY_MS;
    let errors = 0;

    const poll = async () => {
      if (state.stopped) return;
      try {
        const image = await this.api.image(id);
        if (state.stopped) return;
        errors = 0;
        publishImage(image);
        if (TERMINAL.has(image.status)) return this.stop(id);
      } catch (error) {
        if (state.stopped) return;
        if (error.status === 404) {
          publishRemoved(id);
          return this.stop(id);
        }
        if (error.status === 401 || ++errors >= MAX_ERRORS_IN_A_ROW) return this.stop(id);
      }
      if (Date.now() - started > GIVE_UP_AFTER_MS) return this.stop(id);
      state.timer = setTimeout(poll, delay);
      delay = Math.min(delay * BACKOFF, MAX_DELAY_MS);
    };
    state.timer = setTimeout(poll, immediately ? 0 : delay);
  }

  stop(id) {
    const state = this.watching.get(id);
    if (!state) return;
    state.stopped = true;
    clearTimeout(state.timer);
    this.watching.delete(id);
  }

  stopAll() {
    for (const id of [...this.watching.keys()]) this.stop(id);
  }
}
