import { describe, expect, it, vi } from "vitest";

vi.mock("@tauri-apps/api/core", () => ({ convertFileSrc: (p: string, proto: string) => `${proto}://localhost/${p}` }));

import { summarise } from "./preview";

describe("preview statistics", () => {
  it("reports frames per second and means per frame", () => {
    const s = summarise({ frames: 30, bytes: 30 * 40 * 1024, fetchMs: 90, decodeMs: 30, encodeUs: 60000, startedAt: 0 }, 2000);
    expect(s).toEqual({ frames: 30, fps: 15, kbPerFrame: 40, fetchMs: 3, decodeMs: 1, encodeMs: 2 });
  });

  it("does not divide by zero before the first frame", () => {
    const s = summarise({ frames: 0, bytes: 0, fetchMs: 0, decodeMs: 0, encodeUs: 0, startedAt: 100 }, 100);
    expect(s.fps).toBe(0);
    expect(s.kbPerFrame).toBe(0);
  });
});
