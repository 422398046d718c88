-- +goose Up
-- What a closed request counts for in SLA attainment (store.SLAOutcome): met, missed or
-- excluded; NULL while it is open or when it had no clocks. Closed rows are derived from their
-- stored state here, by the rule SLAOutcome writes down.
ALTER TABLE requests ADD COLUMN sla_outcome TEXT;
UPDATE requests SET sla_outcome = (
    SELECT CASE
        WHEN (c.value->>'breached')::boolean OR (c.value->>'met')::boolean = false THEN 'missed'
        WHEN requests.status = 'resolved' THEN 'met'
        WHEN requests.status = 'failed' THEN 'missed'
        ELSE 'excluded' END
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(requests.state::jsonb->'sla') = 'array'
        THEN requests.state::jsonb->'sla' ELSE '[]'::jsonb END) AS c(value)
    WHERE c.value->>'name' = 'resolution')
WHERE closed_at IS NOT NULL;

-- +goose Down
ALTER TABLE requests DROP COLUMN sla_outcome;
