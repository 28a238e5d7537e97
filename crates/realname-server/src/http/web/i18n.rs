//! Page texts in zh-CN and English; the language is chosen on the page and remembered in the
//! `rn_lang` cookie (default: the browser's `Accept-Language`, else zh-CN).

use std::collections::BTreeMap;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese.
    ZhCn,
    /// English.
    En,
}

impl Lang {
    /// The cookie / `lang` attribute value.
    pub fn code(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }

    /// Parses a cookie value or language tag.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Self::ZhCn)
        } else if s.starts_with("en") {
            Some(Self::En)
        } else {
            None
        }
    }

    /// The first supported language of an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        header.split(',').filter_map(|part| Self::parse(part.split(';').next().unwrap_or(""))).next()
    }
}

/// `(key, English, 简体中文)`.
const TEXTS: &[(&str, &str, &str)] = &[
    ("product", "Realname", "实名认证中心"),
    ("title_verification", "Real-name Verification", "实名认证"),
    ("tab_personal", "Personal Verification", "个人实名认证"),
    ("tab_enterprise", "Enterprise Verification", "企业实名认证"),
    ("coming_soon", "coming soon", "即将推出"),
    ("verify_now", "Verify Now", "立即认证"),
    (
        "verify_intro",
        "Complete real-name verification to use all services of your account. Your name and ID number are checked with the identity authority, then you confirm with a face scan in the Realname app.",
        "完成实名认证后即可使用账号的全部服务。您的姓名和身份证号将由身份核验机构核对，随后在实名认证 App 中完成人脸识别。",
    ),
    ("status_unverified", "Not verified", "未认证"),
    ("status_verified", "Verified", "已认证"),
    ("sign_in", "Sign in", "登录"),
    ("sign_up", "Create account", "注册"),
    ("sign_out", "Sign out", "退出"),
    ("email", "E-mail", "邮箱"),
    ("password", "Password", "密码"),
    ("password_hint", "At least 8 characters.", "至少 8 个字符。"),
    ("no_account", "No account yet?", "还没有账号？"),
    ("have_account", "Already have an account?", "已有账号？"),
    ("method_title", "Select Individual Real-name Method", "选择个人实名认证方式"),
    ("method_face", "Face Recognition for Verification", "人脸识别认证"),
    (
        "method_face_desc",
        "Enter your name and ID card number, then scan the QR code with the Realname app and complete a face scan.",
        "填写姓名和身份证号，使用实名认证 App 扫描二维码并完成人脸识别。",
    ),
    ("method_mobile", "Real-name Mobile Phone Verification", "手机号实名认证"),
    (
        "method_mobile_desc",
        "Name, ID number and a mobile number registered in your name, confirmed by SMS.",
        "姓名、身份证号及本人实名登记的手机号，短信验证。",
    ),
    ("next_step", "Next Step", "下一步"),
    ("identity_title", "Enter your identity information", "填写身份信息"),
    (
        "identity_note",
        "Only mainland resident ID cards are supported at present; other document types will follow.",
        "目前仅支持中国大陆居民身份证，其他证件类型即将支持。",
    ),
    ("name", "Name", "姓名"),
    ("name_placeholder", "Name as on the ID card", "与身份证一致的姓名"),
    ("id_number", "ID card number", "身份证号"),
    ("id_placeholder", "18-character resident ID number", "18 位居民身份证号码"),
    ("submit_identity", "Next Step", "下一步"),
    ("back", "Back", "返回"),
    ("qr_title", "Scan the QR code with the Realname app", "请使用实名认证 App 扫描二维码"),
    (
        "qr_steps",
        "Open the Realname app, choose “Scan”, scan this code and follow the prompts to complete the face scan.",
        "打开实名认证 App，点击“扫一扫”，扫描此二维码并按提示完成人脸识别。",
    ),
    ("qr_refresh_note", "The code refreshes automatically.", "二维码会自动刷新。"),
    ("qr_expires_in", "Expires in", "有效期剩余"),
    ("refresh_qr", "Refresh QR code", "刷新二维码"),
    ("state_waiting", "Waiting for the scan…", "等待扫码…"),
    ("state_scanned", "Scanned by", "已被扫描："),
    ("state_confirm_on_device", "Confirm on the device to continue.", "请在设备上确认后继续。"),
    ("state_station_code", "Type this code at the verification station:", "请在认证终端输入以下验证码："),
    ("state_in_progress", "Face check in progress…", "人脸识别进行中…"),
    ("state_passed", "Verification passed", "认证通过"),
    ("state_failed", "Face Recognition for Verification Fails", "人脸识别认证失败"),
    ("state_expired", "The QR code has expired", "二维码已过期"),
    ("state_cancelled", "The verification was cancelled on the device", "认证已在设备上取消"),
    ("attempts_left", "Attempts left", "剩余尝试次数"),
    ("try_again", "Try again", "重新认证"),
    ("view_details", "View details", "查看认证详情"),
    ("details_title", "Real-name verification details", "实名认证详情"),
    ("demo_marker", "Demo", "演示"),
    (
        "demo_note",
        "A demo identity (demo mode): this verification proves nothing about a real person.",
        "演示身份（演示模式）：本次认证不代表任何真实人员的身份。",
    ),
    ("method", "Method", "认证方式"),
    ("verified_at", "Verified at", "认证时间"),
    ("method_name_face", "Face recognition", "人脸识别"),
    ("partner_title", "Use your verification from a partner service?", "是否使用合作平台的实名信息？"),
    ("authorize_now", "Authorize Now", "立即授权"),
    ("not_authorized", "Not Authorized Temporarily and Manual Verification", "暂不授权，手动认证"),
    (
        "partner_intro",
        "If you completed personal real-name verification at {partner}, you can authorize Realname to obtain your real-name information from {partner}: you sign in at {partner} and approve there, and the verification completes in one step.",
        "如果您已在{partner}完成个人实名认证，可以授权实名认证中心获取您在{partner}的实名信息：您将在{partner}登录并确认授权，随后一键完成认证。",
    ),
    ("partner_shared", "Information to be obtained", "将获取的信息"),
    (
        "partner_consent_note",
        "Your consent is recorded with the time, the partner and the information obtained. The information is checked with the identity authority like a manual verification.",
        "您的授权将连同时间、合作平台及所获取的信息一并记录。所获取的信息将与手动认证一样由身份核验机构核对。",
    ),
    ("method_name_mobile", "Real-name mobile phone (SMS)", "手机号实名认证（短信）"),
    ("method_name_partner", "Synchronized from {partner}", "同步自{partner}"),
    ("phone", "Mobile number", "手机号"),
    ("phone_placeholder", "11-digit mainland mobile number", "11 位中国大陆手机号"),
    (
        "mobile_note",
        "The mobile number must be registered in the name of the person above (name and ID number are checked with the carrier).",
        "手机号须为上述本人实名登记的号码（姓名、身份证号将与运营商核对）。",
    ),
    ("send_code", "Send verification code", "获取验证码"),
    ("code_title", "Enter the SMS verification code", "输入短信验证码"),
    ("code_sent_to", "A 6-digit verification code was sent to", "6 位验证码已发送至"),
    ("code_label", "Verification code", "验证码"),
    (
        "code_validity",
        "The code is valid for {minutes} minutes and can be entered wrongly at most {tries} times.",
        "验证码 {minutes} 分钟内有效，最多可输错 {tries} 次。",
    ),
    ("verify_code", "Verify", "提交认证"),
    ("resend_code", "Resend code", "重新发送"),
    ("resend_in", "Resend possible in (s):", "可重新发送倒计时（秒）："),
    ("code_resent", "A new verification code was sent.", "新验证码已发送。"),
    ("step_sms", "SMS verification", "短信验证"),
    ("outbox_title", "SMS outbox (local gateway)", "短信发件箱（本地网关）"),
    ("outbox_empty", "No messages.", "暂无短信。"),
    ("outbox_to", "To", "收件人"),
    ("outbox_text", "Text", "内容"),
    ("outbox_code", "Code", "验证码"),
    ("outbox_at", "Sent at", "发送时间"),
    ("error_title", "Something went wrong", "出错了"),
    ("home", "Home", "首页"),
    ("scan_with_app_title", "Open this code with the Realname app", "请使用实名认证 App 扫描"),
    (
        "scan_with_app",
        "This QR code belongs to a real-name verification. Scan it with the Realname app (“Scan”) — opening it in a browser does nothing.",
        "此二维码用于实名认证，请使用实名认证 App 的“扫一扫”扫描，在浏览器中打开无效。",
    ),
    (
        "privacy_note",
        "Your ID number is stored encrypted; face images are used only for this decision and are not kept.",
        "您的身份证号加密存储；人脸图像仅用于本次核验，不会保存。",
    ),
    (
        "seed_faq",
        "The ID card number entered must belong to the person doing the face scan.",
        "填写的身份证号必须与进行人脸识别的本人一致。",
    ),
    ("lockout", "Locked until", "锁定至"),
    ("admin_sign_in", "Administrator sign-in", "管理员登录"),
    ("admin_token", "Admin token", "管理员令牌"),
    ("footer", "Realname — open, self-hostable real-name verification", "Realname — 开源、可自托管的实名认证系统"),
];

