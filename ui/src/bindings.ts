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

export type LightField = { 
/**
 * CSS colour, `#rrggbb`.
 */
colour: string, 
/**
 * How long it is held after it was painted, ms.
 */
hold_ms: number, };

export type LightReport = { 
/**
 * The nonce of the sequence shown.
 */
nonce: string, 
/**
 * Paint time of each field, in the order of [`UiEvent::Light`]'s `fields`.
 */
shown_at_ms: Array<number>, 
/**
 * When the app's own screen replaced the tail.
 */
ended_at_ms: number, 
/**
 * Median interval between the web view's frame callbacks during the step, ms.
 */
frame_ms: number, };

export type LightRehearsal = { 
/**
 * The fields shown.
 */
fields: Array<LightField>, 
/**
 * The UI's report.
 */
report: LightReport, 
/**
 * For each field but the last: (next paint − this paint) − nominal hold, ms.
 */
hold_error_ms: Array<number>, 
/**
 * From the request (the event sent) to the first field's paint, ms (notice included).
 */
start_delay_ms: number, 
/**
 * When asked to watch the screen: when each field's colour first appeared in the X
 * display's pixels (`null`: never seen), ms since the epoch; empty otherwise.
 */
screen_seen_at_ms: Array<number | null>, 
/**
 * Pixel reads the screen watch made (its resolution is the step's length / reads).
 */
screen_reads: number, };

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
message: string, } | { "event": "light", 
/**
 * The sequence's nonce (echoed in the report).
 */
nonce: string, 
/**
 * Lead-in, steps, tail, in display order.
 */
fields: Array<LightField>, 
/**
 * How long the notice is shown before the first field, ms.
 */
notice_ms: number, } | { "event": "finished", 
/**
 * `passed`, `failed`, `retry`, `cancelled`, `error`.
 */
outcome: string, };

export type ErrorCode = "bad_request" | "validation_failed" | "payload_too_large" | "unsupported_media_type" | "not_found" | "csrf_invalid" | "rate_limited" | "unauthorized" | "forbidden" | "invalid_credentials" | "account_exists" | "token_expired" | "token_invalid" | "id_number_invalid" | "name_invalid" | "identity_mismatch" | "identity_unknown" | "authority_unavailable" | "id_already_verified" | "account_already_verified" | "locked_out" | "handle_unknown" | "handle_expired" | "handle_used" | "session_wrong_account" | "session_state" | "session_expired" | "session_cancelled" | "station_code_invalid" | "nonce_invalid" | "challenge_expired" | "attempts_exhausted" | "consent_required" | "metadata_invalid" | "image_invalid" | "image_too_large" | "frame_count_invalid" | "phone_invalid" | "phone_mismatch" | "sms_code_wrong" | "sms_code_expired" | "sms_code_exhausted" | "sms_resend_too_early" | "sms_unavailable" | "carrier_unavailable" | "partner_unavailable" | "partner_not_verified" | "partner_state_invalid" | "partner_code_invalid" | "partner_code_used" | "partner_code_expired" | "partner_verifier_invalid" | "partner_redirect_invalid" | "partner_client_invalid" | "partner_denied" | "email_unconfirmed" | "email_token_invalid" | "email_token_expired" | "email_resend_too_early" | "email_unavailable" | "internal" | "service_unavailable" | "unknown";

export type CommandErrorCode = "internal" | "backend_url_invalid" | "pin_invalid" | "source_invalid" | "no_verification" | "tester_only" | "light_sequence_invalid" | "no_display" | "light_stopped" | "light_timeout" | "light_report_invalid" | "config" | "network" | "protocol" | "untrusted_origin" | "not_signed_in" | "camera" | "no_qr_found" | "source_ended" | "face_engine" | "declined" | "cancelled" | "deadline_exceeded" | "light_unavailable" | "credentials" | "io" | "qr_too_long" | "qr_not_url" | "qr_scheme" | "qr_url_parts" | "qr_not_realname" | "qr_version" | "qr_bad_handle" | ErrorCode;

export type CommandError = { 
/**
 * Stable code.
 */
code: CommandErrorCode, 
/**
 * Message.
 */
message: string, };
