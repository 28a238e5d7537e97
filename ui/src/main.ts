// The app controller: which screen is visible, form handling, and rendering of the
// verification state (see flow.ts) from the shell's `flow` events.

import { listen } from "@tauri-apps/api/event";
import { api, asCommandError } from "./api";
import type { AppState, LightReport, SettingsView, UiEvent, UiLanguage, UiMode } from "./bindings";
import { afterConsent, afterContextConfirmed, initialView, progress, reduce, type FlowView } from "./flow";
import { errorText, lang, reasonText, setLang, t, translate, type Key } from "./i18n";
import { LightRun, domPainter } from "./light";
import { PreviewLoop, summarise } from "./preview";

type ScreenId =
  | "first-run" | "sign-in" | "station" | "home" | "attract" | "camera" | "scan" | "context"
  | "consent" | "liveness" | "submitting" | "result" | "settings" | "about" | "exit";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

let state: AppState | null = null;
let view: FlowView = initialView();
let current: ScreenId = "first-run";
let resetTimer: number | undefined;
let resetTick: number | undefined;
let lightRun: LightRun | null = null;
let lightNotice: (() => void) | null = null;
let lightPhase: "idle" | "notice" | "flash" = "idle";
let lightLast: LightReport | null = null;
let lightRuns = 0;
let preview = new PreviewLoop(() => document.querySelector<HTMLCanvasElement>(`#screen-${current} canvas`));

// Exposed for the WebDriver tests and the benchmark (read-only snapshots).
declare global {
  interface Window {
    __realname: {
      screen: () => ScreenId;
      view: () => FlowView;
      previewStats: () => ReturnType<typeof summarise>;
      previewFrames: () => number;
      light: () => { phase: string; report: LightReport | null; runs: number };
    };
  }
}
window.__realname = {
  screen: () => current,
  view: () => view,
  previewStats: () => summarise(preview.stats, performance.now()),
  previewFrames: () => preview.stats.frames,
  light: () => ({ phase: lightPhase, report: lightLast, runs: lightRuns }),
};

const kiosk = () => state?.settings.mode === "kiosk";
const standIn = (spec: string) => /^(dir|file|synthetic|screen)/.test(spec);

function show(id: ScreenId): void {
  current = id;
  document.querySelectorAll<HTMLElement>(".screen").forEach((s) => (s.hidden = s.id !== `screen-${id}`));
  document.body.dataset.screen = id;
  const withPreview = id === "camera" || id === "scan" || id === "liveness";
  if (withPreview) preview.start();
  else preview.stop();
  $("nav").hidden = kiosk() || ["first-run", "scan", "context", "consent", "liveness", "submitting"].includes(id);
  const heading = document.querySelector<HTMLElement>(`#screen-${id} h1`);
  heading?.setAttribute("tabindex", "-1");
  heading?.focus();
}

function applyLanguage(l: UiLanguage): void {
  setLang(l);
  translate(document);
}

function banner(text: string): void {
  const b = $("banner");
  b.textContent = text;
  b.hidden = text === "";
}

function home(): void {
  if (!state) return;
  if (state.first_run) return show("first-run");
  if (kiosk()) {
    if (!state.station_registered || !state.admin_pin_set) return show("station");
    $("attract-stand-in").hidden = !(state.settings.tester_mode && standIn(state.settings.qr_source));
    return show("attract");
  }
  if (!state.account) return show("sign-in");
  $("home-account").textContent = state.account;
  $("home-stand-in").hidden = !(state.settings.tester_mode && standIn(state.settings.qr_source));
  show("home");
}

async function refresh(): Promise<void> {
  state = await api.appState();
  applyLanguage(state.settings.language);
  document.title = `${t("appName")} ${state.version}`;
  $("about-version").textContent = state.version;
  $("about-guidance").textContent = state.face_guidance ? t("about.on") : t("about.off");
}

function fillSettings(s: SettingsView): void {
  $<HTMLInputElement>("set-backend").value = s.backend_url;
  $<HTMLSelectElement>("set-language").value = s.language;
  document.querySelectorAll<HTMLInputElement>("input[name=set-mode]").forEach((r) => (r.checked = r.value === s.mode));
  $<HTMLInputElement>("set-tester").checked = s.tester_mode;
  $<HTMLInputElement>("set-reset").value = String(s.kiosk_reset_secs);
  $<HTMLInputElement>("cam-qr").value = s.qr_source;
  $<HTMLInputElement>("cam-face").value = s.face_source;
  $("cam-stand-in").hidden = !standIn(s.qr_source) && !standIn(s.face_source);
}

function radio(name: string): string {
  return document.querySelector<HTMLInputElement>(`input[name=${name}]:checked`)?.value ?? "personal";
}

