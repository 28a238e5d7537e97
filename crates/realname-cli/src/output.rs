//! Output and exit codes: one JSON document on stdout with `--json`, plain text otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use realname_companion::{CompanionError, ErrorClass, ErrorReport};

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: passed / ok.
    Ok = 0,
    /// 1: verification failed (not passed).
    Failed = 1,
    /// 2: usage or local configuration error.
    Usage = 2,
    /// 3: server or network error.
    Server = 3,
    /// 4: camera / frame source error.
    Camera = 4,
}

impl Exit {
    /// The exit code for an error.
    pub fn from_error(e: &CompanionError) -> Self {
        match e.class() {
            ErrorClass::Usage | ErrorClass::Local => Self::Usage,
            ErrorClass::Server => Self::Server,
            ErrorClass::Camera => Self::Camera,
            ErrorClass::Verification | ErrorClass::Cancelled => Self::Failed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Where results go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    /// Text or JSON.
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether `--json` is on.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Prints a result with an exit code; the JSON gets `ok` and `exit_code` fields.
    pub(crate) fn finish(&self, exit: Exit, mut json: serde_json::Value, text: &str) -> ExitCode {
        if self.json {
            if let Some(obj) = json.as_object_mut() {
                obj.insert("ok".into(), serde_json::Value::Bool(exit == Exit::Ok));
                obj.insert("exit_code".into(), serde_json::Value::from(exit as u8));
            }
            println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        } else if exit == Exit::Ok {
            println!("{text}");
        } else {
            eprintln!("{text}");
        }
        exit.into()
    }

    /// A successful result.
    pub(crate) fn ok(&self, json: serde_json::Value, text: &str) -> ExitCode {
        self.finish(Exit::Ok, json, text)
    }

    /// An error from the companion core.
    pub(crate) fn error(&self, e: &CompanionError) -> ExitCode {
        let exit = Exit::from_error(e);
        self.finish(exit, serde_json::json!({"error": ErrorReport::from(e)}), &format!("error [{}]: {e}", e.code()))
    }

    /// Any other failure.
    pub(crate) fn fail(&self, exit: Exit, code: &str, message: &str) -> ExitCode {
        self.finish(
            exit,
            serde_json::json!({"error": {"code": code, "message": message}}),
            &format!("error [{code}]: {message}"),
        )
    }
}
