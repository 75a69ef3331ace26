-- Event cancellation refunds every paid order in full (initiated_by 'event_cancelled').
ALTER TABLE refunds DROP CONSTRAINT refunds_initiated_by_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_initiated_by_check
    CHECK (initiated_by IN ('user', 'admin', 'reconciler', 'external', 'event_cancelled'));
