{#
    linkage_send_clocks: one sequence per lock partition (send_clock_00 … send_clock_15), used as
    registers outside MVCC. A transaction that leaves a delivery unlinked for an existing guest of a
    partition's events writes its transaction id there at commit (run_commit_checks), so a guest link
    can tell, at its own commit, whether such a send committed since it looked — even one its snapshot
    cannot see. setval is not transactional and never waits on another transaction.
#}
{% macro linkage_send_clocks(ctx) %}
    {%- for partition in range(linkage_partition_count() | int) %}
    create sequence if not exists {{ ctx.p }}.send_clock_{{ '%02d' % partition }} as bigint minvalue 0 start 0;
    {%- endfor %}
{% endmacro %}
