//! Interactive terminal: the progress display (indicatif) and the questions (context with
//! equal confirm / cancel choices, consent, kiosk code).
#![allow(clippy::print_stderr)]

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use realname_companion::config::Language;
use realname_companion::{CompanionError, ContextChoice, FlowEvent, Prompter, i18n};
use realname_protocol::api::MaskedContext;
use tokio::sync::mpsc;

/// The spinner shared by the renderer and the prompter (hidden when not interactive).
fn bar() -> &'static ProgressBar {
    static BAR: OnceLock<ProgressBar> = OnceLock::new();
    BAR.get_or_init(ProgressBar::hidden)
}

/// Whether stdin and stderr are terminals (questions can be asked).
pub(crate) fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Whether stderr is a terminal (a progress display makes sense).
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

fn local(e: std::io::Error) -> CompanionError {
    CompanionError::Io { path: "stdin".into(), message: e.to_string() }
}

/// The first line of stdin, without its line end.
pub(crate) fn read_line_stdin() -> Result<String, CompanionError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(local)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks a question on stderr and reads the answer line from stdin.
pub(crate) fn ask(question: &str) -> Result<String, CompanionError> {
    bar().suspend(|| {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        read_line_stdin()
    })
}

async fn ask_async(question: String) -> Option<String> {
    tokio::task::spawn_blocking(move || ask(&question).ok()).await.ok().flatten()
}

/// Questions on the terminal.
#[derive(Debug)]
pub(crate) struct TerminalPrompter {
    lang: Language,
    kiosk: bool,
}

impl TerminalPrompter {
    /// A prompter in `lang`.
    pub(crate) fn new(lang: Language, kiosk: bool) -> Self {
        Self { lang, kiosk }
    }
}

#[async_trait::async_trait]
impl Prompter for TerminalPrompter {
    async fn confirm_context(&self, c: &MaskedContext) -> ContextChoice {
        let (yes, no) = match self.lang {
            Language::En => ("[y] Yes, I started this", "[n] Cancel — I did not start this"),
            Language::ZhCn => ("[y] 是，由我发起", "[n] 取消——不是我发起的"),
        };
        let started = c
            .pc_started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| c.pc_started_at.to_string());
        let text = format!(
            "\n  account   {}\n  name      {}\n  ID        {}\n  PC start  {started}\n{}\n  {yes}    {no}\n> ",
            c.account,
            c.name,
            c.id_number,
            i18n::confirm_question(self.lang)
        );
        // Neither answer is a default: an empty line asks again.
        loop {
            match ask_async(text.clone()).await.as_deref().map(str::trim) {
                Some("y" | "Y" | "yes") => return ContextChoice::Confirm,
                Some("n" | "N" | "no") | None => return ContextChoice::Cancel,
                Some(_) => {}
            }
        }
    }

    async fn consent(&self) -> bool {
        let q = format!("\n{}\n[y/n] > ", i18n::consent_text(self.lang));
        loop {
            match ask_async(q.clone()).await.as_deref().map(str::trim) {
                Some("y" | "Y" | "yes") => return true,
                Some("n" | "N" | "no") | None => return false,
                Some(_) => {}
            }
        }
    }

    async fn station_code(&self) -> Option<String> {
        let q = match self.lang {
            Language::En => "Code shown on the PC (empty to cancel): ",
            Language::ZhCn => "请输入电脑上显示的验证码（留空取消）：",
        };
        let _ = self.kiosk;
        ask_async(q.to_owned()).await.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }
}

/// Renders events (spinner + lines) when `show` is set, and collects them as JSON for the
/// final report.
pub(crate) fn spawn_renderer(
    mut rx: mpsc::UnboundedReceiver<FlowEvent>,
    show: bool,
    lang: Language,
) -> tokio::task::JoinHandle<Vec<serde_json::Value>> {
    let pb = bar().clone();
    if show {
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(120));
    }
    tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(event) = rx.recv().await {
            if show {
                render(&pb, &event, lang);
            }
            all.push(serde_json::to_value(&event).unwrap_or_default());
        }
        pb.finish_and_clear();
        all
    })
}

fn render(pb: &ProgressBar, event: &FlowEvent, lang: Language) {
    let zh = lang == Language::ZhCn;
    match event {
        FlowEvent::Scanning { frames } => pb.set_message(format!("scanning for the QR code… ({frames} frames)")),
        FlowEvent::QrIgnored { code } => {
            pb.println(format!("  ignored a QR code that is not a Realname code ({code})"))
        }
        FlowEvent::QrFound { origin, trusted } => {
            pb.println(format!(
                "QR code for {origin} ({})",
                if *trusted { "trusted" } else { "NOT trusted — refused" }
            ));
        }
        FlowEvent::Claiming => pb.set_message("claiming the session…"),
        FlowEvent::Claimed { actions, attempts_left, .. } => {
            pb.println(format!("claimed: {} action(s), {attempts_left} attempt(s) left", actions.len()));
        }
        FlowEvent::Confirmed => pb.println(if zh { "已确认" } else { "confirmed" }),
        FlowEvent::ActionPrompt { index, total, text, .. } => {
            pb.println(format!(">> [{}/{total}] {text}", index + 1));
            pb.set_message(text.clone());
        }
        FlowEvent::Feedback { text, .. } => pb.set_message(text.clone()),
        FlowEvent::ActionCaptured { action, frames, detected } => pb.println(format!(
            "   captured {} ({frames} frames{})",
            action.as_str(),
            if *detected { "" } else { ", not seen locally" }
        )),
        FlowEvent::Uploading { frames } if *frames > 0 => pb.set_message(format!("uploading {frames} frames…")),
        FlowEvent::Uploading { .. } => {}
        FlowEvent::Decision { decision } => {
            pb.println(format!("decision: {:?} — {}", decision.outcome, decision.message))
        }
        FlowEvent::Cancelled => pb.println("cancelled"),
        FlowEvent::Failed { error } => pb.println(format!("failed [{}]: {}", error.code, error.message)),
    }
}
