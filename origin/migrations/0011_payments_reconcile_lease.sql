-- The reconciler's lease, apart from the order's schedule.
--
-- `reconcile_after` says when an order is due; a reconciler run that takes an order
-- also sets `leased_until`, and only clears it when it is done with the order. A
-- webhook may make an order due sooner, but never while it is leased (it would hand
-- the order to a second replica mid-way), and never when it is already due.
ALTER TABLE payments ADD COLUMN leased_until timestamptz;
