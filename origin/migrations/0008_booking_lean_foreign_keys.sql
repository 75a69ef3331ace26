-- Booking's hot statement (one CTE per reservation) checked the event row's existence
-- three times: reservations.event_id, reservation_items.event_id and
-- user_event_tickets.event_id, each check taking a KEY SHARE lock on the same `events`
-- row that every concurrent booking of the on-sale event also locks. These rows are
-- written only by that statement, from the reservation it inserts in the same
-- statement, whose own foreign keys (event and user) already prove both exist. The
-- redundant checks cost a trigger query and a multixact lookup each, per booking.
ALTER TABLE reservation_items DROP CONSTRAINT reservation_items_event_id_fkey;
ALTER TABLE user_event_tickets DROP CONSTRAINT user_event_tickets_event_id_fkey;
ALTER TABLE user_event_tickets DROP CONSTRAINT user_event_tickets_user_id_fkey;
