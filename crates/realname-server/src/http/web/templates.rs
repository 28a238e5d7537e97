//! Server-rendered pages: the minijinja templates compiled into the binary (`templates/`),
//! with HTML auto-escaping.

use std::sync::{Arc, OnceLock};

use minijinja::Environment;
use serde::Serialize;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/base.html")),
    ("signin.html", include_str!("../../../templates/signin.html")),
    ("signup.html", include_str!("../../../templates/signup.html")),
    ("verify.html", include_str!("../../../templates/verify.html")),
    ("method.html", include_str!("../../../templates/method.html")),
    ("identity.html", include_str!("../../../templates/identity.html")),
    ("qr.html", include_str!("../../../templates/qr.html")),
    ("details.html", include_str!("../../../templates/details.html")),
    ("error.html", include_str!("../../../templates/error.html")),
    ("mobile.html", include_str!("../../../templates/mobile.html")),
    ("mobile_code.html", include_str!("../../../templates/mobile_code.html")),
    ("outbox.html", include_str!("../../../templates/outbox.html")),
    ("admin_signin.html", include_str!("../../../templates/admin_signin.html")),
    ("scan_landing.html", include_str!("../../../templates/scan_landing.html")),
    ("partner_signin.html", include_str!("../../../templates/partner_signin.html")),
    ("partner_consent.html", include_str!("../../../templates/partner_consent.html")),
    ("email_confirm.html", include_str!("../../../templates/email_confirm.html")),
    ("email_outbox.html", include_str!("../../../templates/email_outbox.html")),
];

/// The template environment.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    /// Loads (parses) every template; a syntax error is a bug caught by the tests.
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders a template.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// The templates, parsed once per process (a syntax error is reported as text every time).
pub fn shared() -> Result<Arc<Templates>, String> {
    static SHARED: OnceLock<Result<Arc<Templates>, String>> = OnceLock::new();
    SHARED.get_or_init(|| Templates::load().map(Arc::new).map_err(|e| e.to_string())).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_templates_parse_and_escape() {
        let t = Templates::load().expect("templates");
        let html = t
            .render("signin.html", minijinja::context! { t => crate::http::web::i18n::texts(crate::http::web::i18n::Lang::En), email => "<x>", lang => "en", path => "/signin" })
            .expect("render");
        assert!(html.contains("&lt;x&gt;") && !html.contains("<x>"));
    }
}