async function save(partial: Partial<SettingsView>, errorId: string): Promise<boolean> {
  const base: SettingsView = state?.settings ?? {
    backend_url: "", language: "en", mode: "personal", qr_source: "webcam:0", face_source: "", tester_mode: false, kiosk_reset_secs: 8,
  };
  try {
    state = await api.saveSettings({ ...base, ...partial });
    applyLanguage(state.settings.language);
    $(errorId).textContent = "";
    fillSettings(state.settings);
    return true;
  } catch (e) {
    const err = asCommandError(e);
    $(errorId).textContent = errorText(err.code, err.message);
    return false;
  }
}

// ---- verification rendering ----------------------------------------------------------------

function scanStatusText(v: FlowView): string {
  switch (v.scanStatus) {
    case "found": return t("scan.found");
    case "not_realname": return t("scan.notRealname");
    case "untrusted": return t("scan.untrusted");
    case "claiming": return t("scan.claiming");
    default: return t("scan.looking");
  }
}

function formatTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(lang());
}

function render(): void {
  const v = view;
  // The QR outline belongs to the scan screen only (not over the face during the liveness step).
  preview.outline = v.qr && v.screen === "scan" ? { ...v.qr, at: performance.now() } : null;
  $("scan-status").textContent = scanStatusText(v);
  if (v.camera === "lost") banner(t("camera.lost"));
  else if (v.camera === "reconnected") banner(t("camera.back"));
  if (v.context) {
    $("ctx-account").textContent = v.context.account;
    $("ctx-name").textContent = v.context.name;
    $("ctx-id").textContent = v.context.idNumber;
    $("ctx-time").textContent = formatTime(v.context.pcStartedAt);
    $("ctx-attempts").textContent = String(v.context.attemptsLeft);
    $("ctx-code-row").hidden = !v.context.requiresStationCode;
  }
  if (v.prompt) {
    $("lv-step").textContent = t("liveness.step", { n: v.prompt.index + 1, total: v.prompt.total });
    $("lv-prompt").textContent = v.prompt.text;
  } else {
    $("lv-step").textContent = "";
    $("lv-prompt").textContent = t("liveness.getReady");
  }
  const fb = v.feedback;
  $("lv-feedback").textContent = fb?.text ?? "";
  $("lv-feedback").dataset.feedback = fb?.code ?? "";
  const p = progress(v);
  const ring = $("lv-ring");
  ring.setAttribute("aria-valuenow", String(Math.round(p * 100)));
  const circumference = 2 * Math.PI * 52;
  ($("lv-ring-fg") as unknown as SVGCircleElement).style.strokeDasharray = `${circumference * p} ${circumference}`;
  if (v.result) renderResult(v);
  const wanted = v.screen;
  const screenOfFlow: ScreenId[] = ["scan", "context", "consent", "liveness", "submitting", "result"];
  if (screenOfFlow.includes(current) && current !== wanted) {
    show(wanted);
    if (wanted === "result") onResultShown();
  }
}

function renderResult(v: FlowView): void {
  const r = v.result;
  if (!r) return;
  const titles: Record<string, Key> = { passed: "result.passed", failed: "result.failed", retry: "result.retry", cancelled: "result.cancelled", error: "result.error" };
  $("screen-result").dataset.outcome = r.outcome;
  $("res-icon").textContent = r.outcome === "passed" ? "✓" : r.outcome === "cancelled" ? "–" : "✕";
  $("res-title").textContent = t(titles[r.outcome]);
  let message = r.message;
  if (r.outcome === "passed") message = t("result.passedText");
  else if (r.outcome === "cancelled") message = t("result.cancelledText");
  else if (r.code) message = errorText(r.code, r.message);
  else message = reasonText(r.reason) ?? message;
  $("res-message").textContent = message;
  $("res-attempts").textContent = r.attemptsLeft !== null && r.outcome !== "passed" ? t("result.attemptsLeft", { n: r.attemptsLeft }) : "";
  $("res-retry").hidden = kiosk() || r.outcome === "passed" || (r.attemptsLeft !== null && r.attemptsLeft === 0);
  $("res-done").hidden = kiosk();
}

function onResultShown(): void {
  if (!kiosk() || !state) return;
  // Kiosk: nothing is kept between people; the station resets on its own.
  let left = state.settings.kiosk_reset_secs;
  $("res-reset").textContent = t("result.resetIn", { n: left });
  window.clearInterval(resetTick);
  resetTick = window.setInterval(() => {
    left -= 1;
    $("res-reset").textContent = t("result.resetIn", { n: Math.max(0, left) });
  }, 1000);
  window.clearTimeout(resetTimer);
  resetTimer = window.setTimeout(() => void kioskReset(), state.settings.kiosk_reset_secs * 1000);
}

