#!/usr/bin/env python3
"""Writes a clip folder's segments.csv for `realname load` from the labels of the public
liveness clips: where the clip's person looks neutral and performs each challenge action.

    scripts/clip-segments.py ../shared/data/liveness/labels.json lp_d12 > DIR/segments.csv

Each action's segment is its first labelled event widened by one frame each side (the
companion's prompt window, as `cargo xtask accuracy liveness` builds its genuine cases); the
neutral segment is the frames before the first event (at most 10). A shorter segment at the
end of a longer one cuts the longer one short (one frame shows one action). Frame numbers are the
clip's 1-based file order.
"""
import json
import sys

ACTIONS = {
    "blink": "blink",
    "mouth_open": "open_mouth",
    # The nose towards the image's right is the person's own left (the camera does not mirror).
    "yaw_nose_image_right": "turn_left",
    "yaw_nose_image_left": "turn_right",
}


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    labels, clip_id = sys.argv[1], sys.argv[2]
    with open(labels, encoding="utf-8") as f:
        clips = {c["id"]: c for c in json.load(f)["clips"]}
    if clip_id not in clips:
        print(f"no clip {clip_id!r} in {labels}", file=sys.stderr)
        return 2
    clip = clips[clip_id]
    n = clip["n_frames_10fps"]
    events = clip.get("events", [])
    first = min((e["start_frame"] for e in events), default=n + 1)
    if first < 3:
        print(f"{clip_id}: no neutral frames before its first event", file=sys.stderr)
        return 1
    print("action,first,last")
    print(f"neutral,1,{min(first - 2, 10)}")
    segments = {}
    for e in sorted(events, key=lambda e: e["start_frame"]):
        action = ACTIONS.get(e["action"])
        if action is not None and action not in segments:
            segments[action] = (max(e["start_frame"] - 1, 1), min(e["end_frame"] + 1, n))
    # One frame shows one action: where a shorter segment lies inside a longer one's end (lp_d12
    # blinks at the end of its head turn), the longer one stops before it.
    for a, (s, t) in list(segments.items()):
        for b, (s2, t2) in segments.items():
            if b != a and (t2 - s2) < (t - s) and s < s2 <= t <= t2:
                t = s2 - 1
        segments[a] = (s, t)
    for action, (s, t) in segments.items():
        print(f"{action},{s},{t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
