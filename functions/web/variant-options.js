// The extra variants a person asks for, on top of the thumbnail and the full-size WebP.

import { h } from "./elements.js";

const FITS = [["inside", "Inside"], ["cover", "Cover"], ["contain", "Contain"], ["fill", "Fill"]];
const FORMATS = [["webp", "WebP"], ["jpeg", "JPEG"], ["png", "PNG"], ["avif", "AVIF"]];
const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const RESERVED = new Set(["thumbnail", "webp", "original"]);
const MAX_VARIANTS = 10;
const STARTERS = [
  { name: "large", width: 1600, height: "", fit: "inside", format: "jpeg", quality: 85 },
  { name: "card", width: 600, height: 400, fit: "cover", format: "webp", quality: 80 },
  { name: "square", width: 512, height: 512, fit: "cover", format: "png", quality: 80 },
];

export class VariantOptions {
  constructor() {
    this.list = document.getElementById("variant-list");
    this.addButton = document.getElementById("add-variant");
    this.count = document.getElementById("variant-count");
    this.details = document.getElementById("variant-options");
    this.serial = 0;
    this.addButton.addEventListener("click", () => this.add());
    this.update();
  }

  rows() {
    return [...this.list.children];
  }

  /** Add a row prefilled with a sensible starting point, and focus its name. */
  add(values = null) {
    if (this.rows().length >= MAX_VARIANTS) return;
    const taken = new Set(this.rows().map((row) => row.querySelector("[name=name]").value));
    const starter = values ?? STARTERS.find((item) => !taken.has(item.name)) ?? {
      ...STARTERS[0], name: `variant-${this.rows().length + 1}`,
    };
    const row = this.row(starter);
    this.list.append(row);
    this.details.open = true;
    this.update();
    row.querySelector("input").focus();
    return row;
  }

  row(values) {
    const id = `variant-${++this.serial}`;
    const field = (name, label, control) => h("div", { class: `field field-${name}` },
      h("label", { for: `${id}-${name}` }, label),
      control,
      h("p", { class: "field-error", id: `${id}-${name}-error`, hidden: true }));
    const input = (name, props) => h("input", {
      id: `${id}-${name}`, name, "aria-describedby": `${id}-${name}-error`, ...props,
    });
    const select = (name, options, value) => h("select", {
      id: `${id}-${name}`, name, "aria-describedby": `${id}-${name}-error`,
    }, options.map(([optionValue, label]) => h("option", { value: optionValue, selected: optionValue === value }, label)));

    const remove = h("button", { type: "button", class: "icon-button remove", "aria-label": "Remove this variant" },
      h("svg:svg", { viewBox: "0 0 24 24", width: 18, height: 18, "aria-hidden": "true" },
        h("svg:path", { d: "M6 6l12 12M18 6 6 18", stroke: "currentColor", "stroke-width": 1.8, "stroke-linecap": "round" })));
    const row = h("li", { class: "variant-row", dataset: { variantRow: id } },
      field("name", "Name", input("name", { type: "text", value: values.name, autocomplete: "off", spellcheck: "false", maxlength: 32 })),
      field("width", "Width", input("width", { type: "number", min: 1, max: 8192, inputmode: "numeric", value: values.width, placeholder: "auto" })),
      field("height", "Height", input("height", { type: "number", min: 1, max: 8192, inputmode: "numeric", value: values.height, placeholder: "auto" })),
      field("quality", "Quality", input("quality", { type: "number", min: 1, max: 100, inputmode: "numeric", value: values.quality })),
      field("fit", "Fit", select("fit", FITS, values.fit)),
      field("format", "Format", select("format", FORMATS, values.format)),
      h("div", { class: "remove-cell" }, remove));
    remove.addEventListener("click", () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      this.update();
      (next?.querySelector("input") ?? this.addButton).focus();
    });
    return row;
  }

  update() {
    const count = this.rows().length;
    this.count.textContent = count ? `(${count})` : "";
    this.addButton.disabled = count >= MAX_VARIANTS;
  }

  clearErrors() {
    for (const slot of this.list.querySelectorAll(".field-error")) {
      slot.hidden = true;
      slot.textContent = "";
    }
    for (const control of this.list.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  }

  /** The variants to send, or null after marking what is wrong (and focusing it). */
  collect() {
    this.clearErrors();
    const variants = [];
    const names = new Set();
    this.rows().forEach((row, index) => {
      const value = (name) => row.querySelector(`[name=${name}]`).value.trim();
      const variant = { name: value("name"), fit: value("fit"), format: value("format") };
      if (!NAME.test(variant.name)) {
        this.mark(index, "name", "Use lower-case letters, digits, - and _ (up to 32), starting with a letter or digit.");
      } else if (RESERVED.has(variant.name)) {
        this.mark(index, "name", `“${variant.name}” is always made; choose another name.`);
      } else if (names.has(variant.name)) {
        this.mark(index, "name", "Each variant needs its own name.");
      }
      names.add(variant.name);
      for (const [name, low, high] of [["width", 1, 8192], ["height", 1, 8192], ["quality", 1, 100]]) {
        const text = value(name);
        if (text === "") continue;
        const number = Number(text);
        if (!Number.isInteger(number) || number < low || number > high) {
          this.mark(index, name, `A whole number from ${low} to ${high}.`);
        } else {
          variant[name] = number;
        }
      }
      if (!value("width") && !value("height")) this.mark(index, "width", "Give a width, a height or both.");
      variants.push(variant);
    });
    const invalid = this.list.querySelector("[aria-invalid=true]");
    if (invalid) {
      this.details.open = true;
      invalid.focus();
      return null;
    }
    return variants;
  }

  /** Show an API error whose field is ``variants[i].x``; true when it was one of ours. */
  showError(error) {
    const match = /^variants(?:\[(\d+)\](?:\.(\w+))?)?/.exec(error.field ?? "");
    if (!match) return false;
    const index = Number(match[1] ?? 0);
    if (!this.rows()[index]) return false;
    this.mark(index, match[2] && this.rows()[index].querySelector(`[name=${match[2]}]`) ? match[2] : "name", error.message);
    this.details.open = true;
    this.list.querySelector("[aria-invalid=true]")?.focus();
    return true;
  }

  mark(index, name, message) {
    const row = this.rows()[index];
    const control = row.querySelector(`[name=${name}]`);
    const slot = document.getElementById(control.getAttribute("aria-describedby"));
    if (!slot.hidden) return; // the first problem of a field is enough
    slot.textContent = message;
    slot.hidden = false;
    control.setAttribute("aria-invalid", "true");
  }
}
