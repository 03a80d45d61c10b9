{#
    linkage_send_clocks: two sequences per lock partition, used as registers outside MVCC (setval is not
    transactional and never waits on another transaction), written at commit by run_commit_checks while
    it holds the partition's lock:
    - send_clock_NN: the id of the last transaction that left a delivery waiting for a guest of the
      partition's events, so a guest link can tell, at its own commit, whether such a send committed
      since it looked — even one its snapshot cannot see;
    - link_clock_NN: the id of the last transaction that made a guest of the partition linkable, so a
      send under REPEATABLE READ or SERIALIZABLE can tell whether a change to its guest after its
      snapshot may have been a link (link clocks are written under the partition's exclusive lock, so
      the last one written is also the last to have committed).
#}
{% macro linkage_send_clocks(ctx) %}
    {%- for partition in range(linkage_partition_count() | int) %}
    create sequence if not exists {{ ctx.p }}.send_clock_{{ '%02d' % partition }} as bigint minvalue 0 start 0;
    create sequence if not exists {{ ctx.p }}.link_clock_{{ '%02d' % partition }} as bigint minvalue 0 start 0;
    {%- endfor %}
{% endmacro %}
