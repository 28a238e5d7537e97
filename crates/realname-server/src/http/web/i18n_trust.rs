//! Page texts (zh-CN and English) of the partner authorization round trip, the local partner
//! stand-in's pages and e-mail confirmation; merged into [`super::i18n::texts`].

/// `(key, English, 简体中文)`.
pub(super) const TEXTS: &[(&str, &str, &str)] = &[
    (
        "partner_shared_fields",
        "Name and ID card number — obtained only after you authorize at the partner",
        "姓名、身份证号（在合作平台确认授权后才会获取）",
    ),
    (
        "partner_needs_email",
        "To synchronize from a partner, first confirm your e-mail address {email}.",
        "同步合作平台的实名信息前，请先确认您的邮箱 {email}。",
    ),
    (
        "email_notice",
        "Confirm your e-mail address {email}: we sent you a link. Partner sync needs a confirmed e-mail; face and mobile verification work without.",
        "请确认您的邮箱 {email}：我们已向您发送确认链接。同步合作平台实名信息需要已确认的邮箱；人脸识别和手机号认证不受影响。",
    ),
    ("email_resend", "Resend confirmation e-mail", "重新发送确认邮件"),
    ("email_sent", "A new confirmation e-mail was sent.", "确认邮件已重新发送。"),
    ("email_confirm_title", "E-mail confirmation", "邮箱确认"),
    ("email_confirmed", "Your e-mail address {email} is confirmed.", "您的邮箱 {email} 已确认。"),
    (
        "email_signin_needed",
        "Sign in to the account this link was sent for, then open the link again.",
        "请先登录接收此链接的账号，然后重新打开该链接。",
    ),
    ("continue_verify", "Continue to real-name verification", "继续实名认证"),
    ("partner_signin_title", "Sign in to {partner}", "登录{partner}"),
    (
        "partner_signin_note",
        "Realname asks {partner} for your verified real-name information. Sign in with your {partner} account to decide.",
        "实名认证中心请求获取您在{partner}的实名信息。请登录您的{partner}账号后决定是否授权。",
    ),
    ("partner_login", "Account", "账号"),
    ("partner_consent_title", "Authorize Realname?", "是否授权实名认证中心？"),
    (
        "partner_consent_text",
        "Realname asks to obtain the real-name information of your {partner} account {login}:",
        "实名认证中心请求获取您的{partner}账号 {login} 的实名信息：",
    ),
    ("partner_approve", "Authorize", "同意授权"),
    ("partner_deny", "Deny", "拒绝"),
    ("email_outbox_title", "E-mail outbox (local mailer)", "邮件发件箱（本地）"),
    ("email_outbox_link", "Link", "链接"),
];

/// The zh-CN text of an error of this area (`None`: keep the server's English message).
pub(super) fn error_text(code: &str, detail: Option<&str>) -> Option<String> {
    let text = match code {
        "partner_state_invalid" => "此次合作平台授权不属于当前浏览器会话或已过期，请重新发起授权。",
        "partner_code_invalid" => "合作平台返回的授权码无效，请重新发起授权。",
        "partner_code_used" => "授权码已被使用，请重新发起授权。",
        "partner_code_expired" => "授权码已过期，请重新发起授权。",
        "partner_verifier_invalid" => "授权校验（PKCE）失败，请重新发起授权。",
        "partner_redirect_invalid" => "回调地址与登记的不一致，授权被拒绝。",
        "partner_client_invalid" => "客户端身份校验失败。",
        "partner_denied" => "您未在合作平台同意授权。",
        "email_unconfirmed" => "请先确认您的邮箱：同步合作平台实名信息需要已确认的邮箱。",
        "email_token_invalid" => "此确认链接对当前登录的账号无效，或已被使用。",
        "email_token_expired" => "确认链接已过期，请重新发送确认邮件。",
        "email_resend_too_early" => match detail.and_then(|d| d.strip_prefix("retry_after=")) {
            Some(secs) => return Some(format!("请在 {secs} 秒后再发送确认邮件。")),
            None => "今日确认邮件发送次数过多，请明天再试。",
        },
        "email_unavailable" => "确认邮件发送失败，请稍后重试。",
        _ => return None,
    };
    Some(text.to_owned())
}