/// The texts of one language, for templates (`t.verify_now`).
pub fn texts(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    TEXTS
        .iter()
        .chain(super::i18n_trust::TEXTS)
        .map(|(k, en, zh)| (*k, if lang == Lang::En { *en } else { *zh }))
        .collect()
}

/// The zh-CN text of an error shown on a page, by stable code and detail (`None`: keep the
/// server's English message). `until` is the formatted lockout end for `locked_out`.
pub fn error_text(lang: Lang, code: &str, detail: Option<&str>, until: Option<&str>) -> Option<String> {
    if lang != Lang::ZhCn {
        return None;
    }
    let by_detail = match detail.unwrap_or("") {
        "id_number_empty" => Some("请输入身份证号。"),
        "id_number_length" => Some("身份证号应为 18 位。"),
        "id_number_character" => Some("身份证号含有不允许的字符（只能是数字，最后一位可以是 X）。"),
        "id_number_region" => Some("身份证号的地区码无效。"),
        "id_number_birth_date" => Some("身份证号中的出生日期无效。"),
        "id_number_birth_date_future" => Some("身份证号中的出生日期晚于今天。"),
        "id_number_check_digit" => Some("身份证号校验码不正确，请核对后重新输入。"),
        "name_empty" => Some("请输入姓名。"),
        "name_too_long" => Some("姓名过长。"),
        "name_character" => Some("姓名含有不允许的字符。"),
        "phone_empty" => Some("请输入手机号。"),
        "phone_format" => Some("手机号应为以 13–19 开头的 11 位中国大陆手机号。"),
        _ => None,
    };
    if let Some(t) = by_detail {
        return Some(t.to_owned());
    }
    let text = match code {
        "identity_mismatch" => "姓名与身份证号不一致。",
        "identity_unknown" => "身份核验机构无此身份证号的记录。",
        "id_already_verified" => "该身份证号已认证过其他账号。一个身份证号最多只能认证一个账号。",
        "account_already_verified" => "该账号已完成实名认证。",
        "invalid_credentials" => "邮箱或密码错误。",
        "unauthorized" => "需要管理员凭据，或管理员令牌不正确。",
        "account_exists" => "该邮箱已注册。",
        "csrf_invalid" => "表单已过期或来自其他网站，请刷新页面后重试。",
        "authority_unavailable" => "暂时无法连接身份核验机构，请稍后重试。",
        "not_found" => "未找到该认证会话。",
        "station_code_invalid" => "认证终端输入的验证码多次不正确。",
        "locked_out" => return Some(format!("认证失败次数过多，已锁定至 {}。", until.unwrap_or("-"))),
        "phone_mismatch" => "该手机号不是以上述姓名和身份证号实名登记的号码，请使用本人实名登记的手机号。",
        "sms_code_wrong" => {
            return Some(format!(
                "验证码错误，还可尝试 {} 次。",
                detail.and_then(|d| d.strip_prefix("tries_left=")).unwrap_or("-")
            ));
        }
        "sms_code_expired" => "验证码已过期，请重新获取。",
        "sms_code_exhausted" => "验证码输错次数过多，请重新获取。",
        "sms_resend_too_early" => {
            return Some(format!(
                "请在 {} 秒后重新发送。",
                detail.and_then(|d| d.strip_prefix("retry_after=")).unwrap_or("-")
            ));
        }
        "sms_unavailable" => "验证码发送失败，请稍后重试。",
        "carrier_unavailable" => "暂时无法连接运营商核验服务，请稍后重试。",
        "partner_unavailable" => "暂时无法连接合作平台，请稍后重试。",
        "partner_not_verified" => "该合作平台没有可同步的实名认证信息。",
        "rate_limited" if until.is_some() => {
            return Some(format!("尝试次数过多，请于 {} 之后再试。", until.unwrap_or("-")));
        }
        "rate_limited" => "获取验证码过于频繁，请一小时后再试。",
        _ => return super::i18n_trust::error_text(code, detail),
    };
    Some(text.to_owned())
}

