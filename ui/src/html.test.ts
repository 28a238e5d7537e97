// Static checks of index.html: every screen the app needs exists, every form control has a
// label, every i18n key used exists, and the two context answers are equally prominent.
import html from "../index.html?raw";
import { describe, expect, it } from "vitest";
import { dictionaries } from "./i18n";

document.documentElement.innerHTML = html.replace(/^<!doctype html>/i, "");

describe("index.html", () => {
  it("has every screen", () => {
    for (const id of ["first-run", "sign-in", "station", "home", "attract", "camera", "scan", "context", "consent", "liveness", "submitting", "result", "settings", "about", "exit"]) {
      expect(document.getElementById(`screen-${id}`), id).not.toBeNull();
    }
  });

  it("labels every input and select", () => {
    document.querySelectorAll("input, select").forEach((el) => {
      const id = el.getAttribute("id");
      const labelled = (id && document.querySelector(`label[for="${id}"]`)) || el.closest("label");
      expect(labelled, `control ${id ?? el.outerHTML}`).toBeTruthy();
    });
  });

  it("uses only known i18n keys", () => {
    document.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => {
      expect(Object.keys(dictionaries.en), el.dataset.i18n).toContain(el.dataset.i18n);
    });
  });

  it("gives confirm and 'I did not start this' the same weight", () => {
    const confirm = document.getElementById("ctx-confirm");
    const cancel = document.getElementById("ctx-cancel");
    expect(confirm?.parentElement).toBe(cancel?.parentElement);
    expect(confirm?.className.replace("confirm", "")).toBe(cancel?.className.replace("cancel", ""));
  });
});
