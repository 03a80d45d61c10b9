{#
    trigger_commit_checks_at_commit: a deferred constraint trigger on the linkage's own commit_checks
    table, so the work a transaction queued there runs at its commit (run_commit_checks). On the
    linkage's table, not the app's: creating it locks nothing the app uses.
#}
{% macro trigger_commit_checks_at_commit(ctx) %}
    drop trigger if exists trigger_commit_checks_at_commit on {{ ctx.p }}.commit_checks;
    create constraint trigger trigger_commit_checks_at_commit
        after insert on {{ ctx.p }}.commit_checks
        deferrable initially deferred
        for each row execute function {{ ctx.p }}.run_commit_checks();
{% endmacro %}