/// The zh-CN text of a face decision reason (`None`: keep the English message).
pub fn reason_text(lang: Lang, reason: &str) -> Option<&'static str> {
    if lang != Lang::ZhCn {
        return None;
    }
    Some(match reason {
        "face_mismatch" => "人脸识别认证失败：填写的身份证号必须与进行人脸识别的本人一致。",
        "no_face" => "画面中未检测到人脸，请保持面部在画面内。",
        "multiple_faces" => "画面中有多张人脸，请确保只有本人在镜头前。",
        "face_too_small" => "人脸太小，请靠近摄像头。",
        "too_dark" => "光线太暗，请到明亮处。",
        "person_changed" => "各帧画面不是同一人。",
        "action_not_seen" => "未检测到要求的动作，请按提示操作。",
        "action_order" => "动作顺序不正确。",
        "no_reference" => "身份核验机构没有可用的参考照片。",
        "light_not_reflected" => "未在您的脸上检测到屏幕颜色，请正对屏幕并使用实时摄像头。",
        "light_out_of_step" => "脸上的颜色变化与屏幕不同步，请重新开始人脸识别。",
        "too_bright_for_light_check" => "周围光线太强，无法完成颜色检测，请远离窗户或强光。",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, zh) in TEXTS.iter().chain(super::super::i18n_trust::TEXTS) {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
    }

    #[test]
    fn accept_language_picks_the_first_supported() {
        assert_eq!(Lang::from_accept_language("fr-FR, en-US;q=0.8, zh;q=0.5"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_accept_language("fr"), None);
    }

    #[test]
    fn errors_are_translated_by_code_and_detail() {
        assert_eq!(error_text(Lang::En, "identity_mismatch", None, None), None);
        assert_eq!(
            error_text(Lang::ZhCn, "id_number_invalid", Some("id_number_check_digit"), None).as_deref(),
            Some("身份证号校验码不正确，请核对后重新输入。")
        );
        assert!(
            error_text(Lang::ZhCn, "locked_out", Some("until=1"), Some("2026-01-01 00:00 UTC"))
                .is_some_and(|t| t.contains("2026-01-01"))
        );
        assert!(reason_text(Lang::ZhCn, "face_mismatch").is_some_and(|t| t.contains("本人一致")));
    }
}
