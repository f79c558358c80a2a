// Following images until they are finished, and telling every view when one changes.
//
// Views listen on ``imageEvents``: "image" (detail: the image JSON, fresh links included),
// "image-removed" (detail: the id) and "batch" (detail: the batch progress of a batch.progress
// message). While the live WebSocket is up, changes arrive as messages and nothing is polled;
// while it is down, each image under way is polled (one poll per image at most).

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
const SUBSCRIBE_CHUNK = 100; // the server's limit of ids per subscribe

export class ImageWatcher {
  constructor(api) {
    this.api = api;
    this.watching = new Map(); // id -> {stopped, timer, polling}
    this.versions = new Map(); // id -> the newest live version applied
    this.live = new LiveSocket(api, {
      up: () => this.socketUp(),
      down: () => this.socketDown(),
      message: (message) => this.liveMessage(message),
    });
  }

  /** After sign-in: open the live socket (the page polls until it is up, and whenever it is down). */
  start() {
    this.live.start();
  }

  /** Follow ``id`` until it is done or failed: through the socket when it is up, else by polling. Idempotent. */
  watch(id, { immediately = true } = {}) {
    if (this.watching.has(id)) return;
    const state = { stopped: false, timer: null, polling: false, started: Date.now() };
    this.watching.set(id, state);
    if (this.live.up) this.live.send({ action: "subscribe", image_ids: [id] });
    else this.poll(id, state, immediately);
  }

  /** Poll GET /images/{id} every ~1 s, backing off, until it is done or failed (or the socket is back). */
  poll(id, state, immediately) {
    state.polling = true;
    let delay = FIRST_DELAY_MS;
    let errors = 0;
    const poll = async () => {
      if (state.stopped || !state.polling) return;
      try {
        const image = await this.api.image(id);
        if (state.stopped || !state.polling) return;
        errors = 0;
        publishImage(image);
        if (TERMINAL.has(image.status)) return this.stop(id);
      } catch (error) {
        if (state.stopped || !state.polling) return;
        if (error.status === 404) {
          publishRemoved(id);
          return this.stop(id);
        }
        if (error.status === 401 || ++errors >= MAX_ERRORS_IN_A_ROW) return this.stop(id);
      }
      if (Date.now() - state.started > GIVE_UP_AFTER_MS) return this.stop(id);
      state.timer = setTimeout(poll, delay);
      delay = Math.min(delay * BACKOFF, MAX_DELAY_MS);
    };
    state.timer = setTimeout(poll, immediately ? 0 : delay);
  }

  socketUp() {
    document.body.dataset.live = "up";
    const ids = [];
    for (const [id, state] of this.watching) {
      state.polling = false;
      clearTimeout(state.timer);
      ids.push(id);
    }
    // What changed while the socket was down comes back at once as the current state.
    for (let start = 0; start < ids.length; start += SUBSCRIBE_CHUNK) {
      this.live.send({ action: "subscribe", image_ids: ids.slice(start, start + SUBSCRIBE_CHUNK) });
    }
  }

  socketDown() {
    document.body.dataset.live = "down";
    for (const [id, state] of this.watching) if (!state.polling) this.poll(id, state, true);
  }

  liveMessage(message) {
    if (message.type === "batch.progress") {
      imageEvents.dispatchEvent(new CustomEvent("batch", { detail: message.batch }));
      return;
    }
    if (message.type === "subscribed") {
      for (const id of message.not_found ?? []) {
        if (!this.watching.has(id)) continue;
        publishRemoved(id);
        this.stop(id);
      }
      return;
    }
    if (!message.type?.startsWith("image.") || !message.image) return;
    const image = message.image;
    // Messages may overtake each other: only a newer state than the one shown is applied.
    if ((this.versions.get(image.id) ?? -1) >= message.version) return;
    this.versions.set(image.id, message.version);
    publishImage(image);
    if (TERMINAL.has(image.status)) this.stop(image.id);
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
    this.versions.clear();
    this.live.stop();
  }
}

const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const KEEPALIVE_MS = 5 * 60 * 1000; // API Gateway closes a connection idle for 10 minutes

/** The live-updates WebSocket: a fresh single-use ticket for every connection, reconnecting with backoff. */
class LiveSocket {
  constructor(api, handlers) {
    this.api = api;
    this.handlers = handlers;
    this.socket = null;
    this.up = false;
    this.wanted = false;
    this.attempts = 0;
    this.timer = null;
    this.keepalive = null;
  }

  start() {
    if (this.wanted) return;
    this.wanted = true;
    this.attempts = 0;
    this.connect();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    this.goneDown(false);
    if (socket) socket.close(1000);
  }

  send(message) {
    if (this.up && this.socket) this.socket.send(JSON.stringify(message));
  }

  async connect() {
    if (!this.wanted || this.socket) return;
    let ticket;
    try {
      ticket = await this.api.liveTicket();
    } catch (error) {
      // Not offered here (503 live_unavailable, or an older server): keep polling, do not ask again.
      if (error.code === "live_unavailable" || error.routeMissing || error.status === 401) return;
      return this.retry();
    }
    if (!this.wanted || this.socket) return;
    let socket;
    try {
      socket = new WebSocket(ticket.url);
    } catch {
      return this.retry();
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      this.attempts = 0;
      this.up = true;
      this.keepalive = setInterval(() => this.send({ action: "ping" }), KEEPALIVE_MS);
      this.handlers.up();
    });
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handlers.message(message);
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.goneDown(true);
      this.retry();
    });
  }

  goneDown(tell) {
    clearInterval(this.keepalive);
    const wasUp = this.up;
    this.up = false;
    if (wasUp && tell) this.handlers.down();
  }

  retry() {
    if (!this.wanted) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.attempts);
    this.attempts += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }
}