async function kioskReset(): Promise<void> {
  window.clearInterval(resetTick);
  window.clearTimeout(resetTimer);
  await api.resetSession();
  view = initialView();
  for (const id of ["ctx-account", "ctx-name", "ctx-id", "ctx-time", "ctx-attempts", "res-title", "res-message", "res-attempts", "res-reset"]) $(id).textContent = "";
  $<HTMLInputElement>("ctx-code").value = "";
  delete $("screen-result").dataset.outcome;
  banner("");
  home();
}

async function startVerification(): Promise<void> {
  view = initialView();
  $<HTMLInputElement>("ctx-code").value = "";
  delete $("screen-result").dataset.outcome;
  banner("");
  const tester = !!state?.settings.tester_mode;
  for (const id of ["scan-stand-in", "lv-stand-in"]) $(id).hidden = true;
  if (tester && state) {
    $("scan-stand-in").hidden = !standIn(state.settings.qr_source);
    $("lv-stand-in").hidden = !standIn(state.settings.face_source || state.settings.qr_source);
  }
  show("scan");
  render();
  try {
    await api.startVerification();
  } catch (e) {
    const err = asCommandError(e);
    view = reduce(reduce(view, { event: "failed", code: err.code, message: err.message }), { event: "finished", outcome: "error" });
    render();
  }
}

// ---- the light step ------------------------------------------------------------------------

/// Shows the notice for `ms` (resolves true), or until Stop (false).
function lightNoticeFor(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(() => {
      lightNotice = null;
      resolve(true);
    }, ms);
    lightNotice = () => {
      window.clearTimeout(timer);
      lightNotice = null;
      resolve(false);
    };
  });
}

async function showLight(e: Extract<UiEvent, { event: "light" }>): Promise<void> {
  lightRun?.stop();
  lightNotice?.();
  const overlay = $("light");
  const total = e.fields.reduce((a, f) => a + f.hold_ms, 0);
  $("light-text").textContent = t("light.text", { n: Math.max(1, Math.round(total / 1000)) });
  overlay.dataset.phase = "notice";
  overlay.hidden = false;
  lightPhase = "notice";
  // The face preview is hidden under the field (it would tint the light); the capture goes on.
  $("light-stop").focus();
  let report: LightReport | null = null;
  if (await lightNoticeFor(e.notice_ms)) {
    lightPhase = "flash";
    const run = new LightRun(domPainter(overlay, $("light-field")), e.nonce, e.fields);
    lightRun = run;
    report = await run.run();
    if (lightRun === run) lightRun = null;
  }
  overlay.hidden = true;
  overlay.dataset.phase = "notice";
  lightPhase = "idle";
  lightLast = report;
  lightRuns += 1;
  await api.lightReport(e.nonce, report).catch(() => undefined);
}

/// Ends a light step that is showing; `byPerson`: the Stop button, which ends the verification
/// too (nothing is uploaded).
function stopLight(byPerson: boolean): void {
  const running = lightRun !== null || lightNotice !== null;
  lightNotice?.();
  lightRun?.stop();
  if (running && byPerson) void api.cancelVerification();
}

// ---- wiring --------------------------------------------------------------------------------

