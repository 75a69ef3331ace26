// Opening the payment widget. Production: Toss's own widget through
// `@tosspayments/tosspayments-sdk` (loaded only at checkout). Development and tests:
// the server names a stand-in page (`widget_url`, the Toss fake's), opened with the
// same order fields. Both end at the same `/payment/success` or `/payment/fail` URL
// with `paymentKey`, `orderId` and `amount` in the query, and `back`: the page to
// try again from (a booking's checkout, the membership page, the resale listing).
// Every kind of order (tickets, a membership year, a resale purchase) pays this way.
import type { Schemas } from "../api/client";

export interface PaymentRequest {
  orderId: string;
  orderName: string;
  amount: number;
  /** The app page to return to for another try, e.g. `/checkout/{reservation}`. */
  back: string;
  customerKey: string;
}

export function returnUrls(origin: string, back: string) {
  const q = `?back=${encodeURIComponent(back)}`;
  return { successUrl: `${origin}/payment/success${q}`, failUrl: `${origin}/payment/fail${q}` };
}

/** The `back` page of a return URL, only if it is one of our own paths. */
export function safeBack(back: string | null): string | null {
  if (!back || !back.startsWith("/") || back.startsWith("//") || back.includes("\\")) return null;
  return back;
}

export function standInUrl(widgetUrl: string, p: PaymentRequest, origin: string): string {
  const url = new URL(widgetUrl);
  const { successUrl, failUrl } = returnUrls(origin, p.back);
  url.searchParams.set("orderId", p.orderId);
  url.searchParams.set("orderName", p.orderName);
  url.searchParams.set("amount", String(p.amount));
  url.searchParams.set("successUrl", successUrl);
  url.searchParams.set("failUrl", failUrl);
  return url.toString();
}

export async function openPayment(config: Schemas["ClientConfig"], p: PaymentRequest): Promise<void> {
  const origin = window.location.origin;
  if (config.widget_url) {
    window.location.assign(standInUrl(config.widget_url, p, origin));
    return;
  }
  const { loadTossPayments } = await import("@tosspayments/tosspayments-sdk");
  const toss = await loadTossPayments(config.client_key);
  const payment = toss.payment({ customerKey: p.customerKey });
  await payment.requestPayment({
    method: "CARD",
    amount: { currency: "KRW", value: p.amount },
    orderId: p.orderId,
    orderName: p.orderName,
    ...returnUrls(origin, p.back),
  });
}
