import { describe, expect, it } from "vitest";
import { LightRun, type Painter } from "./light";

/// A display at `hz` whose frame callbacks run on a virtual clock; records what was painted.
function fakeDisplay(hz: number, stopAt = Infinity) {
  const painted: { colour: string | null; at: number }[] = [];
  let queue: ((t: number) => void)[] = [];
  let t = 1000;
  const painter: Painter = {
    paint: (colour) => painted.push({ colour, at: t }),
    frame: (cb) => void queue.push(cb),
    origin: () => 1.7e12,
    wallOffset: () => 2,
  };
  const pump = () => {
    for (let i = 0; i < 10000 && queue.length && t < stopAt; i++) {
      t += 1000 / hz;
      const q = queue;
      queue = [];
      q.forEach((cb) => cb(t));
    }
  };
  return { painter, painted, pump };
}

const fields = [
  { colour: "#808080", hold_ms: 600 },
  { colour: "#ffffff", hold_ms: 200 },
  { colour: "#4060ff", hold_ms: 350 },
  { colour: "#282828", hold_ms: 150 },
  { colour: "#808080", hold_ms: 400 },
];

describe("light run", () => {
  it("paints every field in order and reports paint times one frame after each change", async () => {
    const d = fakeDisplay(60);
    const run = new LightRun(d.painter, "n1", fields);
    const done = run.run();
    d.pump();
    const r = await done;
    expect(r).not.toBeNull();
    expect(d.painted.map((p) => p.colour)).toEqual([...fields.map((f) => f.colour), null]);
    expect(r!.nonce).toBe("n1");
    expect(r!.shown_at_ms).toHaveLength(fields.length);
    // Paint time = the next frame after the colour was set, on the wall clock (+2 ms).
    d.painted.slice(0, fields.length).forEach((p, i) => {
      expect(r!.shown_at_ms[i]).toBeCloseTo(1.7e12 + p.at + 1000 / 60 + 2, 2);
    });
    // Holds are met to within half a frame.
    const ends = [...r!.shown_at_ms.slice(1), r!.ended_at_ms];
    fields.forEach((f, i) => expect(Math.abs(ends[i] - r!.shown_at_ms[i] - f.hold_ms)).toBeLessThanOrEqual(1000 / 60 / 2 + 0.01));
    expect(r!.frame_ms).toBeCloseTo(1000 / 60, 6);
  });

  it("keeps holds on a slow (30 Hz) display within half its frame", async () => {
    const d = fakeDisplay(30);
    const done = new LightRun(d.painter, "n2", fields).run();
    d.pump();
    const r = (await done)!;
    const ends = [...r.shown_at_ms.slice(1), r.ended_at_ms];
    fields.forEach((f, i) => expect(Math.abs(ends[i] - r.shown_at_ms[i] - f.hold_ms)).toBeLessThanOrEqual(1000 / 30 / 2 + 0.01));
  });

  it("stop ends the step at once with no report and clears the screen", async () => {
    const d = fakeDisplay(60, 1500);
    const run = new LightRun(d.painter, "n3", fields);
    const done = run.run();
    d.pump();
    run.stop();
    expect(await done).toBeNull();
    expect(d.painted[d.painted.length - 1].colour).toBeNull();
  });
});
