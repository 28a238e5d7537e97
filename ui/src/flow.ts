// The verification screens as a pure state machine over the `flow` events from the Rust
// shell: what to show is a function of the events so far (unit-tested without a web view).

import type { UiEvent } from "./bindings";

export type Screen = "scan" | "context" | "consent" | "liveness" | "submitting" | "result";

export interface Context {
  account: string;
  name: string;
  idNumber: string;
  pcStartedAt: string;
  requiresStationCode: boolean;
  attemptsLeft: number;
}

export interface FlowView {
  screen: Screen;
  scanStatus: "looking" | "found" | "not_realname" | "untrusted" | "claiming";
  frames: number;
  qr: { corners: [number, number][]; width: number; height: number; realname: boolean } | null;
  context: Context | null;
  prompt: { index: number; total: number; action: string; text: string } | null;
  captured: number;
  feedback: { code: string; text: string } | null;
  camera: "ok" | "lost" | "reconnected";
  result: {
    outcome: "passed" | "failed" | "retry" | "cancelled" | "error";
    reason: string | null;
    message: string;
    code: string | null;
    attemptsLeft: number | null;
  } | null;
  finished: boolean;
}

export function initialView(): FlowView {
  return {
    screen: "scan",
    scanStatus: "looking",
    frames: 0,
    qr: null,
    context: null,
    prompt: null,
    captured: 0,
    feedback: null,
    camera: "ok",
    result: null,
    finished: false,
  };
}

/// The context answer moves the UI on at once (the core has no event for it).
export function afterContextConfirmed(v: FlowView): FlowView {
  return { ...v, screen: "consent" };
}

/// Consent given: the liveness screen waits for the first prompt.
export function afterConsent(v: FlowView): FlowView {
  return { ...v, screen: "liveness" };
}

export function reduce(v: FlowView, e: UiEvent): FlowView {
  switch (e.event) {
    case "scanning":
      return { ...v, frames: e.frames };
    case "qr_seen":
      return {
        ...v,
        qr: { corners: e.corners.map((c) => [c[0], c[1]] as [number, number]), width: e.width, height: e.height, realname: e.realname },
        scanStatus: e.realname ? "found" : "not_realname",
      };
    case "qr_found":
      return { ...v, scanStatus: e.trusted ? "found" : "untrusted" };
    case "claiming":
      return { ...v, scanStatus: "claiming" };
    case "context":
      return {
        ...v,
        screen: "context",
        context: {
          account: e.account,
          name: e.name,
          idNumber: e.id_number,
          pcStartedAt: e.pc_started_at,
          requiresStationCode: e.requires_station_code,
          attemptsLeft: e.attempts_left,
        },
      };
    case "confirmed":
      return { ...v, screen: "liveness", prompt: null, captured: 0, feedback: null };
    case "prompt":
      return { ...v, screen: "liveness", prompt: { index: e.index, total: e.total, action: e.action, text: e.text } };
    case "feedback":
      return { ...v, feedback: { code: e.feedback, text: e.text } };
    case "action_captured":
      return { ...v, captured: v.captured + 1 };
    case "uploading":
      return { ...v, screen: "submitting" };
    case "decision":
      return {
        ...v,
        result: {
          outcome: e.outcome === "passed" || e.outcome === "retry" ? e.outcome : "failed",
          reason: e.reason,
          message: e.message,
          code: null,
          attemptsLeft: e.attempts_left,
        },
      };
    case "cancelled":
      return { ...v, result: { outcome: "cancelled", reason: null, message: "", code: null, attemptsLeft: null } };
    case "failed":
      return { ...v, result: { outcome: "error", reason: null, message: e.message, code: e.code, attemptsLeft: null } };
    case "camera":
      return { ...v, camera: e.state === "lost" ? "lost" : "reconnected" };
    case "light":
      // The full-screen light step is an overlay (main.ts); the screen underneath stays.
      return v;
    case "finished": {
      const result = v.result ?? {
        outcome: e.outcome === "passed" || e.outcome === "failed" || e.outcome === "retry" || e.outcome === "cancelled" ? e.outcome : "error",
        reason: null,
        message: "",
        code: null,
        attemptsLeft: null,
      };
      return { ...v, screen: "result", result, finished: true };
    }
  }
}

/// Progress of the liveness ring, 0–1: actions captured out of all actions.
export function progress(v: FlowView): number {
  if (!v.prompt || v.prompt.total === 0) return 0;
  return Math.min(1, Math.max(v.captured, v.prompt.index) / v.prompt.total);
}

/// Maps QR corners from frame pixels to a canvas of `cw`×`ch` that shows the frame scaled to fit.
export function scaleCorners(
  corners: [number, number][],
  frame: { width: number; height: number },
  cw: number,
  ch: number,
): [number, number][] {
  const s = Math.min(cw / frame.width, ch / frame.height);
  const ox = (cw - frame.width * s) / 2;
  const oy = (ch - frame.height * s) / 2;
  return corners.map(([x, y]) => [ox + x * s, oy + y * s]);
}
