// placeholder until generated
export type UiLanguage = "zh-CN" | "en";
export type UiMode = "personal" | "kiosk";
export type SettingsView = { backend_url: string, language: UiLanguage, mode: UiMode, qr_source: string, face_source: string, tester_mode: boolean, kiosk_reset_secs: number, };
export type AppState = { version: string, first_run: boolean, settings: SettingsView, account: string | null, station_registered: boolean, admin_pin_set: boolean, face_guidance: boolean, };
export type SourceOption = { spec: string, label: string, kind: string, stand_in: boolean, };
export type ContextAnswer = "confirm" | "cancel";
export type UiEvent = { "event": "scanning", frames: number, } | { "event": "qr_seen", corners: Array<[number, number]>, width: number, height: number, realname: boolean, } | { "event": "qr_found", origin: string, trusted: boolean, } | { "event": "claiming" } | { "event": "context", account: string, name: string, id_number: string, pc_started_at: string, requires_station_code: boolean, actions: Array<string>, attempts_left: number, } | { "event": "confirmed" } | { "event": "prompt", index: number, total: number, action: string, text: string, } | { "event": "feedback", feedback: string, text: string, } | { "event": "action_captured", action: string, detected: boolean, } | { "event": "uploading", frames: number, } | { "event": "decision", outcome: string, reason: string | null, message: string, attempts_left: number, } | { "event": "cancelled" } | { "event": "failed", code: string, message: string, } | { "event": "camera", state: string, message: string, } | { "event": "finished", outcome: string, };
export type CommandError = { code: string, message: string, };
