//! Texts the front ends show for prompts and feedback, in zh-CN and en: the one table per
//! language, keyed by code. The CLI prints these texts and the desktop app shows the same ones
//! (the flow events carry them: `FlowEvent::ActionPrompt`/`Feedback` `text`, in the language
//! the app's settings give the core), so both front ends say the same thing for the same code.

use realname_protocol::api::LivenessAction;

use crate::config::Language;
use crate::liveness::Feedback;

/// The prompt for a liveness action.
pub fn action_prompt(action: LivenessAction, lang: Language) -> &'static str {
    match (lang, action) {
        (Language::En, LivenessAction::Blink) => "Blink",
        (Language::En, LivenessAction::TurnLeft) => "Turn your head left",
        (Language::En, LivenessAction::TurnRight) => "Turn your head right",
        (Language::En, LivenessAction::OpenMouth) => "Open your mouth",
        (Language::En, LivenessAction::Nod) => "Nod",
        (Language::ZhCn, LivenessAction::Blink) => "请眨眼",
        (Language::ZhCn, LivenessAction::TurnLeft) => "请向左转头",
        (Language::ZhCn, LivenessAction::TurnRight) => "请向右转头",
        (Language::ZhCn, LivenessAction::OpenMouth) => "请张嘴",
        (Language::ZhCn, LivenessAction::Nod) => "请点头",
    }
}

/// The advice for a feedback state (empty for [`Feedback::Unavailable`]: without a local
/// detector there is nothing to advise, and the capture runs by time).
pub fn feedback_text(feedback: Feedback, lang: Language) -> &'static str {
    match (lang, feedback) {
        (Language::En, Feedback::Ok) => "Good — hold still",
        (Language::En, Feedback::NoFace) => "No face found",
        (Language::En, Feedback::MultipleFaces) => "Several faces — only one person, please",
        (Language::En, Feedback::TooFar) => "Move closer",
        (Language::En, Feedback::TooDark) => "Too dark — find more light",
        (Language::En, Feedback::NotCentred) => "Centre your face",
        (Language::En, Feedback::Unavailable) => "",
        (Language::ZhCn, Feedback::Ok) => "很好 — 请保持",
        (Language::ZhCn, Feedback::NoFace) => "未检测到人脸",
        (Language::ZhCn, Feedback::MultipleFaces) => "检测到多张人脸 — 请只保留一人",
        (Language::ZhCn, Feedback::TooFar) => "请靠近一些",
        (Language::ZhCn, Feedback::TooDark) => "光线太暗 — 请到明亮处",
        (Language::ZhCn, Feedback::NotCentred) => "请将脸部置于中央",
        (Language::ZhCn, Feedback::Unavailable) => "",
    }
}

/// The question shown with the masked context.
pub fn confirm_question(lang: Language) -> &'static str {
    match lang {
        Language::En => "Did you start this verification on your PC?",
        Language::ZhCn => "这是您在电脑上发起的实名认证吗？",
    }
}

/// The consent text before face capture.
pub fn consent_text(lang: Language) -> &'static str {
    match lang {
        Language::En => {
            "Your face will be captured and sent to the verification server, compared with the \
             ID holder's reference photo, and deleted once decided. Do you agree?"
        }
        Language::ZhCn => "将采集您的人脸图像并发送至认证服务器，与证件持有人的参考照片比对，判定后即删除。是否同意？",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_and_feedback_has_both_languages() {
        for a in LivenessAction::ALL {
            assert_ne!(action_prompt(a, Language::En), action_prompt(a, Language::ZhCn));
        }
        for f in [
            Feedback::Ok,
            Feedback::NoFace,
            Feedback::MultipleFaces,
            Feedback::TooFar,
            Feedback::TooDark,
            Feedback::NotCentred,
        ] {
            let (en, zh) = (feedback_text(f, Language::En), feedback_text(f, Language::ZhCn));
            assert!(!en.is_empty() && !zh.is_empty() && en != zh, "{f:?}");
        }
        assert_eq!(feedback_text(Feedback::Unavailable, Language::En), "");
    }
}
