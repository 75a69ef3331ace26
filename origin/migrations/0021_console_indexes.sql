-- The operator's reservation list pages newest first over all reservations, and the
-- dashboard sums today's confirmations.
CREATE INDEX reservations_created ON reservations (created_at DESC, id DESC);
CREATE INDEX reservations_confirmed_at ON reservations (confirmed_at) WHERE status = 'confirmed';
