// pixelflow's page: wires the views to one Api and one ImageWatcher, and switches between
// the signed-out and the signed-in page.

import { Api } from "./api.js";
import { AuthView } from "./auth-view.js";
import { CreateView } from "./create-view.js";
import { DetailView } from "./detail-view.js";
import { announce } from "./elements.js";
import { GalleryView } from "./gallery-view.js";
import { ImageWatcher } from "./watch.js";

const api = new Api({ onSessionEnded: (message) => showSignedOut(message) });
const watcher = new ImageWatcher(api);
const detail = new DetailView(api, watcher);
const openImage = (id) => detail.open(id);
const auth = new AuthView(api, { onSignedIn: () => showSignedIn({ focus: true }) });
const create = new CreateView(api, watcher, { openImage });
const gallery = new GalleryView(api, watcher, { openImage });

const views = {
  loading: document.getElementById("loading"),
  auth: document.getElementById("auth"),
  workspace: document.getElementById("workspace"),
};
const account = document.getElementById("account");

function switchTo(name) {
  document.body.dataset.view = name;
  for (const [key, element] of Object.entries(views)) element.hidden = key !== name;
  account.hidden = name !== "workspace";
}

function showSignedIn({ focus = false } = {}) {
  document.getElementById("account-email").textContent = api.email;
  switchTo("workspace");
  create.reset();
  gallery.reset();
  watcher.start();
  if (focus) {
    document.getElementById("main").focus();
    announce(`Signed in as ${api.email}.`);
  }
}

function showSignedOut(message = "") {
  watcher.stopAll();
  detail.close();
  switchTo("auth");
  auth.show(message);
  if (message) announce(message);
}

const signOutButton = document.getElementById("sign-out");
signOutButton.addEventListener("click", async () => {
  signOutButton.disabled = true;
  await api.signOut();
  signOutButton.disabled = false;
  showSignedOut();
  announce("Signed out.");
  document.getElementById("sign-in-email").focus();
});

// A stored session is used at once: every view asks for what it shows, in parallel. If the access
// token has expired they all wait for one shared refresh; if the session is gone, the sign-in form
// replaces the page (Api calls onSessionEnded).
if (api.signedIn) {
  showSignedIn();
  api.me().then(({ user }) => {
    document.getElementById("account-email").textContent = user.email;
  }, () => {});
} else {
  showSignedOut();
}
