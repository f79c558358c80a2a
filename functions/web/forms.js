// Showing errors where they belong: next to the field the API named, or at the top of the form.
//
// Markup: a control named ``email`` in form ``#sign-in-form`` has its message in
// ``#sign-in-email-error`` (listed in its aria-describedby); the form-level message sits in
// the form's ``[data-form-error]`` (role=alert).

function errorSlot(form, name) {
  const prefix = form.id.replace(/-form$/, "");
  return document.getElementById(`${prefix}-${name}-error`);
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field-error, [data-form-error]")) {
    slot.textContent = "";
    slot.hidden = true;
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

/** Put ``message`` next to the control named ``name``; false when the form has no such control. */
export function setFieldError(form, name, message) {
  const control = form.elements.namedItem(name);
  const slot = errorSlot(form, name);
  if (!control || !slot) return false;
  slot.textContent = message;
  slot.hidden = false;
  control.setAttribute("aria-invalid", "true");
  return true;
}

export function setFormError(form, message) {
  const slot = form.querySelector("[data-form-error]");
  slot.textContent = message;
  slot.hidden = false;
}

/** Show an API error on its field when the form has it, else at form level; focus what needs fixing. */
export function showError(form, error) {
  const field = error.field ? error.field.split(/[.[]/)[0] : null;
  if (field && setFieldError(form, field, error.message)) {
    form.elements.namedItem(field).focus();
    return;
  }
  setFormError(form, error.message);
}

/** Disable a form's submit button while ``work`` runs, so a double click sends one request. */
export async function whileBusy(form, work) {
  const button = form.querySelector("[type=submit]");
  if (button) {
    button.disabled = true;
    button.dataset.busy = "true";
  }
  try {
    return await work();
  } finally {
    if (button) {
      button.disabled = false;
      delete button.dataset.busy;
    }
  }
}

/** Focus the first control marked invalid, if any; true when there was one. */
export function focusFirstInvalid(form) {
  const first = form.querySelector("[aria-invalid=true]");
  first?.focus();
  return Boolean(first);
}
