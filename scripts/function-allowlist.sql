-- Regenerates the body of sidecar/src/rewrite/functions.ts (one name per line):
--   psql -Atf scripts/function-allowlist.sql > names.txt
-- Run it against a fresh PostgreSQL of the oldest supported major (15) and review the diff.
SELECT DISTINCT proname FROM pg_proc
WHERE pronamespace = 'pg_catalog'::regnamespace
  AND (provolatile IN ('i', 's') OR proname IN (
    'clock_timestamp', 'currval', 'lastval', 'nextval', 'setval', 'gen_random_uuid', 'random', 'setseed',
    'timeofday', 'pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'pg_advisory_lock', 'pg_advisory_lock_shared',
    'pg_advisory_unlock', 'pg_advisory_unlock_all', 'pg_advisory_unlock_shared', 'pg_advisory_xact_lock',
    'pg_advisory_xact_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared',
    'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared', 'pg_notify', 'txid_status',
    'pg_xact_status', 'pg_database_size', 'pg_relation_size', 'pg_table_size', 'pg_total_relation_size',
    'pg_indexes_size', 'pg_tablespace_size', 'pg_is_in_recovery', 'pg_current_wal_lsn', 'pg_lock_status',
    'pg_blocking_pids', 'pg_partition_tree', 'pg_partition_ancestors', 'pg_sequence_last_value',
    'current_query', 'pg_notification_queue_usage', 'pg_jit_available', 'pg_xact_commit_timestamp'))
  AND proname !~ '_to_xml'
  AND proname !~ '^(binary_upgrade|pg_stat_reset|pg_replication_origin|pg_create|pg_drop|pg_copy|pg_logical|pg_backup|pg_promote|pg_switch|pg_reload|pg_rotate|pg_read|pg_ls_|pg_file|lo_|pg_import|pg_extension_config)'
  AND proname NOT IN ('set_config', 'ts_stat', 'ts_rewrite', 'query_to_xmlschema', 'cursor_to_xmlschema',
    'table_to_xmlschema', 'schema_to_xmlschema', 'database_to_xmlschema', 'pg_event_trigger_ddl_commands',
    'pg_event_trigger_dropped_objects', 'pg_event_trigger_table_rewrite_oid', 'pg_event_trigger_table_rewrite_reason')
ORDER BY 1;
