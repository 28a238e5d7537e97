//! The texts the PC page shows for a stored failure code and for a decision's reason.

use realname_protocol::api::{LivenessAction, ReasonCode};

use crate::error::{FACE_MISMATCH_MESSAGE, ID_ALREADY_VERIFIED_MESSAGE};
use crate::store::FailureCode;

/// The message for a failure code stored on a session.
pub fn failure_message(code: FailureCode) -> String {
    match code {
        FailureCode::IdAlreadyVerified => ID_ALREADY_VERIFIED_MESSAGE.into(),
        FailureCode::AccountAlreadyVerified => "This account has completed real-name verification already.".into(),
        FailureCode::StationCodeInvalid => "The code typed at the station did not match too many times.".into(),
    }
}

/// The message for a decision's reason.
pub fn reason_message(reason: ReasonCode, action: Option<LivenessAction>) -> String {
    let action = action.map(|a| a.as_str().replace('_', " ")).unwrap_or_default();
    match reason {
        ReasonCode::FaceMismatch => FACE_MISMATCH_MESSAGE.into(),
        ReasonCode::NoFace => "No face was found in a frame. Keep your face in the frame.".into(),
        ReasonCode::MultipleFaces => "More than one face was in the frame. Only you should be in view.".into(),
        ReasonCode::FaceTooSmall => "The face is too small. Move closer to the camera.".into(),
        ReasonCode::TooDark => "The image is too dark. Find more light.".into(),
        ReasonCode::PersonChanged => "The frames do not all show the same person.".into(),
        ReasonCode::ActionNotSeen => format!("The action \"{action}\" was not seen. Follow the prompts."),
        ReasonCode::ActionOrder => "The actions were not performed in the requested order.".into(),
        ReasonCode::NoReference => "The identity authority has no usable reference photo for this ID number.".into(),
        ReasonCode::FramesDuplicated => {
            "Some frames are copies of each other. Use the live camera, not a photo or a screen.".into()
        }
        ReasonCode::TimestampsInvalid => "The capture times are not plausible. Start the scan again.".into(),
        ReasonCode::ChallengeReplayed => {
            "This capture was submitted before. Start the scan again with the new prompts.".into()
        }
        ReasonCode::PresentationAttack => "Use the live camera, not a photo or a screen.".into(),
        ReasonCode::LightNotReflected => {
            "The screen's colours were not seen on your face. Face the screen closely and use the live camera.".into()
        }
        ReasonCode::LightOutOfStep => {
            "The colours on your face did not follow the screen. Start the scan again.".into()
        }
        ReasonCode::TooBrightForLightCheck => {
            "There is too much light around you for the colour check. Move away from the window or bright lamps.".into()
        }
        _ => "The face scan did not pass.".into(),
    }
}
