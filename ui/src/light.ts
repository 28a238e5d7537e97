// The light step: paints the server's colour sequence as a full-screen field, one field per
// display frame boundary, and measures when each field was actually painted. A colour is set
// in one animation-frame callback; the next callback runs after the frame carrying it was
// painted, so its time is the field's paint time (the "double rAF"). Holds run from the paint
// time, switching at the frame whose start is nearest to the hold's end. Times are ms since
// the Unix epoch (performance.timeOrigin + frame time), corrected to Date.now() at the end so
// they share the system clock with the camera frames' timestamps.

import type { LightField, LightReport } from "./bindings";

export interface Painter {
  /// Shows `colour` full screen (`null`: back to the app's own screen).
  paint(colour: string | null): void;
  /// Schedules `cb` at the next animation frame with its timestamp (ms, performance clock).
  frame(cb: (t: number) => void): void;
  /// performance.timeOrigin (ms since the epoch).
  origin(): number;
  /// Date.now() − (performance.timeOrigin + performance.now()): the wall-clock correction.
  wallOffset(): number;
}

/// Runs one light step on `painter`; resolves with the paint report, or null when stopped.
export class LightRun {
  private stopped = false;
  private resolve: ((r: LightReport | null) => void) | null = null;

  constructor(
    private readonly painter: Painter,
    private readonly nonce: string,
    private readonly fields: LightField[],
  ) {}

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.painter.paint(null);
    this.resolve?.(null);
  }

  run(): Promise<LightReport | null> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      const shown: number[] = [];
      const gaps: number[] = [];
      let index = -1;
      let pending: number | null = null; // field set in the previous callback, paint time unknown
      let due = 0;
      let last: number | null = null;
      const frameMs = () => (gaps.length ? median(gaps) : 1000 / 60);
      const tick = (t: number) => {
        if (this.stopped) return;
        if (last !== null) gaps.push(t - last);
        last = t;
        const now = this.painter.origin() + t;
        if (pending !== null) {
          if (pending === this.fields.length) {
            // The app's own screen is back: the step is over.
            const offset = this.painter.wallOffset();
            this.stopped = true;
            resolve({
              nonce: this.nonce,
              shown_at_ms: shown.map((s) => s + offset),
              ended_at_ms: now + offset,
              frame_ms: frameMs(),
            });
            return;
          }
          shown[pending] = now;
          due = now + this.fields[pending].hold_ms;
          pending = null;
        } else if (index < 0 || now + frameMs() >= due - frameMs() / 2) {
          // The change shows at the next frame: switch when that frame is nearest the hold's end.
          index += 1;
          this.painter.paint(index < this.fields.length ? this.fields[index].colour : null);
          pending = index;
        }
        this.painter.frame(tick);
      };
      this.painter.frame(tick);
    });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/// The browser's painter over the `#light` overlay.
export function domPainter(overlay: HTMLElement, field: HTMLElement): Painter {
  return {
    paint(colour) {
      if (colour === null) {
        overlay.hidden = true;
        field.style.backgroundColor = "";
        delete overlay.dataset.colour;
      } else {
        overlay.hidden = false;
        overlay.dataset.phase = "flash";
        field.style.backgroundColor = colour;
        overlay.dataset.colour = colour;
      }
    },
    frame: (cb) => void requestAnimationFrame(cb),
    origin: () => performance.timeOrigin,
    wallOffset: () => Date.now() - (performance.timeOrigin + performance.now()),
  };
}
