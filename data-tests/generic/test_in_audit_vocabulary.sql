{#
    Generic test in_audit_vocabulary: fails on every row whose column holds a value the audit's
    vocabulary (linkage_audit_vocabulary, the one list) does not have. kind: table_names, outcomes or
    reasons; a NULL passes (not_null says otherwise where it must).
#}
{% test in_audit_vocabulary(model, column_name, kind) %}

with

audit as (
    select * from {{ model }}
)

select *
from audit
where {{ column_name }} is not null
    and {{ column_name }} not in ({{ linkage_audit_values(kind) }})

{% endtest %}
