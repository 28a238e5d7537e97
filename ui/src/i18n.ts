// UI strings in English and Simplified Chinese. Every key exists in both (a unit test checks).

export type Lang = "en" | "zh-CN";

const en = {
  appName: "Realname",
  "firstRun.title": "Welcome to Realname",
  "firstRun.intro": "Connect this app to your verification server.",
  "field.backend": "Backend URL",
  "field.language": "Language",
  "field.mode": "Mode",
  "mode.personal": "Personal — my own account",
  "mode.kiosk": "Kiosk — attended verification station",
  "action.continue": "Continue",
  "action.save": "Save",
  "action.back": "Back",
  "signIn.title": "Sign in",
  "signIn.intro": "Sign in with the account you use on the PC.",
  "field.email": "E-mail",
  "field.password": "Password",
  "action.signIn": "Sign in",
  "action.signOut": "Sign out",
  "station.title": "Register this station",
  "station.intro": "Paste the station credential from `realname-server devices register` and choose an admin PIN (needed to leave kiosk mode).",
  "field.stationToken": "Station credential",
  "field.adminPin": "Admin PIN (4–12 digits)",
  "action.register": "Register station",
  "home.title": "Real-name verification",
  "home.signedInAs": "Signed in as",
  "home.intro": "Start the verification on the PC, then scan the QR code it shows.",
  "action.start": "Scan QR code",
  "nav.camera": "Camera",
  "nav.settings": "Settings",
  "nav.about": "About",
  "attract.title": "Real-name verification",
  "attract.intro": "Start the verification on the PC, then touch the button and hold the QR code up to the camera.",
  "attract.start": "Start",
  "camera.title": "Choose the camera",
  "camera.qrSource": "QR source",
  "camera.faceSource": "Face source (empty: same as the QR source)",
  "camera.preview": "Live preview",
  "camera.standIn": "Tester stand-in — not a live camera",
  "camera.drop": "Tester: drop an image or a folder of frames onto the window to use it as a source.",
  "action.previewStart": "Preview",
  "scan.title": "Scan the QR code",
  "scan.hint": "Hold the QR code shown on the PC in front of the camera.",
  "scan.looking": "Looking for a QR code…",
  "scan.found": "QR code found",
  "scan.notRealname": "This QR code is not a Realname code",
  "scan.untrusted": "This QR code points to a server this app does not trust",
  "scan.claiming": "Contacting the server…",
  "action.cancel": "Cancel",
  "context.title": "Did you start this verification?",
  "context.intro": "Only continue if you started this on the PC yourself just now.",
  "context.account": "Account",
  "context.name": "Name",
  "context.idNumber": "ID number",
  "context.pcTime": "Started on the PC at",
  "context.attempts": "Attempts left",
  "context.code": "Code shown on the PC",
  "context.confirm": "Yes, I started this",
  "context.cancel": "Cancel — I did not start this",
  "consent.title": "Consent to face capture",
  "consent.text": "The app will record a few pictures of your face and send them to the verification server, which compares them with the photo on file for this ID number and deletes them once it has decided.",
  "consent.light": "The screen may also show a few plain colours for a few seconds (at most two changes a second, no flashing red).",
  "consent.accept": "I agree",
  "consent.decline": "I do not agree",
  "liveness.title": "Face check",
  "liveness.step": "Step {n} of {total}",
  "liveness.getReady": "Look at the camera",
  "camera.lost": "The camera was lost — reconnecting…",
  "camera.back": "The camera is back",
  "submitting.title": "Checking…",
  "submitting.text": "The server is checking your face. This takes a few seconds.",
  "result.passed": "Verified",
  "result.passedText": "Your identity is verified. The PC page shows the result.",
  "result.failed": "Not verified",
  "result.retry": "Not verified — you can try again",
  "result.cancelled": "Cancelled",
  "result.cancelledText": "Nothing was captured. The PC page shows that the verification was cancelled.",
  "result.error": "Something went wrong",
  "result.attemptsLeft": "Attempts left: {n}",
  "result.resetIn": "The station resets in {n} s.",
  "action.retry": "Try again",
  "action.done": "Done",
  "settings.title": "Settings",
  "settings.tester": "Tester mode (recorded clips, files and the screen may stand in for the webcam)",
  "settings.resetSecs": "Kiosk: seconds before the automatic reset",
  "settings.saved": "Saved",
  "about.title": "About Realname",
  "about.text": "Realname companion app — scans the verification QR from the PC and guides the face scan. Open source; self-hostable.",
  "about.version": "Version",
  "about.guidance": "Live face guidance",
  "about.on": "on",
  "about.off": "off (capture by time)",
  "exit.title": "Leave kiosk mode",
  "exit.pin": "Admin PIN",
  "exit.confirm": "Exit",
  "error.backend_url_invalid": "Enter the server address as http(s)://host[:port].",
  "error.invalid_credentials": "E-mail or password is wrong.",
  "error.pin_invalid": "Wrong or invalid PIN.",
  "error.network": "The server cannot be reached.",
  "error.no_qr_found": "No Realname QR code was found.",
  "error.untrusted_origin": "This QR code points to a server this app does not trust.",
  "error.not_signed_in": "Sign in first.",
  "error.station_code_invalid": "The code does not match the one on the PC.",
  "error.light_unavailable": "This app cannot show the light check. Update the Realname app and try again.",
  "light.title": "Look at the screen",
  "light.text": "The screen will show a few colours for about {n} seconds. Keep your face in front of the screen and hold still.",
  "light.safety": "If flashing light affects you, press Stop.",
  "light.stop": "Stop",
  "reason.light_not_reflected": "The colours on the screen were not seen on your face. Face the screen closely, in even light, and try again.",
  "reason.light_out_of_step": "The colour check did not finish properly. Keep the app in front and try again.",
  "reason.too_bright_for_light_check": "Too bright for the colour check — move away from the window or bright light and try again.",
} as const;

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  appName: "实名认证",
  "firstRun.title": "欢迎使用实名认证",
  "firstRun.intro": "将本应用连接到您的认证服务器。",
  "field.backend": "服务器地址",
  "field.language": "语言",
  "field.mode": "模式",
  "mode.personal": "个人 — 我自己的账号",
  "mode.kiosk": "自助终端 — 有人值守的认证站",
  "action.continue": "继续",
  "action.save": "保存",
  "action.back": "返回",
  "signIn.title": "登录",
  "signIn.intro": "请使用您在电脑上使用的账号登录。",
  "field.email": "电子邮箱",
  "field.password": "密码",
  "action.signIn": "登录",
  "action.signOut": "退出登录",
  "station.title": "注册本终端",
  "station.intro": "粘贴 `realname-server devices register` 生成的终端凭证，并设置管理员 PIN（退出自助模式时需要）。",
  "field.stationToken": "终端凭证",
  "field.adminPin": "管理员 PIN（4–12 位数字）",
  "action.register": "注册终端",
  "home.title": "实名认证",
  "home.signedInAs": "当前账号",
  "home.intro": "请先在电脑上开始认证，然后扫描电脑上显示的二维码。",
  "action.start": "扫描二维码",
  "nav.camera": "摄像头",
  "nav.settings": "设置",
  "nav.about": "关于",
  "attract.title": "实名认证",
  "attract.intro": "请先在电脑上开始认证，然后点击按钮，将二维码对准摄像头。",
  "attract.start": "开始",
  "camera.title": "选择摄像头",
  "camera.qrSource": "二维码来源",
  "camera.faceSource": "人脸来源（留空：与二维码来源相同）",
  "camera.preview": "实时预览",
  "camera.standIn": "测试替代来源 — 不是实时摄像头",
  "camera.drop": "测试人员：将图片或帧文件夹拖到窗口上即可作为来源。",
  "action.previewStart": "预览",
  "scan.title": "扫描二维码",
  "scan.hint": "将电脑上显示的二维码对准摄像头。",
  "scan.looking": "正在寻找二维码…",
  "scan.found": "已识别二维码",
  "scan.notRealname": "这不是实名认证二维码",
  "scan.untrusted": "该二维码指向本应用不信任的服务器",
  "scan.claiming": "正在连接服务器…",
  "action.cancel": "取消",
  "context.title": "这次认证是您发起的吗？",
  "context.intro": "只有当您刚刚亲自在电脑上发起认证时才继续。",
  "context.account": "账号",
  "context.name": "姓名",
  "context.idNumber": "身份证号",
  "context.pcTime": "电脑端发起时间",
  "context.attempts": "剩余次数",
  "context.code": "电脑上显示的验证码",
  "context.confirm": "是的，是我发起的",
  "context.cancel": "取消 — 不是我发起的",
  "consent.title": "同意采集人脸",
  "consent.text": "本应用将拍摄几张您的面部照片并发送到认证服务器，服务器将其与该身份证号登记的照片比对，并在作出判定后删除。",
  "consent.light": "屏幕还可能显示几秒钟的纯色画面（每秒最多变化两次，没有红色闪烁）。",
  "consent.accept": "我同意",
  "consent.decline": "我不同意",
  "liveness.title": "人脸检测",
  "liveness.step": "第 {n} 步，共 {total} 步",
  "liveness.getReady": "请正对摄像头",
  "camera.lost": "摄像头已断开 — 正在重新连接…",
  "camera.back": "摄像头已恢复",
  "submitting.title": "正在核验…",
  "submitting.text": "服务器正在核验您的人脸，需要几秒钟。",
  "result.passed": "认证成功",
  "result.passedText": "您的身份已认证，电脑页面将显示结果。",
  "result.failed": "认证失败",
  "result.retry": "认证未通过 — 您可以重试",
  "result.cancelled": "已取消",
  "result.cancelledText": "未采集任何信息。电脑页面将显示认证已取消。",
  "result.error": "出现错误",
  "result.attemptsLeft": "剩余次数：{n}",
  "result.resetIn": "{n} 秒后终端将自动重置。",
  "action.retry": "重试",
  "action.done": "完成",
  "settings.title": "设置",
  "settings.tester": "测试模式（可用录制片段、文件和屏幕代替摄像头）",
  "settings.resetSecs": "自助终端：自动重置前的秒数",
  "settings.saved": "已保存",
  "about.title": "关于实名认证",
  "about.text": "实名认证配套应用 — 扫描电脑上的认证二维码并引导人脸检测。开源，可自行部署。",
  "about.version": "版本",
  "about.guidance": "实时人脸引导",
  "about.on": "开启",
  "about.off": "关闭（按时间采集）",
  "exit.title": "退出自助模式",
  "exit.pin": "管理员 PIN",
  "exit.confirm": "退出",
  "error.backend_url_invalid": "请按 http(s)://主机[:端口] 的格式输入服务器地址。",
  "error.invalid_credentials": "邮箱或密码错误。",
  "error.pin_invalid": "PIN 错误或无效。",
  "error.network": "无法连接服务器。",
  "error.no_qr_found": "未找到实名认证二维码。",
  "error.untrusted_origin": "该二维码指向本应用不信任的服务器。",
  "error.not_signed_in": "请先登录。",
  "error.station_code_invalid": "验证码与电脑上显示的不一致。",
  "error.light_unavailable": "本应用无法进行光线检测。请更新实名认证应用后重试。",
  "light.title": "请看屏幕",
  "light.text": "屏幕将显示几种颜色，约 {n} 秒。请保持面部正对屏幕，不要移动。",
  "light.safety": "如果闪光让您不适，请点击“停止”。",
  "light.stop": "停止",
  "reason.light_not_reflected": "未在您的脸上检测到屏幕颜色的反光。请靠近并正对屏幕，在均匀的光线下重试。",
  "reason.light_out_of_step": "颜色检测未正常完成。请保持本应用在最前面后重试。",
  "reason.too_bright_for_light_check": "光线太强，无法进行颜色检测 — 请远离窗户或强光后重试。",
};

