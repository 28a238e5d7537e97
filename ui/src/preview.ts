// Live preview: pulls raw JPEG frames from the Rust camera over the `preview://` scheme (long
// poll on the newest frame; no base64, no JSON), draws them on a canvas with the detected QR
// outlined, and keeps transport statistics (frames, bytes, fetch time) for the benchmark.

import { convertFileSrc } from "@tauri-apps/api/core";
import { scaleCorners } from "./flow";

export interface PreviewStats {
  frames: number;
  bytes: number;
  fetchMs: number;
  decodeMs: number;
  encodeUs: number;
  startedAt: number;
}

export interface Outline {
  corners: [number, number][];
  width: number;
  height: number;
  realname: boolean;
  at: number;
}

export class PreviewLoop {
  private running = false;
  private after = 0;
  outline: Outline | null = null;
  stats: PreviewStats = { frames: 0, bytes: 0, fetchMs: 0, decodeMs: 0, encodeUs: 0, startedAt: 0 };
  private readonly base = convertFileSrc("frame", "preview");

  constructor(private readonly canvas: () => HTMLCanvasElement | null) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stats = { frames: 0, bytes: 0, fetchMs: 0, decodeMs: 0, encodeUs: 0, startedAt: performance.now() };
    void this.loop();
  }

  stop(): void {
    this.running = false;
    this.outline = null;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const t0 = performance.now();
      let response: Response;
      try {
        response = await fetch(`${this.base}?after=${this.after}`);
      } catch {
        // The scheme handler is gone (shutting down): retry shortly.
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (response.status !== 200) continue; // 204: no newer frame yet (long poll timed out)
      const seq = Number(response.headers.get("X-Frame-Seq") ?? "0");
      this.stats.encodeUs += Number(response.headers.get("X-Encode-Us") ?? "0");
      const blob = await response.blob();
      const t1 = performance.now();
      const bitmap = await createImageBitmap(blob);
      const t2 = performance.now();
      this.after = seq;
      this.stats.frames += 1;
      this.stats.bytes += blob.size;
      this.stats.fetchMs += t1 - t0;
      this.stats.decodeMs += t2 - t1;
      this.draw(bitmap);
    }
  }

  private draw(bitmap: ImageBitmap): void {
    const canvas = this.canvas();
    if (!canvas) return;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    const { width: cw, height: ch } = canvas;
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, cw, ch);
    const s = Math.min(cw / bitmap.width, ch / bitmap.height);
    const w = bitmap.width * s;
    const h = bitmap.height * s;
    ctx.drawImage(bitmap, (cw - w) / 2, (ch - h) / 2, w, h);
    bitmap.close();
    const o = this.outline;
    if (o && performance.now() - o.at < 1500) {
      const pts = scaleCorners(o.corners, o, cw, ch);
      ctx.strokeStyle = o.realname ? "#19c37d" : "#f5a623";
      ctx.lineWidth = 4;
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
      ctx.closePath();
      ctx.stroke();
    }
  }
}

/// Frames per second and mean bytes / fetch time per frame.
export function summarise(
  s: PreviewStats,
  now: number,
): { frames: number; fps: number; kbPerFrame: number; fetchMs: number; decodeMs: number; encodeMs: number } {
  const secs = Math.max(0.001, (now - s.startedAt) / 1000);
  const n = Math.max(1, s.frames);
  return { frames: s.frames, fps: s.frames / secs, kbPerFrame: s.bytes / n / 1024, fetchMs: s.fetchMs / n, decodeMs: s.decodeMs / n, encodeMs: s.encodeUs / n / 1000 };
}
