import { remaining, useServerNow } from "../lib/clock";
import { useLang } from "../i18n";

/** "3일 04:05:06" until `target`, on the server's clock. */
export function Countdown({ target, label }: { target: string; label: string }) {
  const { t } = useLang();
  const now = useServerNow();
  const r = remaining(new Date(target).getTime(), now);
  const pad = (n: number) => n.toString().padStart(2, "0");
  const text = `${r.days > 0 ? t("time.days", { count: r.days }) + " " : ""}${pad(r.hours)}:${pad(r.minutes)}:${pad(r.seconds)}`;
  return (
    <span className="countdown">
      {label} <time dateTime={target}>{text}</time>
    </span>
  );
}
