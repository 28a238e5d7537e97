import { describe, expect, it } from "vitest";
import { afterConsent, afterContextConfirmed, initialView, progress, reduce, scaleCorners } from "./flow";
import type { UiEvent } from "./bindings";

const context: UiEvent = {
  event: "context", account: "a***@example.com", name: "*三", id_number: "1****************7",
  pc_started_at: "2026-11-25T20:00:00Z", requires_station_code: false, actions: ["open_mouth"], attempts_left: 3,
};

describe("flow reducer", () => {
  it("walks scan → context → consent → liveness → submitting → result", () => {
    let v = initialView();
    expect(v.screen).toBe("scan");
    v = reduce(v, { event: "qr_seen", corners: [[1, 2], [3, 4], [5, 6], [7, 8]], width: 640, height: 480, realname: true });
    expect(v.scanStatus).toBe("found");
    expect(v.qr?.corners[2]).toEqual([5, 6]);
    v = reduce(v, { event: "claiming" });
    v = reduce(v, context);
    expect(v.screen).toBe("context");
    expect(v.context?.name).toBe("*三");
    v = afterContextConfirmed(v);
    expect(v.screen).toBe("consent");
    v = afterConsent(v);
    v = reduce(v, { event: "confirmed" });
    v = reduce(v, { event: "prompt", index: 0, total: 2, action: "blink", text: "Blink" });
    expect(v.screen).toBe("liveness");
    expect(progress(v)).toBe(0);
    v = reduce(v, { event: "feedback", feedback: "too_dark", text: "Too dark" });
    expect(v.feedback?.code).toBe("too_dark");
    v = reduce(v, { event: "action_captured", action: "blink", detected: true });
    expect(progress(v)).toBe(0.5);
    v = reduce(v, { event: "uploading", frames: 12 });
    expect(v.screen).toBe("submitting");
    v = reduce(v, { event: "decision", outcome: "failed", reason: "face_mismatch", message: "no", attempts_left: 2 });
    expect(v.screen).toBe("submitting");
    v = reduce(v, { event: "finished", outcome: "failed" });
    expect(v.screen).toBe("result");
    expect(v.result).toMatchObject({ outcome: "failed", reason: "face_mismatch", attemptsLeft: 2 });
  });

  it("a cancel at the context screen ends on a cancelled result", () => {
    let v = reduce(initialView(), context);
    v = reduce(v, { event: "cancelled" });
    v = reduce(v, { event: "finished", outcome: "cancelled" });
    expect(v.screen).toBe("result");
    expect(v.result?.outcome).toBe("cancelled");
  });

  it("errors keep their code for the UI to branch on", () => {
    let v = reduce(initialView(), { event: "failed", code: "untrusted_origin", message: "x" });
    v = reduce(v, { event: "finished", outcome: "error" });
    expect(v.result).toMatchObject({ outcome: "error", code: "untrusted_origin" });
  });

  it("a finish without a decision still shows a result", () => {
    const v = reduce(initialView(), { event: "finished", outcome: "passed" });
    expect(v.result?.outcome).toBe("passed");
  });

  it("tracks the camera watchdog", () => {
    let v = reduce(initialView(), { event: "camera", state: "lost", message: "gone" });
    expect(v.camera).toBe("lost");
    v = reduce(v, { event: "camera", state: "reconnected", message: "" });
    expect(v.camera).toBe("reconnected");
  });
});

describe("QR outline", () => {
  it("maps frame pixels onto a letterboxed canvas", () => {
    // A 1280×720 frame on a 640×480 canvas: scale 0.5, 60 px bars above and below.
    const pts = scaleCorners([[0, 0], [1280, 720]], { width: 1280, height: 720 }, 640, 480);
    expect(pts).toEqual([[0, 60], [640, 420]]);
  });
});
