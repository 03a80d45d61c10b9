{#
    linkage_feature_flags(): the feature flags the linkage reads, with the value the deploy gives a
    missing row (the runbook's "Current Settings"). get_feature_flag() reads a missing flag as false,
    so a deleted LINK_USER_BY_PHONE row turns the linking off silently: the models and a test report it.
#}
{% macro linkage_feature_flags() %}
    {{ return([
        {'flag_name': 'LINK_USER_BY_PHONE', 'default_enabled': true},
        {'flag_name': 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS', 'default_enabled': false},
    ]) }}
{% endmacro %}
