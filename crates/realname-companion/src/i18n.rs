//! Texts the front ends show for prompts and feedback, in zh-CN and en.

use realname_protocol::api::LivenessAction;

use crate::config::Language;
use crate::liveness::Feedback;

/// The prompt for a liveness action.
pub fn action_prompt(action: LivenessAction, lang: Language) -> &'static str {
    match (lang, action) {
        (Language::En, LivenessAction::Blink) => "Blink your eyes",
        (Language::En, LivenessAction::TurnLeft) => "Turn your head to your left",
        (Language::En, LivenessAction::TurnRight) => "Turn your head to your right",
        (Language::En, LivenessAction::OpenMouth) => "Open your mouth",
        (Language::En, LivenessAction::Nod) => "Nod your head",
        (Language::ZhCn, LivenessAction::Blink) => "请眨眨眼",
        (Language::ZhCn, LivenessAction::TurnLeft) => "请向左转头",
        (Language::ZhCn, LivenessAction::TurnRight) => "请向右转头",
        (Language::ZhCn, LivenessAction::OpenMouth) => "请张张嘴",
        (Language::ZhCn, LivenessAction::Nod) => "请点点头",
    }
}

/// The advice for a feedback state.
pub fn feedback_text(feedback: Feedback, lang: Language) -> &'static str {
    match (lang, feedback) {
        (Language::En, Feedback::Ok) => "Hold still",
        (Language::En, Feedback::NoFace) => "No face found: look at the camera",
        (Language::En, Feedback::MultipleFaces) => "Only one face, please",
        (Language::En, Feedback::TooFar) => "Move closer",
        (Language::En, Feedback::TooDark) => "Too dark: find more light",
        (Language::En, Feedback::NotCentred) => "Centre your face in the picture",
        (Language::En, Feedback::Unavailable) => "No live guidance available",
        (Language::ZhCn, Feedback::Ok) => "请保持不动",
        (Language::ZhCn, Feedback::NoFace) => "未检测到人脸，请正对摄像头",
        (Language::ZhCn, Feedback::MultipleFaces) => "请确保画面中只有一张人脸",
        (Language::ZhCn, Feedback::TooFar) => "请靠近一点",
        (Language::ZhCn, Feedback::TooDark) => "光线太暗，请到明亮处",
        (Language::ZhCn, Feedback::NotCentred) => "请将人脸置于画面中央",
        (Language::ZhCn, Feedback::Unavailable) => "无法提供实时提示",
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
        assert_ne!(feedback_text(Feedback::TooFar, Language::En), feedback_text(Feedback::TooFar, Language::ZhCn));
    }
}
