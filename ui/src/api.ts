// Typed wrappers over the Rust commands (names and argument shapes as in src-tauri/src/commands.rs).

import { invoke } from "@tauri-apps/api/core";
import type { AppState, CommandError, ContextAnswer, LightReport, SettingsView, SourceOption } from "./bindings";

export const api = {
  appState: () => invoke<AppState>("app_state"),
  saveSettings: (settings: SettingsView) => invoke<AppState>("save_settings", { new: settings }),
  signIn: (email: string, password: string) => invoke<string>("sign_in", { email, password }),
  signOut: () => invoke<void>("sign_out"),
  registerStation: (token: string) => invoke<void>("register_station", { token }),
  setAdminPin: (pin: string) => invoke<void>("set_admin_pin", { pin }),
  kioskExit: (pin: string) => invoke<void>("kiosk_exit", { pin }),
  listSources: () => invoke<SourceOption[]>("list_sources"),
  startPreview: (spec: string) => invoke<void>("start_preview", { spec }),
  stopPreview: () => invoke<void>("stop_preview"),
  startVerification: () => invoke<void>("start_verification"),
  answerContext: (answer: ContextAnswer) => invoke<void>("answer_context", { answer }),
  answerConsent: (given: boolean) => invoke<void>("answer_consent", { given }),
  answerStationCode: (code: string | null) => invoke<void>("answer_station_code", { code }),
  cancelVerification: () => invoke<void>("cancel_verification"),
  resetSession: () => invoke<void>("reset_session"),
  lightReport: (nonce: string, report: LightReport | null) => invoke<void>("light_report", { nonce, report }),
};

/// A command error as the shell sends it (`{code, message}`), or a wrapped unknown error.
export function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as CommandError;
  return { code: "internal", message: String(e) };
}