export const dictionaries: Record<Lang, Record<Key, string>> = { en, "zh-CN": zh };

// Liveness prompts and live feedback are not here: the core's table
// (crates/realname-companion/src/i18n.rs) is the one source, and its texts arrive with the
// `prompt` and `feedback` events in the language of the settings, as the CLI prints them.

let current: Lang = "en";

export function setLang(lang: Lang): void {
  current = lang;
}

export function lang(): Lang {
  return current;
}

/// The text for `key` with `{name}` placeholders filled in.
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  let s: string = dictionaries[current][key] ?? dictionaries.en[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/// The message for a command error code, falling back to the server's message.
export function errorText(code: string, message: string): string {
  const key = `error.${code}` as Key;
  return key in dictionaries[current] ? t(key) : message;
}

/// The text for a server reason code the UI explains itself (`null`: show the server's message).
export function reasonText(reason: string | null): string | null {
  if (!reason) return null;
  const key = `reason.${reason}` as Key;
  return key in dictionaries[current] ? t(key) : null;
}

/// Fills every `[data-i18n]` element under `root` (text) and `[data-i18n-label]` (aria-label).
export function translate(root: ParentNode): void {
  root.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n as Key);
  });
  root.querySelectorAll<HTMLElement>("[data-i18n-label]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel as Key));
  });
  document.documentElement.lang = current;
}
