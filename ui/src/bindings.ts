// Generated from src-tauri/src/ipc.rs by ts-rs: do not edit by hand.
// Regenerate: REALNAME_UPDATE_BINDINGS=1 cargo test -p realname-desktop bindings

export type UiLanguage = "zh-CN" | "en";

export type UiMode = "personal" | "kiosk";

export type SettingsView = { 
/**
 * Backend origin, e.g. `https://verify.example.com` (the only trusted origin).
 */
backend_url: string, 
/**
 * UI language.
 */
language: UiLanguage, 
/**
 * Personal or kiosk.
 */
mode: UiMode, 
/**
 * Source spec the QR is scanned from (`webcam:0`, `screen`, `file:qr.png`, `dir:…`, `synthetic:…`).
 */
qr_source: string, 
/**
 * Source spec for the face; empty = the same source as the QR (a webcam turned to the face).
 */
face_source: string, 
/**
 * Tester mode: recorded clips and files may stand in for the webcam (labelled as such).
 */
tester_mode: boolean, 
/**
 * Kiosk: seconds on the result screen before the automatic reset.
 */
kiosk_reset_secs: number, };

export type AppState = { 
/**
 * App version (about box).
 */
version: string, 
/**
 * No settings saved yet: show the first-run screen.
 */
first_run: boolean, 
/**
 * The settings.
 */
settings: SettingsView, 
/**
 * Personal mode: the masked e-mail of the signed-in account.
 */
account: string | null, 
/**
 * Kiosk mode: a station credential is stored.
 */
station_registered: boolean, 
/**
 * Kiosk mode: an admin PIN is set.
 */
admin_pin_set: boolean, 
/**
 * The local face detector (live feedback) is loaded.
 */
face_guidance: boolean, };

export type SourceOption = { 
/**
 * Spec to store (`webcam:0`, `screen`).
 */
spec: string, 
/**
 * Name to show.
 */
label: string, 
/**
 * Kind: `webcam`, `screen`, `file`, `dir`, `synthetic`.
 */
kind: string, 
/**
 * A recording or file standing in for a camera (tester mode only).
 */
stand_in: boolean, };

export type ContextAnswer = "confirm" | "cancel";

export type UiEvent = { "event": "scanning", 
/**
 * Frames looked at so far.
 */
frames: number, } | { "event": "qr_seen", 
/**
 * Corners (x, y), in the code's order.
 */
corners: Array<[number, number]>, 
/**
 * Frame width.
 */
width: number, 
/**
 * Frame height.
 */
height: number, 
/**
 * Whether it is a Realname code.
 */
realname: boolean, } | { "event": "qr_found", 
/**
 * The server it names.
 */
origin: string, 
/**
 * Whether the app trusts it.
 */
trusted: boolean, } | { "event": "claiming" } | { "event": "context", 
/**
 * Masked account.
 */
account: string, 
/**
 * Masked name.
 */
name: string, 
/**
 * Masked ID number.
 */
id_number: string, 
/**
 * When the PC started the verification (RFC 3339).
 */
pc_started_at: string, 
/**
 * Kiosk: the person must type the code the PC shows.
 */
requires_station_code: boolean, 
/**
 * Liveness actions (`blink`, `turn_left`, …).
 */
actions: Array<string>, 
/**
 * Attempts left.
 */
attempts_left: number, } | { "event": "confirmed" } | { "event": "prompt", 
/**
 * 0-based index.
 */
index: number, 
/**
 * Number of actions.
 */
total: number, 
/**
 * Action (`blink`, `turn_left`, `turn_right`, `open_mouth`, `nod`).
 */
action: string, 
/**
 * Text in the configured language.
 */
text: string, } | { "event": "feedback", 
/**
 * Feedback code.
 */
feedback: string, 
/**
 * Text in the configured language.
 */
text: string, } | { "event": "action_captured", 
/**
 * The action.
 */
action: string, 
/**
 * Whether the local detector saw it.
 */
detected: boolean, } | { "event": "uploading", 
/**
 * Frames in the upload.
 */
frames: number, } | { "event": "decision", 
/**
 * `passed`, `failed`, `retry`.
 */
outcome: string, 
/**
 * Reason code when not passed.
 */
reason: string | null, 
/**
 * Server message (shown as is; the UI branches on `reason`).
 */
message: string, 
/**
 * Attempts left.
 */
attempts_left: number, } | { "event": "cancelled" } | { "event": "failed", 
/**
 * Stable code.
 */
code: string, 
/**
 * Message.
 */
message: string, } | { "event": "camera", 
/**
 * `lost` or `reconnected`.
 */
state: string, 
/**
 * Detail.
 */
message: string, } | { "event": "finished", 
/**
 * `passed`, `failed`, `retry`, `cancelled`, `error`.
 */
outcome: string, };

export type CommandError = { 
/**
 * Stable code (`invalid_credentials`, `config`, `untrusted_origin`, `pin_invalid`, …).
 */
code: string, 
/**
 * Message.
 */
message: string, };
