-- Warn: the project's health_status and the runbook alert on the runbook's own figure
-- (runbook_alert_status: the original daily script's count, same thresholds) disagree. The two
-- figures differ by design (see delivery_integrity's description): deliveries of removed guests
-- count in the runbook's, deliveries without a guest in the project's total. When the difference
-- changes the alert level, a team moving its alerting from the original script must know.

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
)

select * from integrity
where health_status <> runbook_alert_status
