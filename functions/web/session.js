// The signed-in session: the token pair and who it belongs to.
//
// Kept in sessionStorage, not localStorage: it survives a reload but belongs to one tab.
// Refresh tokens rotate on every use and presenting a spent one revokes the whole session,
// so two tabs sharing one pair would sign each other out; a per-tab session never races.
// It also ends when the tab closes, which shortens the life of a token that leaks.
// (Either storage is readable by script on the page: the page's Content-Security-Policy,
// which allows no inline or foreign script, is what keeps other script out.)

const KEY = "pixelflow.session";

/** The stored session, or null. */
export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    return session && session.access_token && session.refresh_token ? session : null;
  } catch {
    return null;
  }
}

/** Store a token pair from /auth/login or /auth/refresh, with the email it belongs to. */
export function saveSession(tokens, email) {
  const session = {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    // A little early, so a token never expires between the check and the request.
    expires_at: Date.now() + Math.max(0, (tokens.expires_in ?? 0) - 20) * 1000,
    email,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
