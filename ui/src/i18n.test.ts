import { describe, expect, it } from "vitest";
import { dictionaries, errorText, reasonText, setLang, t, translate } from "./i18n";

describe("i18n", () => {
  it("has every key in both languages, none empty", () => {
    const en = Object.keys(dictionaries.en).sort();
    expect(Object.keys(dictionaries["zh-CN"]).sort()).toEqual(en);
    for (const l of ["en", "zh-CN"] as const) for (const k of en) expect(dictionaries[l][k as keyof typeof dictionaries.en], `${l}:${k}`).not.toBe("");
  });

  it("fills placeholders and switches language", () => {
    setLang("en");
    expect(t("liveness.step", { n: 1, total: 3 })).toBe("Step 1 of 3");
    setLang("zh-CN");
    expect(t("liveness.step", { n: 1, total: 3 })).toBe("第 1 步，共 3 步");
    expect(t("context.cancel")).toBe("取消 — 不是我发起的");
  });

  it("maps error codes, else shows the server's message", () => {
    setLang("en");
    expect(errorText("invalid_credentials", "401")).toBe("E-mail or password is wrong.");
    expect(errorText("something_new", "As the server said")).toBe("As the server said");
  });

  it("explains the light check's reasons in both languages, else keeps the server's message", () => {
    for (const l of ["en", "zh-CN"] as const) {
      setLang(l);
      for (const r of ["light_not_reflected", "light_out_of_step", "too_bright_for_light_check"]) expect(reasonText(r), `${l}:${r}`).toBeTruthy();
    }
    setLang("en");
    expect(reasonText("too_bright_for_light_check")).toContain("move away from the window");
    setLang("zh-CN");
    expect(reasonText("too_bright_for_light_check")).toContain("远离窗户");
    expect(reasonText("face_mismatch")).toBeNull();
    expect(reasonText(null)).toBeNull();
  });

  it("translates marked elements and labels", () => {
    document.body.innerHTML = `<h1 data-i18n="context.title"></h1><canvas data-i18n-label="camera.preview"></canvas>`;
    setLang("zh-CN");
    translate(document);
    expect(document.querySelector("h1")?.textContent).toBe("这次认证是您发起的吗？");
    expect(document.querySelector("canvas")?.getAttribute("aria-label")).toBe("实时预览");
    expect(document.documentElement.lang).toBe("zh-CN");
  });
});