function wire(): void {
  $("first-run-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await save(
      {
        backend_url: $<HTMLInputElement>("fr-backend").value,
        language: $<HTMLSelectElement>("fr-language").value as UiLanguage,
        mode: radio("fr-mode") as UiMode,
      },
      "fr-error",
    );
    if (ok) home();
  });
  $<HTMLSelectElement>("fr-language").addEventListener("change", (ev) => applyLanguage((ev.target as HTMLSelectElement).value as UiLanguage));

  $("sign-in-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.signIn($<HTMLInputElement>("si-email").value, $<HTMLInputElement>("si-password").value);
      $<HTMLInputElement>("si-password").value = "";
      $("si-error").textContent = "";
      await refresh();
      home();
    } catch (e) {
      const err = asCommandError(e);
      $("si-error").textContent = errorText(err.code, err.message);
    }
  });

  $("station-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.setAdminPin($<HTMLInputElement>("st-pin").value);
      await api.registerStation($<HTMLInputElement>("st-token").value);
      $<HTMLInputElement>("st-token").value = "";
      $<HTMLInputElement>("st-pin").value = "";
      $("st-error").textContent = "";
      await refresh();
      home();
    } catch (e) {
      const err = asCommandError(e);
      $("st-error").textContent = errorText(err.code, err.message);
    }
  });

  $("home-start").addEventListener("click", () => void startVerification());
  $("attract-start").addEventListener("click", () => void startVerification());
  $("nav-home").addEventListener("click", () => home());
  $("nav-about").addEventListener("click", () => show("about"));
  $("nav-settings").addEventListener("click", () => {
    if (state) fillSettings(state.settings);
    show("settings");
  });
  $("nav-camera").addEventListener("click", async () => {
    if (state) fillSettings(state.settings);
    const list = $("cam-options");
    list.replaceChildren();
    try {
      for (const o of await api.listSources()) {
        const opt = document.createElement("option");
        opt.value = o.spec;
        opt.label = o.stand_in ? `${o.label} — ${t("camera.standIn")}` : o.label;
        list.append(opt);
      }
    } catch {
      /* the list is a convenience; typing a spec still works */
    }
    show("camera");
  });

  $("cam-preview").addEventListener("click", async () => {
    try {
      await api.startPreview($<HTMLInputElement>("cam-qr").value);
      $("cam-error").textContent = "";
    } catch (e) {
      const err = asCommandError(e);
      $("cam-error").textContent = errorText(err.code, err.message);
    }
  });
  $("camera-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await save({ qr_source: $<HTMLInputElement>("cam-qr").value, face_source: $<HTMLInputElement>("cam-face").value }, "cam-error");
    if (ok) {
      await api.stopPreview();
      home();
    }
  });

  $("settings-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await save(
      {
        backend_url: $<HTMLInputElement>("set-backend").value,
        language: $<HTMLSelectElement>("set-language").value as UiLanguage,
        mode: radio("set-mode") as UiMode,
        tester_mode: $<HTMLInputElement>("set-tester").checked,
        kiosk_reset_secs: Number($<HTMLInputElement>("set-reset").value) || 8,
      },
      "set-error",
    );
    $("set-ok").textContent = ok ? t("settings.saved") : "";
  });
  $("set-sign-out").addEventListener("click", async () => {
    await api.signOut().catch(() => undefined);
    await refresh();
    home();
  });

  const cancel = () => void api.cancelVerification();
  $("scan-cancel").addEventListener("click", cancel);
  $("lv-cancel").addEventListener("click", cancel);
  $("ctx-confirm").addEventListener("click", async () => {
    await api.answerContext("confirm");
    view = afterContextConfirmed(view);
    show("consent");
  });
  $("ctx-cancel").addEventListener("click", () => void api.answerContext("cancel"));
  $("consent-accept").addEventListener("click", async () => {
    await api.answerConsent(true);
    if (view.context?.requiresStationCode) await api.answerStationCode($<HTMLInputElement>("ctx-code").value.trim() || null);
    view = afterConsent(view);
    $("lv-prompt").textContent = t("liveness.getReady");
    show("liveness");
  });
  $("consent-decline").addEventListener("click", () => void api.answerConsent(false));

  $("light-stop").addEventListener("click", () => stopLight(true));
  $("res-retry").addEventListener("click", () => void startVerification());
  $("res-done").addEventListener("click", () => {
    view = initialView();
    home();
  });

  $("exit-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.kioskExit($<HTMLInputElement>("ex-pin").value);
    } catch (e) {
      const err = asCommandError(e);
      $("ex-error").textContent = errorText(err.code, err.message);
      $<HTMLInputElement>("ex-pin").value = "";
    }
  });
  $("ex-back").addEventListener("click", () => home());
  // Kiosk: Ctrl+Shift+Q opens the admin exit screen.
  window.addEventListener("keydown", (ev) => {
    if (kiosk() && ev.ctrlKey && ev.shiftKey && ev.key.toLowerCase() === "q") show("exit");
  });
}

async function main(): Promise<void> {
  wire();
  await listen<UiEvent>("flow", (ev) => {
    if (ev.payload.event === "light") void showLight(ev.payload);
    // A verification that ends (cancelled from the PC, an error) takes its light step along.
    if (ev.payload.event === "finished") stopLight(false);
    view = reduce(view, ev.payload);
    render();
  });
  await listen<boolean>("guidance", () => void refresh());
  await listen("exit_requested", () => show("exit"));
  await listen<string>("dropped", async (ev) => {
    // Tester: an image or folder dropped on the window becomes the QR (image) or face (folder) source.
    if (!state?.settings.tester_mode) return;
    const spec = ev.payload;
    const partial = spec.startsWith("dir:") ? { face_source: spec } : { qr_source: spec };
    if (await save(partial, "cam-error")) banner(spec);
  });
  await refresh();
  if (state) {
    fillSettings(state.settings);
    $<HTMLSelectElement>("fr-language").value = state.settings.language;
  }
  home();
  document.body.dataset.ready = "1";
}

preview = new PreviewLoop(() => document.querySelector<HTMLCanvasElement>(`#screen-${current} canvas`));
void main();
