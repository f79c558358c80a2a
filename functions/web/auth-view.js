// Signing in and creating an account.

import { clearErrors, focusFirstInvalid, setFieldError, setFormError, showError, whileBusy } from "./forms.js";

export class AuthView {
  /** ``onSignedIn()`` runs once the api holds a session. */
  constructor(api, { onSignedIn }) {
    this.api = api;
    this.onSignedIn = onSignedIn;
    this.section = document.getElementById("auth");
    this.notice = document.getElementById("auth-notice");
    this.signInForm = document.getElementById("sign-in-form");
    this.registerForm = document.getElementById("register-form");

    this.signInForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.signIn();
    });
    this.registerForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.register();
    });
    for (const button of this.section.querySelectorAll("[data-show]")) {
      button.addEventListener("click", () => this.showForm(button.dataset.show, { focus: true }));
    }
  }

  /** Show the signed-out page; ``message`` explains why, when the session ended by itself. */
  show(message = "") {
    this.notice.textContent = message;
    this.notice.hidden = !message;
    for (const form of [this.signInForm, this.registerForm]) {
      clearErrors(form);
      form.elements.namedItem("password").value = "";
    }
    this.registerForm.elements.namedItem("confirm").value = "";
    this.showForm("sign-in");
  }

  showForm(which, { focus = false } = {}) {
    const registering = which === "register";
    this.registerForm.hidden = !registering;
    this.signInForm.hidden = registering;
    const form = registering ? this.registerForm : this.signInForm;
    if (focus) form.querySelector("input").focus();
  }

  async signIn() {
    const form = this.signInForm;
    clearErrors(form);
    const email = form.elements.namedItem("email").value.trim();
    const password = form.elements.namedItem("password").value;
    if (!email) setFieldError(form, "email", "Enter your email address.");
    if (!password) setFieldError(form, "password", "Enter your password.");
    if (focusFirstInvalid(form)) return;
    await whileBusy(form, async () => {
      try {
        await this.api.signIn(email, password);
      } catch (error) {
        form.elements.namedItem("password").value = "";
        if (error.code === "too_many_attempts" && error.retryAfter) {
          setFormError(form, `${error.message} Try again in ${waitWords(error.retryAfter)}.`);
        } else {
          showError(form, error);
        }
        return;
      }
      this.notice.hidden = true;
      form.elements.namedItem("password").value = "";
      this.onSignedIn();
    });
  }

  async register() {
    const form = this.registerForm;
    clearErrors(form);
    const email = form.elements.namedItem("email").value.trim();
    const password = form.elements.namedItem("password").value;
    const confirm = form.elements.namedItem("confirm").value;
    if (!email) setFieldError(form, "email", "Enter your email address.");
    if (!password) setFieldError(form, "password", "Choose a password.");
    if (password && confirm !== password) setFieldError(form, "confirm", "The passwords do not match.");
    if (focusFirstInvalid(form)) return;
    await whileBusy(form, async () => {
      try {
        await this.api.register(email, password);
        await this.api.signIn(email, password);
      } catch (error) {
        showError(form, error);
        return;
      }
      for (const name of ["password", "confirm"]) form.elements.namedItem(name).value = "";
      this.onSignedIn();
    });
  }
}

function waitWords(seconds) {
  if (seconds < 90) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
