// Paying an order that is not a booking (a membership year, a resale purchase): the
// same widget and the same confirm, started from the page the fan is on.
import { useState } from "react";
import { api, unwrap } from "../api/client";
import { useAuth } from "../api/auth";
import { openPayment } from "./payment";

export interface Order {
  order_id: string;
  order_name: string;
  amount: number;
}

/** `pay(order, back)` opens the payment window; `error` is the last failure. */
export function usePayOrder() {
  const { user } = useAuth();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const pay = async (order: Order | Promise<Order>, back: string) => {
    if (!user) return;
    setBusy(true);
    setError(null);
    try {
      // The order first: a refusal (held by someone else, already a member) is what
      // the fan needs to hear.
      const o = await order;
      const config = await unwrap(api.GET("/api/v1/payments/config"));
      await openPayment(config, {
        orderId: o.order_id,
        orderName: o.order_name,
        amount: o.amount,
        back,
        customerKey: user.id,
      });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { pay, error, busy };
}
