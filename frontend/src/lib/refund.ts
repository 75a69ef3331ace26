// What a fan gets back when cancelling a paid order, by the policy the server publishes
// (`GET /api/v1/payments/config`): full until `full_days` before the show, the partial
// percentage until `partial_days` before, nothing after. The server decides; this is
// what the confirmation dialog shows beforehand.
export interface RefundPolicy {
  refund_full_days: number;
  refund_partial_days: number;
  refund_partial_percent: number;
}

export type RefundQuote =
  | { kind: "full"; amount: number }
  | { kind: "partial"; amount: number; percent: number }
  | { kind: "none"; amount: 0 };

const DAY = 86_400_000;

export function refundQuote(
  amount: number,
  showStartsMs: number,
  nowMs: number,
  p: RefundPolicy,
): RefundQuote {
  const left = showStartsMs - nowMs;
  if (left >= p.refund_full_days * DAY) return { kind: "full", amount };
  if (left >= p.refund_partial_days * DAY) {
    return {
      kind: "partial",
      percent: p.refund_partial_percent,
      amount: Math.floor((amount * p.refund_partial_percent) / 100),
    };
  }
  return { kind: "none", amount: 0 };
}
