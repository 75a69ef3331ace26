// Korean first (the fans are Korean), English on request. The choice is kept in
// localStorage; without one, the browser's first language decides (like the edge's
// waiting room, which reads Accept-Language).
import i18n from "i18next";
import { initReactI18next, useTranslation } from "react-i18next";
import ko from "./ko.json";
import en from "./en.json";
import type { Lang } from "../lib/format";

const KEY = "urr.lang";

export function initialLang(
  stored: string | null,
  browser: readonly string[] | undefined,
): Lang {
  if (stored === "ko" || stored === "en") return stored;
  const first = browser?.find((l) => /^(ko|en)\b/i.test(l));
  return first?.toLowerCase().startsWith("en") ? "en" : "ko";
}

function stored(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

void i18n.use(initReactI18next).init({
  resources: { ko: { translation: ko }, en: { translation: en } },
  lng: initialLang(stored(), typeof navigator === "undefined" ? undefined : navigator.languages),
  fallbackLng: "ko",
  interpolation: { escapeValue: false },
});

i18n.on("languageChanged", (lng) => {
  document.documentElement.lang = lng;
  try {
    localStorage.setItem(KEY, lng);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
});

export function useLang(): { lang: Lang; t: ReturnType<typeof useTranslation>["t"] } {
  const { t, i18n: instance } = useTranslation();
  return { lang: instance.language === "en" ? "en" : "ko", t };
}

export default i18n;
