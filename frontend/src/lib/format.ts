// Money and dates as Korean fans read them: amounts in won (`80,000원`, or `₩80,000` in
// English), times in Korea's time zone whatever the device's.
export type Lang = "ko" | "en";

export function formatWon(amount: number, lang: Lang): string {
  return lang === "ko"
    ? `${amount.toLocaleString("ko-KR")}원`
    : `₩${amount.toLocaleString("en-US")}`;
}

const dateTime = {
  ko: new Intl.DateTimeFormat("ko-KR", {
    timeZone: "Asia/Seoul",
    year: "numeric",
    month: "long",
    day: "numeric",
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }),
  en: new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Seoul",
    year: "numeric",
    month: "short",
    day: "numeric",
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZoneName: "short",
  }),
};

export function formatDateTime(iso: string | number, lang: Lang): string {
  return dateTime[lang].format(new Date(iso));
}

/** `datetime-local` input value (Korean wall clock) ⇄ ISO instant. */
export function toKstInput(iso: string): string {
  const d = new Date(new Date(iso).getTime() + 9 * 3600_000);
  return d.toISOString().slice(0, 16);
}

export function fromKstInput(value: string): string {
  return new Date(`${value}:00+09:00`).toISOString();
}
