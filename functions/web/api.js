// The pixelflow API as the page uses it: JSON in and out, the bearer token, and refreshes.

import { clearSession, loadSession, saveSession } from "./session.js";

/** An answer that is not a success, carrying the API's error body: code, message, field. */
export class ApiError extends Error {
  constructor(status, code, message, { field = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }

  /** True when the route is not there (yet): API Gateway and chalice answer 403 or 404 without our body. */
  get routeMissing() {
    return (this.status === 404 || this.status === 403) && this.code.startsWith("http_");
  }
}

const FALLBACK_MESSAGES = {
  0: "pixelflow cannot be reached. Check the connection and try again.",
  401: "Please sign in again.",
  403: "This is not available.",
  404: "Not found.",
  413: "That is too large.",
  429: "Too many attempts. Please wait a little and try again.",
  500: "Something went wrong on pixelflow's side. Please try again.",
  502: "pixelflow is not answering right now. Please try again.",
  503: "pixelflow is not available right now. Please try again shortly.",
};

/** A URL of this API; relative to the page, so the app also works under a stage prefix (/api/). */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI).href;
}

export class Api {
  /** ``onSessionEnded(message)`` is called when the session is gone and the person must sign in again. */
  constructor({ onSessionEnded } = {}) {
    this.session = loadSession();
    this.onSessionEnded = onSessionEnded ?? (() => {});
    this.refreshing = null;
  }

  get signedIn() {
    return this.session !== null;
  }

  get email() {
    return this.session?.email ?? "";
  }

  // --- accounts ----------------------------------------------------------------------

  register(email, password) {
    return this.call("POST", "auth/register", { body: { email, password }, auth: false });
  }

  async signIn(email, password) {
    const tokens = await this.call("POST", "auth/login", { body: { email, password }, auth: false });
    this.session = saveSession(tokens, email);
    return this.session;
  }

  /** Revoke this session on the server (best effort) and forget it here, whatever the answer. */
  async signOut() {
    const session = this.session;
    try {
      if (session) {
        await this.call("POST", "auth/logout", { body: { refresh_token: session.refresh_token } });
      }
    } catch {
      // The tokens are forgotten below either way; an unreachable server cannot keep anyone signed in here.
    } finally {
      this.forget();
    }
  }

  me() {
    return this.call("GET", "auth/me");
  }

  // --- images ------------------------------------------------------------------------

  createUpload(request) {
    return this.call("POST", "uploads", { body: request });
  }

  image(id) {
    return this.call("GET", `images/${encodeURIComponent(id)}`);
  }

  images({ limit = 24, cursor = null } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.call("GET", `images?${query}`);
  }

  latestImage() {
    return this.call("GET", "images/latest");
  }

  deleteImage(id) {
    return this.call("DELETE", `images/${encodeURIComponent(id)}`);
  }

  importUrl(request) {
    return this.call("POST", "imports", { body: request });
  }

  generate(request) {
    return this.call("POST", "generations", { body: request });
  }

  styles() {
    return this.call("GET", "generations/styles");
  }

  createBatch(request) {
    return this.call("POST", "batches", { body: request });
  }

  liveTicket() {
    return this.call("POST", "live/tickets");
  }

  // --- transport ---------------------------------------------------------------------

  /**
   * One API call. With ``auth``, sends the access token; a 401 is answered by one refresh
   * (shared by every call waiting on it) and one retry. Resolves to the JSON body (null for 204).
   */
  async call(method, path, { body = undefined, auth = true } = {}) {
    if (!auth) return parse(await send(method, path, body, null));
    let token = await this.accessToken();
    let answer = await send(method, path, body, token);
    if (answer.status === 401) {
      token = await this.tokenAfterRejection(token);
      answer = await send(method, path, body, token);
      if (answer.status === 401) this.endSession();
    }
    return parse(answer);
  }

  async accessToken() {
    if (!this.session) throw this.endSession();
    if (Date.now() >= this.session.expires_at) await this.refresh();
    return this.session.access_token;
  }

  async tokenAfterRejection(rejected) {
    // Another call may have refreshed while this one was out: then its new token is the answer.
    if (this.session && this.session.access_token !== rejected) return this.session.access_token;
    await this.refresh();
    return this.session.access_token;
  }

  /** Exchange the refresh token for a new pair. One at a time: concurrent callers share the same promise. */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.exchangeRefreshToken().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async exchangeRefreshToken() {
    const session = this.session;
    if (!session) throw this.endSession();
    const answer = await send("POST", "auth/refresh", { refresh_token: session.refresh_token }, null);
    if (answer.status === 0 || answer.status >= 500) {
      // The server is unreachable, not the session invalid: keep it and let the caller see the error.
      return parse(answer);
    }
    if (!answer.ok) throw this.endSession();
    this.session = saveSession(await answer.json(), session.email);
    return this.session;
  }

  /** Forget the session, tell the page, and return the error the interrupted call fails with. */
  endSession() {
    const wasSignedIn = this.session !== null;
    this.forget();
    if (wasSignedIn) this.onSessionEnded("Your session has ended. Please sign in again.");
    return new ApiError(401, "session_ended", "Your session has ended. Please sign in again.");
  }

  forget() {
    this.session = null;
    clearSession();
  }
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", // the API takes bearer tokens only; no cookies either way
      cache: "no-store", // answers carry short-lived links; never reuse one
    });
  } catch {
    return { ok: false, status: 0, headers: new Headers(), json: async () => null };
  }
}

async function parse(answer) {
  if (answer.ok) return answer.status === 204 ? null : answer.json();
  let error = null;
  try {
    error = (await answer.json())?.error ?? null;
  } catch {
    error = null; // not our JSON: a gateway's or a proxy's answer
  }
  const retryAfter = Number(answer.headers.get("Retry-After")) || null;
  if (error && typeof error.message === "string") {
    throw new ApiError(answer.status, error.code || "error", error.message, { field: error.field, retryAfter });
  }
  const fallback = FALLBACK_MESSAGES[answer.status] ?? `The request failed (HTTP ${answer.status}).`;
  throw new ApiError(answer.status, `http_${answer.status}`, fallback, { retryAfter });
}
